"""STM-ResNet and its TSN baseline: a 2-D ResNet on frame-batched clips with TSN consensus."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from stm_keras.layers import FoldFrames, TemporalConsensus
from stm_keras.layers.conv_bn import batch_norm, conv2d
from stm_keras.layers.stm_block import apply_stm_block

# depth -> (bottleneck?, blocks in conv2_x..conv5_x)
RESNET_LAYOUTS: dict[int, tuple[bool, tuple[int, int, int, int]]] = {
    18: (False, (2, 2, 2, 2)),
    34: (False, (3, 4, 6, 3)),
    50: (True, (3, 4, 6, 3)),
    101: (True, (3, 4, 23, 3)),
    152: (True, (3, 8, 36, 3)),
}
STAGE_WIDTHS = (64, 128, 256, 512)
STAGES = (2, 3, 4, 5)
STEM_WIDTH = 64
POOLED_FEATURES_LAYER = "avg_pool"
LOGITS_LAYER = "classifier"


def _scaled(width: int, width_multiplier: float) -> int:
    return max(1, int(round(width * width_multiplier)))


def spatial_shape(image_size: int | Sequence[int] | None) -> tuple[int | None, int | None]:
    """``(height, width)`` of an ``image_size`` given as one side, a pair or None."""
    if image_size is None:
        return (None, None)
    if isinstance(image_size, int):
        return (image_size, image_size)
    height, width = image_size
    return (height, width)


def build_stm_resnet(
    depth: int = 50,
    num_classes: int = 174,
    num_segments: int = 8,
    width_multiplier: float = 1.0,
    stm_stages: Sequence[int] = (2, 3, 4, 5),
    blocks_per_stage: int | None = None,
    fusion: str = "sum",
    temporal_conv: str = "channelwise",
    temporal_init: str = "shift",
    use_cstm: bool = True,
    use_cmm: bool = True,
    dropout: float = 0.5,
    cmm_reduction: int = 16,
    style: str = "pytorch",
    image_size: int | Sequence[int] | None = None,
    name: str | None = None,
) -> keras.Model:
    """Builds STM-ResNet: ResNet-``depth`` with STM blocks, on clips ``[N, T, H, W, 3]``.

    Frames are folded into the batch (``[N*T, H, W, 3]``), run through the 2-D ResNet whose
    blocks in ``stm_stages`` carry CSTM and CMM, classified per frame, and the per-frame logits
    are averaged over the clip (TSN consensus). Layer names are keras.applications' ResNet
    names (``conv1_conv``, ``conv4_block3_2_bn``, ``avg_pool``), shared with
    ``build_tsn_resnet``; the classifier is ``"classifier"``. The logits are float32 under any
    dtype policy.

    Args:
        depth: int. 18, 34 (basic blocks), 50, 101 or 152 (bottlenecks). Defaults to 50.
        num_classes: int. Output classes. Defaults to 174.
        num_segments: int. Frames per clip ``T`` (fixed in the input shape). Defaults to 8.
        width_multiplier: float. Scales every channel count (tiny test models). Defaults to 1.
        stm_stages: sequence of int. Stages (2..5 = conv2_x..conv5_x) with STM blocks.
            Defaults to all four.
        blocks_per_stage: int or None. None replaces every block of the listed stages (paper);
            an int replaces that many leading blocks per listed stage (ablation).
            Defaults to None.
        fusion: str. ``"sum"`` or ``"concat"``. Defaults to ``"sum"``.
        temporal_conv: str. ``"channelwise"`` or ``"full"``. Defaults to ``"channelwise"``.
        temporal_init: str. ``"shift"`` or ``"identity"``. Defaults to ``"shift"``.
        use_cstm: bool. CSTM's temporal conv in STM blocks. Defaults to True.
        use_cmm: bool. CMM in STM blocks. Defaults to True.
        dropout: float. Dropout rate before the classifier. Defaults to 0.5.
        cmm_reduction: int. CMM channel reduction. Defaults to 16.
        style: str. ``"pytorch"`` (stride on the bottleneck's 3x3 conv, the authors' layout
            and the paper's FLOPs) or ``"caffe"`` (stride on its first 1x1 conv, exactly
            keras.applications' ResNet50/101). Defaults to ``"pytorch"``.
        image_size: int, (height, width) or None. Static spatial input size; None leaves it
            dynamic. Defaults to None.
        name: str or None. Model name. Defaults to ``f"stm_resnet{depth}"``.

    Returns:
        A Functional ``keras.Model`` mapping ``[N, T, H, W, 3]`` floats to ``[N, num_classes]``
        float32 logits.
    """
    if depth not in RESNET_LAYOUTS:
        raise ValueError(f"depth must be one of {sorted(RESNET_LAYOUTS)}, got {depth}")
    unknown_stages = sorted(set(stm_stages) - set(STAGES))
    if unknown_stages:
        raise ValueError(f"stm_stages must be among {STAGES}, got {tuple(stm_stages)}")
    if blocks_per_stage is not None and blocks_per_stage < 0:
        raise ValueError(f"blocks_per_stage must be >= 0 or None, got {blocks_per_stage}")
    if num_segments < 1 or num_classes < 1:
        raise ValueError(
            f"num_segments and num_classes must be >= 1: {num_segments}, {num_classes}"
        )
    bottleneck, blocks = RESNET_LAYOUTS[depth]
    height, width = spatial_shape(image_size)

    clips = keras.Input(shape=(num_segments, height, width, 3), name="clips")
    x = FoldFrames(name="fold_frames")(clips)
    x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(x)
    stem_width = _scaled(STEM_WIDTH, width_multiplier)
    x = conv2d(stem_width, 7, "conv1_conv", strides=2, padding="valid")(x)
    x = batch_norm("conv1_bn")(x)
    x = keras.layers.ReLU(name="conv1_relu")(x)
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)

    for stage, stage_blocks, stage_width in zip(STAGES, blocks, STAGE_WIDTHS, strict=True):
        stm_blocks = 0
        if stage in stm_stages:
            stm_blocks = stage_blocks if blocks_per_stage is None else blocks_per_stage
        for index in range(stage_blocks):
            is_stm = index < stm_blocks
            x = apply_stm_block(
                x,
                _scaled(stage_width, width_multiplier),
                name=f"conv{stage}_block{index + 1}",
                num_segments=num_segments,
                strides=2 if index == 0 and stage > 2 else 1,
                bottleneck=bottleneck,
                use_cstm=use_cstm and is_stm,
                use_cmm=use_cmm and is_stm,
                fusion=fusion,
                temporal_conv=temporal_conv,
                temporal_init=temporal_init,
                cmm_reduction=cmm_reduction,
                style=style,
            )

    x = keras.layers.GlobalAveragePooling2D(name=POOLED_FEATURES_LAYER)(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = keras.layers.Dense(
        num_classes,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
        name=LOGITS_LAYER,
        dtype="float32",
    )(x)
    logits = TemporalConsensus(num_segments, name="consensus", dtype="float32")(x)
    return keras.Model(clips, logits, name=name or f"stm_resnet{depth}")


def build_tsn_resnet(
    depth: int = 50,
    num_classes: int = 174,
    num_segments: int = 8,
    width_multiplier: float = 1.0,
    dropout: float = 0.5,
    style: str = "pytorch",
    image_size: int | Sequence[int] | None = None,
    name: str | None = None,
) -> keras.Model:
    """Builds the TSN baseline: ``build_stm_resnet`` with no temporal modules.

    Every layer it has carries the same name as in STM-ResNet, so weights transfer by name
    either way. Arguments are those of ``build_stm_resnet``.
    """
    return build_stm_resnet(
        depth=depth,
        num_classes=num_classes,
        num_segments=num_segments,
        width_multiplier=width_multiplier,
        stm_stages=(),
        dropout=dropout,
        style=style,
        image_size=image_size,
        name=name or f"tsn_resnet{depth}",
    )


ARCHITECTURES = {"stm": build_stm_resnet, "tsn": build_tsn_resnet}


def build_model(arch: str, **kwargs: Any) -> keras.Model:
    """Builds ``"stm"`` (``build_stm_resnet``) or ``"tsn"`` (``build_tsn_resnet``) from kwargs."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {sorted(ARCHITECTURES)}, got {arch!r}")
    return ARCHITECTURES[arch](**kwargs)


def pooled_features_model(model: keras.Model) -> keras.Model:
    """Returns a model mapping the clips to per-frame pooled backbone features ``[N*T, C]``."""
    return keras.Model(model.input, model.get_layer(POOLED_FEATURES_LAYER).output)


def transfer_weights(source: keras.Model, target: keras.Model) -> list[str]:
    """Copies the weights of every layer of ``source`` into ``target``'s layer of the same name.

    STM- and TSN-ResNets of one depth and width share the names of all their common layers, so
    this initialises either from the other; layers only one model has are left untouched.

    Returns:
        The names of the layers copied.

    Raises:
        ValueError: when a layer of the same name holds weights of other shapes.
    """
    target_layers = {layer.name: layer for layer in target.layers}
    copied = []
    for layer in source.layers:
        other = target_layers.get(layer.name)
        if other is None or not layer.weights:
            continue
        shapes = [tuple(w.shape) for w in layer.weights]
        if shapes != [tuple(w.shape) for w in other.weights]:
            raise ValueError(f"layer {layer.name}: weight shapes differ between the models")
        other.set_weights(layer.get_weights())
        copied.append(layer.name)
    return copied
