"""Does the input pipeline keep training fed? Clips/s delivered vs clips/s a train step consumes.

Both figures come from one process on one machine: the tf.data pipeline of ``fit`` (training
mode: ``VideoClassifierPreprocessor.train_clip``'s sampling, JPEG decode into the crop window,
resize, normalize; then batching) iterated alone, and ``fit``'s compiled train step of an
``STMVideoClassifier`` on an in-memory batch, for the same clip shape and batch size. A ratio
above 1 means the pipeline outruns the model. The two share the CPU during real training, so on
a CPU-only machine the ratio is an upper bound.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import Any

import keras
import tensorflow as tf

from stm_keras.data import input_pipeline
from stm_keras.models import STMBackbone, STMVideoClassifier, VideoClassifierPreprocessor
from stm_keras.pipelines.synth import records
from stm_keras.training import recipe

CONFIGS = {
    # name: (depth, width multiplier, frames, image size, stored frame height, width)
    "demo": (18, 0.25, 8, 64, 72, 96),
    "paper": (50, 1.0, 8, 224, 256, 340),
}
NUM_CLASSES = 27  # every class of the synthetic Jester layout
VIDEO_FRAMES = 32
VIDEOS = 48
NUM_SHARDS = 4


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

    def to_json(self) -> dict[str, float]:
        """This configuration's figures, keys prefixed with its name (``demo_...``)."""
        return {
            f"{self.config}_pipeline_clips_per_s": self.pipeline_clips_per_s,
            f"{self.config}_step_clips_per_s": self.step_clips_per_s,
            f"{self.config}_pipeline_over_step": self.ratio,
        }

    def format(self) -> str:
        """One report line."""
        depth, width, frames, size, _, _ = CONFIGS[self.config]
        return (
            f"{self.config:5s} (ResNet{depth} x{width:g}, T={frames}, {size}px, batch "
            f"{self.batch_size}): pipeline {self.pipeline_clips_per_s:8.1f} clips/s, train step "
            f"{self.step_clips_per_s:8.1f} clips/s, pipeline/step = {self.ratio:.2f}"
        )


def _timed_batches(iterator: Iterator, warmup: int, steps: int) -> float:
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(steps):
        next(iterator)
    return time.perf_counter() - start


def pipeline_throughput(
    files: Sequence[str], frames: int, image_size: int, batch_size: int, steps: int, warmup: int
) -> float:
    """Clips/s that ``fit``'s training input pipeline delivers from ``files``.

    Args:
        files: sequence of str. TFRecord shards of one split.
        frames: int. Frames per clip.
        image_size: int. Crop side.
        batch_size: int. Clips per batch.
        steps: int. Timed batches.
        warmup: int. Untimed batches first (tracing, autotuning).

    Returns:
        Clips per second.
    """
    preprocessor = VideoClassifierPreprocessor(num_segments=frames, image_size=image_size)
    dataset = input_pipeline.make_dataset(files, preprocessor, batch_size, training=True)
    seconds = _timed_batches(iter(dataset), warmup, steps)
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
    """Clips/s that ``fit``'s compiled STM train step consumes, data already in memory.

    The classifier is compiled as ``fit`` compiles it (SGD with momentum and clipping, coupled
    L2 weight decay, top-1/top-5 metrics) but has no preprocessor: the batch is already clips.

    Args:
        depth: int. ResNet depth.
        width_multiplier: float. Channel width factor.
        frames: int. Frames per clip.
        image_size: int. Frame side.
        batch_size: int. Clips per step.
        steps: int. Timed steps.
        warmup: int. Untimed steps first (tracing, compilation).
        mixed_precision: bool. Build as ``fit --mixed-precision`` does (float16 on a GPU,
            bfloat16 otherwise). Defaults to False.
        jit_compile: bool. XLA-compile the train step. Defaults to False.

    Returns:
        Clips per second.
    """
    previous = keras.config.dtype_policy()
    if mixed_precision:
        policy = "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"
        keras.config.set_dtype_policy(policy)
    try:
        backbone = STMBackbone(
            depth,
            num_segments=frames,
            width_multiplier=width_multiplier,
            image_size=image_size,
        )
        model = STMVideoClassifier(backbone, NUM_CLASSES)
    finally:
        keras.config.set_dtype_policy(previous)
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
    return steps * batch_size / seconds


def write_synthetic_shards(
    output_dir: str, height: int, width: int, num_videos: int = VIDEOS
) -> list[str]:
    """Writes a synthetic training split as ``stm-keras preprocess`` would; returns its shards.

    The clips are ``stm_keras.pipelines.synth``'s Jester-layout videos, whose noisy
    backgrounds make JPEGs about as large, and as slow to decode, as natural video frames.

    Args:
        output_dir: str. Created if missing.
        height: int. Stored frame height.
        width: int. Stored frame width.
        num_videos: int. Videos in the split. Defaults to ``VIDEOS``.

    Returns:
        The shard paths.
    """
    info = records.write_records(
        output_dir,
        num_classes=NUM_CLASSES,
        videos_per_split={"train": num_videos},
        num_frames=VIDEO_FRAMES,
        height=height,
        width=width,
        num_shards=NUM_SHARDS,
    )
    return [os.path.join(output_dir, name) for name in info["splits"]["train"]["shards"]]


def measure_input_pipeline(
    configs: Sequence[str] = ("demo", "paper"),
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
        data_dir: a ``stm-keras preprocess`` output whose train split is read; by default
            synthetic shards at each configuration's stored frame size are written to a
            temporary directory (``write_synthetic_shards``). Defaults to None.
        batch_size: int. Clips per batch (one replica). Defaults to 8.
        steps: int. Timed batches/steps. Defaults to 10.
        warmup: int. Untimed batches/steps first (tracing, autotuning). Defaults to 2.
        mixed_precision: bool. Train step in mixed precision. Defaults to False.
        jit_compile: bool. XLA-compile the train step. Defaults to False.

    Returns:
        One ``InputBenchmark`` per configuration, in order.

    Raises:
        ValueError: for a configuration name not in ``CONFIGS``.
    """
    unknown = [name for name in configs if name not in CONFIGS]
    if unknown:
        raise ValueError(f"unknown configuration '{unknown[0]}', expected one of {list(CONFIGS)}")
    results = []
    for name in configs:
        depth, width, frames, size, height, frame_width = CONFIGS[name]
        with tempfile.TemporaryDirectory() as scratch:
            if data_dir is None:
                files = write_synthetic_shards(os.path.join(scratch, name), height, frame_width)
            else:
                files = input_pipeline.load_split(data_dir, "train").files
            pipeline = pipeline_throughput(files, frames, size, batch_size, steps, warmup)
        step = train_step_throughput(
            depth, width, frames, size, batch_size, steps, warmup, mixed_precision, jit_compile
        )
        results.append(InputBenchmark(name, batch_size, pipeline, step))
    return results


def figures(results: Sequence[InputBenchmark], **settings: Any) -> dict[str, Any]:
    """The JSON of ``stm-keras bench input --output``: every configuration's figures (flat),
    then ``settings``: the options given plus each configuration's model and clip shape.

    Args:
        results: what ``measure_input_pipeline`` returned.
        **settings: the options it ran with (batch size, steps, ...).
    """
    out: dict[str, Any] = {}
    for result in results:
        out.update(result.to_json())
    configs = {}
    for result in results:
        depth, width, frames, size, height, frame_width = CONFIGS[result.config]
        configs[result.config] = {
            "depth": depth,
            "width_multiplier": width,
            "frames": frames,
            "image_size": size,
            "stored_frame_size": [height, frame_width],
        }
    out["settings"] = {**settings, "configs": configs, "num_classes": NUM_CLASSES}
    return out
