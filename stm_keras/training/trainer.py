"""``stm-keras fit``: trains an STM/TSN model on preprocessed shards into a model directory.

The model directory (see ``stm_keras.model_dir``) ends up holding ``config.json`` (every option,
the recipe and the overrides, and the ``parent`` that ``--init-from`` started from), ``final/``
and ``best/`` (keras-hub presets of the final model and of the best epoch), ``history.csv`` (one
row per epoch), ``logs/`` (TensorBoard) and, while training, ``backup/`` from which an
interrupted run resumes when started again with the same command.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from typing import Any

from stm_keras import model_dir as model_dir_lib
from stm_keras.training import recipe
from stm_keras.training.strategy import (
    configure_cpu_replicas,
    is_chief,
    make_strategy,
    worker_task,
)

BACKUP_DIR = "backup"
LOG_DIR = "logs"
HISTORY_FILE = "history.csv"
WORKERS_DIR = "workers"


class FitError(RuntimeError):
    """A training run cannot start or finish (the message says why)."""


class OptionError(ValueError):
    """An option value, or a combination of options, is invalid (the message names it)."""


@dataclasses.dataclass
class FitOptions:
    """Every option of ``stm-keras fit``; all are recorded in ``config.json``.

    Defaults are the paper's recipe (see ``stm_keras.training.recipe``). ``lr`` is the learning
    rate at the paper's global batch and is scaled linearly to the actual one unless
    ``lr_scaling`` is False. ``partial_bn`` and ``flip`` default to None: partial BN when
    starting from pretrained weights, flip unless ``dataset_info.json`` marks the dataset
    direction-sensitive (``augment.direction_sensitive``). ``freeze_stages`` keeps the first
    ResNet stages (1: the stem, 2..5: conv2_x..conv5_x) fixed (``recipe.freeze_stages``).
    ``backbone`` holds ``STMBackbone`` arguments (the model's option set, declared there) other
    than ``num_segments`` and ``image_size``, which come from ``frames`` and ``image_size``;
    ``arch="tsn"`` turns both temporal modules off. ``recipe`` and ``overrides`` record where
    the values came from (``stm_keras.recipes``).
    """

    data_dir: str
    model_dir: str
    arch: str = "stm"
    backbone: dict[str, Any] = dataclasses.field(default_factory=dict)
    frames: int = 8
    image_size: int = 224
    batch_size: int = 8
    epochs: int = recipe.PAPER_EPOCHS
    lr: float = recipe.PAPER_LR
    lr_steps: tuple[int, ...] = recipe.PAPER_LR_STEPS
    lr_scaling: bool = True
    momentum: float = recipe.MOMENTUM
    weight_decay: float = recipe.WEIGHT_DECAY
    clip_norm: float = recipe.CLIP_NORM
    dropout: float = 0.5
    init: str = "imagenet"
    init_from: str | None = None
    partial_bn: bool | None = None
    freeze_stages: int = 0
    flip: bool | None = None
    mixed_precision: bool = False
    jit_compile: bool = False
    strategy: str = "auto"
    cpu_replicas: int = 0
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    shuffle_buffer: int = 512
    seed: int | None = None
    verbose: int = 1
    recipe: str | None = None
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)


def backbone_kwargs(options: FitOptions) -> dict[str, Any]:
    """Keyword arguments of ``STMBackbone`` for ``options``."""
    kwargs = {**options.backbone, "num_segments": options.frames, "image_size": options.image_size}
    if options.arch == "tsn":
        kwargs.update(use_cstm=False, use_cmm=False)
    return kwargs


def build_classifier(options: FitOptions, classes: list[str], flip: bool) -> Any:
    """The untrained ``STMVideoClassifier`` (with its preprocessor) that ``options`` describe.

    Raises:
        OptionError: naming the invalid backbone option.
    """
    from stm_keras.models import STMBackbone, STMVideoClassifier, VideoClassifierPreprocessor

    try:
        backbone = STMBackbone(**backbone_kwargs(options))
    except (TypeError, ValueError) as error:
        raise OptionError(f"model options: {error}") from error
    preprocessor = VideoClassifierPreprocessor(
        num_segments=options.frames,
        image_size=options.image_size,
        flip=flip,
        class_names=classes,
    )
    return STMVideoClassifier(backbone, len(classes), preprocessor, dropout=options.dropout)


@dataclasses.dataclass
class RunSetup:
    """What a run resolved from its options: sizes, batches, learning rate, steps."""

    strategy: str
    replicas: int
    per_replica_batch: int
    global_batch: int
    learning_rate: float
    steps_per_epoch: int
    validation_steps: int | None
    train_videos: int
    validation_videos: int
    num_classes: int
    flip: bool
    partial_bn: bool
    resume_epoch: int

    def summary(self, options: FitOptions) -> str:
        """The one-line run summary printed before training."""
        validation = (
            f"{self.validation_videos} validation videos" if self.validation_videos else "none"
        )
        return (
            f"fit {options.arch.upper()}-ResNet{options.backbone.get('depth', 50)} "
            f"x{options.backbone.get('width_multiplier', 1.0):g} "
            f"T={options.frames} {options.image_size}px | strategy {self.strategy}, "
            f"{self.replicas} replica(s), batch {self.per_replica_batch}/replica = "
            f"{self.global_batch} global, lr {self.learning_rate:.4g} | "
            f"{self.steps_per_epoch} steps/epoch x {options.epochs} epochs | "
            f"{self.train_videos} train videos, {self.num_classes} classes, validation: "
            f"{validation} | flip {'on' if self.flip else 'off'}, "
            f"partial BN {'on' if self.partial_bn else 'off'}"
            + _frozen_stages_text(options.freeze_stages)
            + (f" | resuming at epoch {self.resume_epoch + 1}" if self.resume_epoch else "")
        )


def _frozen_stages_text(num_stages: int) -> str:
    if not num_stages:
        return ""
    return ", stage 1 frozen" if num_stages == 1 else f", stages 1-{num_stages} frozen"


def _check_options(options: FitOptions) -> None:
    if options.arch not in ("stm", "tsn"):
        raise OptionError(f"--arch must be stm or tsn, got '{options.arch}'")
    for name in ("frames", "image_size", "batch_size", "epochs"):
        if getattr(options, name) < 1:
            raise OptionError(f"--{name.replace('_', '-')} must be positive")
    if not 0 <= options.freeze_stages <= recipe.NUM_STAGES:
        raise OptionError(
            f"--freeze-stages must be 0..{recipe.NUM_STAGES}, got {options.freeze_stages}"
        )
    if options.freeze_stages and options.init == "none" and not options.init_from:
        raise OptionError(
            "--freeze-stages keeps pretrained stages fixed: give --init-from or --init, "
            "not --init none"
        )
    if options.init_from and options.init not in ("none", "imagenet"):
        raise OptionError("--init PATH and --init-from cannot be combined")
    if options.init_from and not model_dir_lib.is_legacy_model_dir(options.init_from):
        try:
            model_dir_lib.resolve_preset(options.init_from)
        except FileNotFoundError as error:
            raise OptionError(f"--init-from: {error}") from error


def parent_record(init_from: str) -> dict[str, Any]:
    """What ``config.json`` records under ``parent`` about the model a run starts from.

    Returns:
        ``{"path": init_from (absolute when local), "preset": the preset it resolves to (None
        for a stm-keras 0.1 directory), "weights_sha256": model_dir.weights_digest(...)}``.

    Raises:
        FitError: when the parent's weight files cannot be read.
    """
    remote = init_from.startswith(model_dir_lib.REMOTE_PREFIXES)
    path = init_from if remote else os.path.abspath(init_from)
    try:
        legacy = not remote and model_dir_lib.is_legacy_model_dir(path)
        preset = None if legacy else model_dir_lib.resolve_preset(path)
        digest = model_dir_lib.weights_digest(path)
    except (OSError, ValueError) as error:
        raise FitError(f"--init-from {init_from}: {error}") from error
    return {"path": path, "preset": preset, "weights_sha256": digest}


def _config(
    options: FitOptions,
    setup: RunSetup,
    classes: list[str],
    dataset: str,
    parent: dict[str, Any] | None,
) -> dict:
    config = dataclasses.asdict(options)
    if parent is not None:
        config["parent"] = parent
    config.update(
        classes=classes,
        dataset=dataset,
        backbone=backbone_kwargs(options),
        presets={"final": model_dir_lib.FINAL_PRESET, "best": model_dir_lib.BEST_PRESET},
        run={
            key: value
            for key, value in dataclasses.asdict(setup).items()
            if key not in ("resume_epoch",)
        },
    )
    config["lr_steps"] = list(options.lr_steps)
    return config


def _check_resumable(model_dir: str, config: dict, resume_epoch: int) -> None:
    if not resume_epoch:
        return
    path = os.path.join(model_dir, model_dir_lib.CONFIG_FILE)
    if not os.path.isfile(path):
        return
    previous = model_dir_lib.load_config(model_dir)
    for key in ("arch", "backbone", "frames", "image_size"):
        # As config.json holds it (tuples become lists), so that equal options compare equal.
        if previous.get(key) != json.loads(json.dumps(config.get(key))):
            raise FitError(
                f"{model_dir} holds an interrupted run with a different '{key}' "
                f"({previous.get(key)!r} there, {config.get(key)!r} now): resume it with the "
                f"same options, or delete {os.path.join(model_dir, BACKUP_DIR)} to start over"
            )


def _initialise(model: Any, options: FitOptions, log: Callable[[str], None]) -> list[str] | None:
    """Loads the initial weights; returns the layers copied from ``--init-from`` (else None)."""
    from stm_keras.models import load_imagenet_weights

    if options.init_from:
        from stm_keras.models import transfer_weights

        source = model_dir_lib.load_classifier(options.init_from)
        report = transfer_weights(source, model, skip_mismatched=True)
        if not report.copied:
            raise FitError(f"--init-from {options.init_from}: no layer matches this model")
        kept = f"; kept fresh (other shapes): {', '.join(report.mismatched)}"
        log(
            f"init: {len(report.copied)} layers copied from {options.init_from}"
            + (kept if report.mismatched else "")
        )
        return report.copied
    if options.init != "none":
        try:
            load_imagenet_weights(model, options.init)
        except Exception as error:  # noqa: BLE001 - any failure means no usable weights
            raise FitError(f"--init {options.init}: {error}") from error
        log(f"init: ImageNet weights from {options.init}")
    return None


def fit(options: FitOptions, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Trains as ``options`` say and writes the model directory.

    Returns:
        The final epoch's logs (loss, top1, top5 and their ``val_`` counterparts).

    Raises:
        OptionError: for an invalid option or combination (the message names it).
        FitError: when the data, the initial weights or a previous run's state are unusable.
    """
    _check_options(options)
    if options.cpu_replicas > 1:
        configure_cpu_replicas(options.cpu_replicas)

    import keras
    import tensorflow as tf

    from stm_keras.data import augment, input_pipeline, schema
    from stm_keras.training import callbacks as callbacks_lib

    try:
        strategy = make_strategy(options.strategy, options.cpu_replicas)
    except ValueError as error:
        raise OptionError(str(error)) from error
    on_cpus = not tf.config.list_logical_devices("GPU")
    if options.jit_compile and strategy.num_replicas_in_sync > 1 and on_cpus:
        # XLA reads variables of logical CPU devices from the wrong device and fails.
        raise OptionError("--jit-compile works on GPUs or one CPU device, not --cpu-replicas")
    if options.seed is not None:
        keras.utils.set_random_seed(options.seed)
    try:
        info = schema.load_dataset_info(options.data_dir)
        train = input_pipeline.load_split(options.data_dir, "train", info)
        try:
            validation = input_pipeline.load_split(options.data_dir, "validation", info)
        except ValueError:
            validation = None
        # dataset_info.json's direction_sensitive entry (the dataset name in older files).
        flip = augment.default_flip(info) if options.flip is None else options.flip
    except (FileNotFoundError, ValueError) as error:
        raise FitError(str(error)) from error
    classes = train.classes or [str(i) for i in range(_num_labels(train.files))]
    try:
        augment.check_flip(info, flip)
    except ValueError as error:
        raise OptionError(f"--flip: {error}") from error
    partial_bn = (
        options.partial_bn
        if options.partial_bn is not None
        else options.init != "none" or bool(options.init_from)
    )

    replicas = strategy.num_replicas_in_sync
    global_batch = options.batch_size * replicas
    steps = options.steps_per_epoch or max(train.num_examples // global_batch, 1)
    learning_rate = (
        recipe.scaled_learning_rate(options.lr, global_batch, options.frames)
        if options.lr_scaling
        else options.lr
    )
    validation_steps = options.validation_steps
    if validation is not None and validation_steps is None:
        validation_steps = -(-validation.num_examples // global_batch)

    chief = is_chief()
    output_dir = options.model_dir
    if options.strategy == "multiworker" and not chief:
        task_type, index = worker_task()
        output_dir = os.path.join(options.model_dir, WORKERS_DIR, f"{task_type}-{index}")
    backup_dir = os.path.join(output_dir, BACKUP_DIR)
    resume_epoch = callbacks_lib.EpochBackup.saved_epoch(backup_dir)

    setup = RunSetup(
        strategy=_strategy_name(strategy),
        replicas=replicas,
        per_replica_batch=options.batch_size,
        global_batch=global_batch,
        learning_rate=learning_rate,
        steps_per_epoch=steps,
        validation_steps=validation_steps,
        train_videos=train.num_examples,
        validation_videos=validation.num_examples if validation else 0,
        num_classes=len(classes),
        flip=flip,
        partial_bn=partial_bn,
        resume_epoch=resume_epoch,
    )
    parent = parent_record(options.init_from) if options.init_from else None
    config = _config(options, setup, classes, train.dataset, parent)
    _check_resumable(options.model_dir, config, resume_epoch)
    if chief:
        model_dir_lib.save_config(options.model_dir, config)
    log(setup.summary(options))

    model = _build_and_compile(options, strategy, setup, classes, log)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        _build_without_cross_worker_reduce(model, strategy, options)

    preprocessor = model.preprocessor
    train_data = input_pipeline.distributed_dataset(
        strategy,
        train.files,
        global_batch,
        preprocessor=preprocessor,
        training=True,
        shuffle_buffer=options.shuffle_buffer,
        seed=options.seed,
    )
    validation_data = None
    if validation is not None and validation_steps:
        validation_data = input_pipeline.distributed_dataset(
            strategy,
            validation.files,
            global_batch,
            preprocessor=preprocessor,
            training=False,
            repeat=True,
            seed=options.seed,
        )

    monitor = "val_top1" if validation_data is not None else "top1"
    callbacks = _make_callbacks(output_dir, monitor, resume_epoch)
    # The input pipeline already ran the preprocessor; keras-hub's Task.fit would map it over
    # the data again (and takes no distributed dataset), so Keras's own fit trains the model.
    history = keras.Model.fit(
        model,
        train_data,
        epochs=options.epochs,
        steps_per_epoch=steps,
        validation_data=validation_data,
        validation_steps=validation_steps if validation_data is not None else None,
        callbacks=callbacks,
        verbose=options.verbose,
        shuffle=False,
    )
    if chief:
        final = os.path.join(options.model_dir, model_dir_lib.FINAL_PRESET)
        model_dir_lib.save_preset(model, final)
        log(f"final model written to {final} (preset; the best epoch's is in ../best)")
    # The backup goes only once the final model is written, so a kill in between still resumes.
    shutil.rmtree(output_dir if not chief else backup_dir, ignore_errors=True)
    if not chief:
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(output_dir))
    return {key: values[-1] for key, values in history.history.items() if values}


def _build_and_compile(
    options: FitOptions,
    strategy: Any,
    setup: RunSetup,
    classes: list[str],
    log: Callable[[str], None],
) -> Any:
    """The model in ``strategy``'s scope: initialised, (partially) frozen, decayed, compiled.

    Layers are frozen before weight decay is attached, so frozen kernels get no L2 term.
    """
    import keras
    import tensorflow as tf

    previous_policy = keras.mixed_precision.dtype_policy()
    if options.mixed_precision:
        policy = "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"
        keras.mixed_precision.set_dtype_policy(policy)
    try:
        with strategy.scope():
            model = build_classifier(options, classes, setup.flip)
            copied = _initialise(model, options, log)
            if setup.partial_bn:
                recipe.freeze_batch_norm_except_first(model)
            if options.freeze_stages:
                _freeze_stages(model, options, copied, log)
            recipe.apply_weight_decay(model, options.weight_decay)
            schedule = recipe.step_schedule(
                setup.learning_rate, options.lr_steps, setup.steps_per_epoch
            )
            model.compile(
                optimizer=recipe.make_optimizer(schedule, options.momentum, options.clip_norm),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=recipe.metrics(setup.num_classes),
                jit_compile=options.jit_compile,
            )
    finally:
        # Layers keep the policy they were built with; later models start from the default.
        keras.mixed_precision.set_dtype_policy(previous_policy)
    return model


def _freeze_stages(
    model: Any, options: FitOptions, copied: list[str] | None, log: Callable[[str], None]
) -> None:
    """Freezes ``--freeze-stages``; refuses to freeze layers the parent did not initialise."""
    frozen = recipe.freeze_stages(model, options.freeze_stages)
    fresh = sorted(set(frozen) - set(copied)) if copied is not None else []
    if fresh:
        raise FitError(
            f"--freeze-stages {options.freeze_stages}: {len(fresh)} layers of those stages have "
            f"no counterpart of the same shape in --init-from {options.init_from} "
            f"({', '.join(fresh[:3])}{', ...' if len(fresh) > 3 else ''}) and would stay "
            "fixed at random values: give the parent's model options (--depth, "
            "--width-multiplier, the STM options) or freeze fewer stages"
        )
    log(
        f"freeze: {len(frozen)} layers of stages 1-{options.freeze_stages} kept fixed "
        f"({frozen[0]} .. {frozen[-1]})"
    )


def _make_callbacks(output_dir: str, monitor: str, resume_epoch: int) -> list[Any]:
    """History, the best-epoch preset, TensorBoard scalars and the epoch backup, in that order."""
    from stm_keras.training import callbacks as callbacks_lib

    os.makedirs(output_dir, exist_ok=True)
    history_path = os.path.join(output_dir, HISTORY_FILE)
    return [
        callbacks_lib.HistoryCSV(history_path, resume_epoch),
        callbacks_lib.BestPreset(
            os.path.join(output_dir, model_dir_lib.BEST_PRESET),
            monitor=monitor,
            # After a resume, beat the best epoch before it, not just the resumed ones.
            best=callbacks_lib.best_so_far(history_path, monitor, resume_epoch),
        ),
        callbacks_lib.TensorBoardScalars(os.path.join(output_dir, LOG_DIR)),
        # Last, so that history and checkpoints of an epoch exist before it is committed.
        callbacks_lib.EpochBackup(os.path.join(output_dir, BACKUP_DIR)),
    ]


def _build_without_cross_worker_reduce(model: Any, strategy: Any, options: FitOptions) -> None:
    """Works around keras-team/keras#20585 under ``MultiWorkerMirroredStrategy``.

    Keras 3.15's ``fit`` fails twice across workers: (1) it builds metrics and optimizer from a
    first batch that it averages with ``strategy.reduce(..., axis=None)`` ("Attempt to convert a
    value (PerReplica...) to a Tensor"); building from a local zero batch of the right shape
    gives the same variables. (2) It reduces each step's scalar logs with
    ``strategy.reduce("MEAN", v, axis=0)`` ("Invalid reduction dimension 0"); returning them as
    ``[1]`` tensors makes that reduction valid. Metric variables are all-reduced on every
    update, so each replica holds the global value and the mean over replicas equals it.
    """
    import tensorflow as tf

    clip = tf.zeros([options.batch_size, options.frames, options.image_size, options.image_size, 3])
    batch = (clip, tf.zeros([options.batch_size], tf.int32))

    def symbolic_build(iterator: Any = None, data_batch: Any = None) -> None:
        with strategy.scope():
            model._symbolic_build(data_batch=batch)

    def with_rank_one_logs(step: Callable[[Any], dict]) -> Callable[[Any], dict]:
        def wrapped(data: Any) -> dict:
            return {key: tf.reshape(value, [1]) for key, value in step(data).items()}

        return wrapped

    model._maybe_symbolic_build = symbolic_build
    model.train_step = with_rank_one_logs(model.train_step)
    model.test_step = with_rank_one_logs(model.test_step)


def _strategy_name(strategy: Any) -> str:
    name = type(strategy).__name__
    return "default (one device)" if name.startswith("_Default") else name


def _num_labels(files: list[str]) -> int:
    import tensorflow as tf

    from stm_keras.data import schema

    labels = tf.data.TFRecordDataset(files).map(lambda s: schema.parse(s)["label"])
    return int(labels.reduce(tf.constant(0, tf.int64), tf.maximum)) + 1
