"""The paper's training recipe as Keras objects: learning rate, SGD, weight decay, partial BN.

STM trains as TSN does: SGD with momentum 0.9 on 8 GPUs × 8 clips (T=8) or × 4 clips (T=16),
lr 0.01 divided by 10 at epochs 30, 40 and 45, 50 epochs, weight decay 5e-4 on conv and dense
kernels, gradients clipped at global norm 20, and every BatchNorm frozen except the first
("partial BN") when starting from ImageNet weights. Fine-tuning on few clips may also keep the
first ResNet stages fixed (``freeze_stages``).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

PAPER_GPUS = 8
PAPER_LR = 0.01
PAPER_LR_STEPS = (30, 40, 45)
PAPER_EPOCHS = 50
FINE_TUNE_LR = 0.001  # UCF-101 / HMDB-51 from a Kinetics model
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
CLIP_NORM = 20.0
LR_DECAY = 0.1
# ResNet stages: 1 is the stem (conv1_conv, conv1_bn), 2..5 the blocks conv2_x..conv5_x.
NUM_STAGES = 5


def paper_batch_size(num_frames: int) -> int:
    """Global batch of the paper: 8 GPUs × 8 clips for T ≤ 8, × 4 clips for longer clips."""
    return PAPER_GPUS * (8 if num_frames <= 8 else 4)


def scaled_learning_rate(base_lr: float, global_batch_size: int, num_frames: int) -> float:
    """Linear scaling rule: ``base_lr`` is for the paper's global batch at ``num_frames``."""
    return base_lr * global_batch_size / paper_batch_size(num_frames)


def step_schedule(
    learning_rate: float, lr_steps: Sequence[int], steps_per_epoch: int
) -> keras.optimizers.schedules.LearningRateSchedule | float:
    """Learning rate divided by 10 at each epoch of ``lr_steps``, counted in optimizer steps.

    Keyed on the optimizer's iteration count, which the backup restores, so a resumed run
    continues on the same schedule.
    """
    if not lr_steps:
        return learning_rate
    # Step k uses lr(k) and PiecewiseConstantDecay keeps the old value up to k == boundary.
    boundaries = [int(epoch) * steps_per_epoch - 1 for epoch in sorted(lr_steps)]
    values = [learning_rate * LR_DECAY**i for i in range(len(boundaries) + 1)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


def make_optimizer(
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule,
    momentum: float = MOMENTUM,
    clip_norm: float | None = CLIP_NORM,
) -> keras.optimizers.Optimizer:
    """SGD with momentum and TSN's global gradient-norm clipping (``clip_norm`` None: off)."""
    return keras.optimizers.SGD(
        learning_rate=learning_rate, momentum=momentum, global_clipnorm=clip_norm or None
    )


def apply_weight_decay(model: keras.Model, weight_decay: float) -> int:
    """Adds L2 weight decay to every conv and dense kernel of ``model``; returns how many.

    The decay is the coupled L2 of PyTorch's SGD (gradient ``+ weight_decay * w``, through
    momentum), as the paper trains — not Keras's decoupled ``weight_decay`` argument, which
    is about ten times weaker at momentum 0.9. BatchNorm parameters and biases get none. The
    regularizer sits on the variables, so it is not saved into presets or backups.
    """
    if weight_decay <= 0:
        return 0
    # L2(l) adds l * sum(w**2), whose gradient is 2 * l * w.
    regularizer = keras.regularizers.L2(weight_decay / 2)
    count = 0
    for variable in model.trainable_variables:
        if variable.path.split("/")[-1] == "kernel":
            variable.regularizer = regularizer
            count += 1
    return count


def freeze_batch_norm_except_first(model: keras.Model) -> int:
    """TSN's partial BN: every BatchNormalization layer but the first frozen; returns how many.

    Frozen layers use their (ImageNet) moving statistics and keep gamma/beta fixed, which suits
    the small per-GPU batches of video training. Call before ``compile``.
    """
    batch_norms = [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    for layer in batch_norms[1:]:
        layer.trainable = False
    return max(len(batch_norms) - 1, 0)


def stage_prefix(stage: int) -> str:
    """The layer-name prefix of ResNet stage ``stage`` (1: ``conv1_``, 2: ``conv2_block``...)."""
    return "conv1_" if stage == 1 else f"conv{stage}_block"


def freeze_stages(model: keras.Model, num_stages: int) -> list[str]:
    """Keeps the first ``num_stages`` ResNet stages of ``model`` fixed; returns their layers.

    Stage 1 is the stem (``conv1_conv``, ``conv1_bn``), stages 2..5 the blocks ``conv2_x`` ..
    ``conv5_x`` with their CSTM and CMM layers. Frozen layers keep their weights, and their
    BatchNorm layers their moving statistics (they run in inference mode). Call before
    ``compile``; it combines with ``freeze_batch_norm_except_first``.

    Args:
        model: keras.Model. A classifier (its backbone's layers are searched) or a backbone.
        num_stages: int. 0 (nothing frozen) to ``NUM_STAGES`` (the whole ResNet).

    Returns:
        The names of the frozen layers that hold weights, in model order.

    Raises:
        ValueError: when ``num_stages`` is outside 0..``NUM_STAGES``.
    """
    if not 0 <= num_stages <= NUM_STAGES:
        raise ValueError(f"the number of frozen stages must be 0..{NUM_STAGES}, got {num_stages}")
    prefixes = tuple(stage_prefix(stage) for stage in range(1, num_stages + 1))
    frozen = []
    # Nested models (a classifier's backbone) are searched by their own layers' names; a
    # layer's sublayers (CMM's "reduce_conv") follow the layer's trainable flag.
    layers = list(model.layers)
    while layers:
        layer = layers.pop(0)
        if isinstance(layer, keras.Model):
            layers[:0] = layer.layers
        elif layer.name.startswith(prefixes):
            layer.trainable = False
            if layer.weights:
                frozen.append(layer.name)
    return frozen


def metrics(num_classes: int) -> list[keras.metrics.Metric]:
    """Top-1 and top-5 accuracy (top-k capped at the number of classes)."""
    return [
        keras.metrics.SparseCategoricalAccuracy(name="top1"),
        keras.metrics.SparseTopKCategoricalAccuracy(k=min(5, num_classes), name="top5"),
    ]
