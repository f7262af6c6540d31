"""Train-step time of STM-ResNet against TSN-ResNet, measured side by side in one process.

Both models are an ``STMVideoClassifier`` on an ``STMBackbone`` built from the same keyword
arguments; the TSN baseline only turns CSTM and CMM off, so the ratio is the cost of the STM
modules alone.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any

import keras
import numpy as np

from stm_keras.models import STMBackbone, STMVideoClassifier

# What turns an STM backbone into its TSN baseline.
TSN_OPTIONS = {"use_cstm": False, "use_cmm": False}


@dataclasses.dataclass(frozen=True)
class StepTimes:
    """Median train-step seconds of both models, their ratio (STM / TSN) and the settings."""

    stm_seconds: float
    tsn_seconds: float
    steps: int
    settings: dict[str, Any]

    @property
    def ratio(self) -> float:
        """STM's step time over TSN's."""
        return self.stm_seconds / self.tsn_seconds

    def format(self) -> str:
        """The report printed by ``stm-keras bench step-time``."""
        s = self.settings
        return (
            f"ResNet-{s['depth']} x{s['width_multiplier']:g}, {s['frames']} frames of "
            f"{s['image_size']}px, batch {s['batch_size']}, mixed precision "
            f"{s['mixed_precision']}, XLA {s['jit_compile']}; median of {self.steps} "
            f"interleaved train steps ({keras.backend.backend()} backend)\n"
            f"STM {self.stm_seconds * 1e3:.1f} ms/step, TSN {self.tsn_seconds * 1e3:.1f} ms/step, "
            f"ratio STM/TSN {self.ratio:.3f}"
        )


def _compiled(model: keras.Model, jit_compile: bool) -> keras.Model:
    # No metrics (the classifier's "auto" adds top-1/top-5): only the step itself is timed.
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=None,
        jit_compile=jit_compile,
    )
    return model


def measure_step_times(
    depth: int = 50,
    frames: int = 8,
    image_size: int = 224,
    batch_size: int = 2,
    steps: int = 10,
    warmup: int = 2,
    num_classes: int = 174,
    width_multiplier: float = 1.0,
    mixed_precision: bool = False,
    jit_compile: bool = False,
) -> StepTimes:
    """Times ``steps`` train steps of STM- and TSN-ResNet on the same batch, interleaved.

    Both classifiers (no preprocessor: the batch is already a normalized clip) are built and
    compiled identically (SGD with momentum, cross-entropy), warmed up ``warmup`` steps each,
    then stepped alternately (the order flips every step so neither benefits from going
    second); the medians are reported.

    Args:
        depth: int. ResNet depth. Defaults to 50.
        frames: int. Frames per clip. Defaults to 8.
        image_size: int. Frame side. Defaults to 224.
        batch_size: int. Clips per step. Defaults to 2.
        steps: int. Timed steps per model. Defaults to 10.
        warmup: int. Untimed steps per model first (tracing, compilation). Defaults to 2.
        num_classes: int. Classifier width. Defaults to 174.
        width_multiplier: float. Channel width factor. Defaults to 1.
        mixed_precision: bool. Build under ``mixed_float16``. Defaults to False.
        jit_compile: bool. XLA-compile the train steps. Defaults to False.

    Returns:
        A ``StepTimes``.
    """
    settings = dict(locals())
    backbone = {
        "depth": depth,
        "num_segments": frames,
        "width_multiplier": width_multiplier,
        "image_size": image_size,
    }
    variants = {"stm": backbone, "tsn": {**backbone, **TSN_OPTIONS}}
    previous = keras.config.dtype_policy()
    if mixed_precision:
        # Global, not per backbone: the classifier then also compiles with loss scaling.
        keras.config.set_dtype_policy("mixed_float16")
    try:
        models = {
            arch: _compiled(STMVideoClassifier(STMBackbone(**kwargs), num_classes), jit_compile)
            for arch, kwargs in variants.items()
        }
    finally:
        keras.config.set_dtype_policy(previous)
    rng = np.random.default_rng(0)
    clips = rng.normal(size=(batch_size, frames, image_size, image_size, 3)).astype("float32")
    labels = rng.integers(0, num_classes, size=(batch_size,))
    for model in models.values():
        for _ in range(warmup):
            model.train_on_batch(clips, labels)
    seconds: dict[str, list[float]] = {"stm": [], "tsn": []}
    for step in range(steps):
        order = ("stm", "tsn") if step % 2 == 0 else ("tsn", "stm")
        for arch in order:
            start = time.perf_counter()
            models[arch].train_on_batch(clips, labels)  # returns the loss: waits for the step
            seconds[arch].append(time.perf_counter() - start)
    return StepTimes(
        stm_seconds=statistics.median(seconds["stm"]),
        tsn_seconds=statistics.median(seconds["tsn"]),
        steps=steps,
        settings=settings,
    )
