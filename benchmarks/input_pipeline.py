"""Does the input pipeline keep training fed? Clips/s delivered vs clips/s a train step consumes.

Both figures come from one process on one machine: the tf.data pipeline of ``fit`` (training
mode: sampling, JPEG decode into the crop window, resize, normalize, batching) iterated alone,
and ``fit``'s compiled train step on an in-memory batch, for the same clip shape and batch size.
A ratio above 1 means the pipeline outruns the model. The two share the CPU during real
training, so on a CPU-only machine the ratio is an upper bound.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time

CONFIGS = {
    # name: (depth, width multiplier, frames, image size, stored frame height, width)
    "demo": (18, 0.25, 8, 64, 72, 96),
    "paper": (50, 1.0, 8, 224, 256, 340),
}
NUM_CLASSES = 27
VIDEO_FRAMES = 32
VIDEOS = 48
NOISE = 24


@dataclasses.dataclass
class InputBenchmark:
    """Clips per second of the pipeline and of the train step for one configuration."""

    config: str
    batch_size: int
    pipeline_clips_per_s: float
    step_clips_per_s: float

    @property
    def ratio(self) -> float:
        """Pipeline throughput over train-step throughput (> 1: the step is the bottleneck)."""
        return self.pipeline_clips_per_s / self.step_clips_per_s

    def format(self) -> str:
        """One report line."""
        depth, width, frames, size, _, _ = CONFIGS[self.config]
        return (
            f"{self.config:5s} (ResNet{depth} x{width:g}, T={frames}, {size}px, batch "
            f"{self.batch_size}): pipeline {self.pipeline_clips_per_s:8.1f} clips/s, train step "
            f"{self.step_clips_per_s:8.1f} clips/s, pipeline/step = {self.ratio:.2f}"
        )


def _timed_batches(iterator, warmup: int, steps: int) -> float:
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(steps):
        next(iterator)
    return time.perf_counter() - start


def pipeline_throughput(
    files: list[str], frames: int, image_size: int, batch_size: int, steps: int, warmup: int
) -> float:
    """Clips/s that ``fit``'s training input pipeline delivers from ``files``."""
    from stm_keras.data import input_pipeline

    dataset = input_pipeline.make_dataset(files, frames, image_size, batch_size, training=True)
    iterator = iter(dataset)
    seconds = _timed_batches(iterator, warmup, steps)
    return steps * batch_size / seconds


def train_step_throughput(
    depth: int,
    width_multiplier: float,
    frames: int,
    image_size: int,
    batch_size: int,
    steps: int,
    warmup: int,
    mixed_precision: bool = False,
    jit_compile: bool = False,
) -> float:
    """Clips/s that ``fit``'s compiled STM train step consumes, data already in memory."""
    import keras
    import tensorflow as tf

    from stm_keras.models import build_model
    from stm_keras.training import recipe

    if mixed_precision:
        policy = "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"
        keras.mixed_precision.set_dtype_policy(policy)
    model = build_model(
        "stm",
        depth=depth,
        num_classes=NUM_CLASSES,
        num_segments=frames,
        width_multiplier=width_multiplier,
        image_size=image_size,
    )
    recipe.apply_weight_decay(model, recipe.WEIGHT_DECAY)
    model.compile(
        optimizer=recipe.make_optimizer(0.001),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=recipe.metrics(NUM_CLASSES),
        jit_compile=jit_compile,
    )
    clips = tf.random.normal([batch_size, frames, image_size, image_size, 3])
    labels = tf.zeros([batch_size], tf.int32)
    dataset = tf.data.Dataset.from_tensors((clips, labels)).repeat()
    model.fit(dataset, steps_per_epoch=max(warmup, 1), epochs=1, verbose=0, shuffle=False)
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    keras.mixed_precision.set_dtype_policy("float32")
    return steps * batch_size / seconds


def measure_input_pipeline(
    configs: tuple[str, ...] = ("demo", "paper"),
    data_dir: str | None = None,
    batch_size: int = 8,
    steps: int = 10,
    warmup: int = 2,
    mixed_precision: bool = False,
    jit_compile: bool = False,
) -> list[InputBenchmark]:
    """Measures pipeline vs train-step clips/s for each named configuration.

    Args:
        configs: names from ``CONFIGS``. Defaults to ("demo", "paper").
        data_dir: a ``stm-keras preprocess`` output to read; by default small synthetic shards
            at each configuration's stored frame size (noisy, so JPEGs decode as slowly as real
            frames) are written to a temporary directory. Defaults to None.
        batch_size: int. Clips per batch (one replica). Defaults to 8.
        steps: int. Timed batches/steps. Defaults to 10.
        warmup: int. Untimed batches/steps first (tracing, autotuning). Defaults to 2.
        mixed_precision: bool. Train step in mixed precision. Defaults to False.
        jit_compile: bool. XLA-compile the train step. Defaults to False.
    """
    from stm_keras.data import input_pipeline, synthetic_records

    results = []
    for name in configs:
        if name not in CONFIGS:
            raise ValueError(f"unknown configuration '{name}', expected one of {list(CONFIGS)}")
        depth, width, frames, size, height, frame_width = CONFIGS[name]
        with tempfile.TemporaryDirectory() as scratch:
            records = data_dir
            if records is None:
                records = os.path.join(scratch, name)
                synthetic_records.write_dataset(
                    records,
                    num_classes=NUM_CLASSES,
                    videos_per_split={"train": VIDEOS},
                    num_frames=VIDEO_FRAMES,
                    height=height,
                    width=frame_width,
                    num_shards=4,
                    noise=NOISE,
                )
            files = input_pipeline.load_split(records, "train").files
            pipeline = pipeline_throughput(files, frames, size, batch_size, steps, warmup)
        step = train_step_throughput(
            depth, width, frames, size, batch_size, steps, warmup, mixed_precision, jit_compile
        )
        results.append(InputBenchmark(name, batch_size, pipeline, step))
    return results
