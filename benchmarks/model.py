"""STM-ResNet against TSN-ResNet, train step and inference, side by side in one process.

``stm-keras bench model`` (alias ``bench step-time``). Both models are an
``STMVideoClassifier`` on an ``STMBackbone`` built from the same keyword arguments; the TSN
baseline only turns CSTM and CMM off, so the ratios are the cost of the STM modules alone.

Timing: after untimed warm-up steps (tracing, compilation), the two models are stepped
alternately (A, B, B, A, ...: the order flips every step so neither benefits from going
second), train steps first, then inference calls; each figure is a median. Between the model
steps, a square matmul in the models' compute dtype is timed the same way: its FLOP/s is this
machine's matmul peak in this run, and each model's achieved FLOP/s (2 x multiply-adds per
clip from ``stm_keras.models.summarize``; a train step counted as 3 forward passes) is
reported as a fraction of it. ``peak_tflops``, when given (the accelerator's dense datasheet
figure), also gives MFU against it.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from stm_keras.models import STMBackbone, STMVideoClassifier, summarize

# What turns an STM backbone into its TSN baseline.
TSN_OPTIONS = {"use_cstm": False, "use_cmm": False}
ARCHS = ("stm", "tsn")
DTYPE_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
# A train step's FLOPs as forward passes: forward, backward to activations, to weights.
TRAIN_FORWARD_PASSES = 3


@dataclasses.dataclass(frozen=True)
class ModelBench:
    """Medians per model (seconds per step/call), the matmul peak and the settings."""

    train_seconds: dict[str, float]
    infer_seconds: dict[str, float]
    flops_per_clip: dict[str, float]
    matmul_peak_flops: float
    steps: int
    device: str
    backend: str
    settings: dict[str, Any]

    @property
    def batch_size(self) -> int:
        """Clips per step."""
        return int(self.settings["batch_size"])

    @property
    def ratio_train(self) -> float:
        """STM's train-step time over TSN's."""
        return self.train_seconds["stm"] / self.train_seconds["tsn"]

    @property
    def ratio_infer(self) -> float:
        """STM's inference time over TSN's."""
        return self.infer_seconds["stm"] / self.infer_seconds["tsn"]

    def achieved_flops(self) -> dict[str, float]:
        """FLOP/s of ``{stm,tsn}_{infer,train}``."""
        achieved = {}
        for arch in ARCHS:
            flops = self.flops_per_clip[arch] * self.batch_size
            achieved[f"{arch}_infer"] = flops / self.infer_seconds[arch]
            achieved[f"{arch}_train"] = TRAIN_FORWARD_PASSES * flops / self.train_seconds[arch]
        return achieved

    def to_json(self) -> dict[str, Any]:
        """What ``--output`` writes."""
        achieved = self.achieved_flops()
        report = {
            "train_clips_per_s": {a: self.batch_size / self.train_seconds[a] for a in ARCHS},
            "infer_clips_per_s": {a: self.batch_size / self.infer_seconds[a] for a in ARCHS},
            "train_ms": {a: 1e3 * self.train_seconds[a] for a in ARCHS},
            "infer_ms": {a: 1e3 * self.infer_seconds[a] for a in ARCHS},
            "ratio_train": self.ratio_train,
            "ratio_infer": self.ratio_infer,
            "gflops_per_clip": {a: self.flops_per_clip[a] / 1e9 for a in ARCHS},
            "achieved_flops": achieved,
            "peak_fraction": {k: v / self.matmul_peak_flops for k, v in achieved.items()},
            "matmul_peak_flops": self.matmul_peak_flops,
            "device": self.device,
            "backend": self.backend,
            "steps": self.steps,
            "settings": self.settings,
        }
        peak_tflops = self.settings.get("peak_tflops")
        if peak_tflops:
            report["mfu"] = {k: v / (peak_tflops * 1e12) for k, v in achieved.items()}
        return report

    def format(self) -> str:
        """The report ``stm-keras bench model`` prints."""
        s = self.settings
        achieved = self.achieved_flops()
        peak = self.matmul_peak_flops
        lines = [
            f"ResNet-{s['depth']} x{s['width_multiplier']:g}, {s['frames']} frames of "
            f"{s['image_size']}px, batch {s['batch_size']}, {s['dtype_policy']}, XLA "
            f"{s['jit_compile']}, {s['replicas']} device(s); median of {self.steps} interleaved "
            f"steps; {self.backend} backend on {self.device}",
            f"{'':<6}{'train ms':>10}{'clips/s':>9}{'of peak':>9}"
            f"{'infer ms':>11}{'clips/s':>9}{'of peak':>9}",
        ]
        for arch in ARCHS:
            train, infer = self.train_seconds[arch], self.infer_seconds[arch]
            lines.append(
                f"{arch.upper():<6}{train * 1e3:>10.1f}{self.batch_size / train:>9.1f}"
                f"{achieved[f'{arch}_train'] / peak:>9.1%}{infer * 1e3:>11.1f}"
                f"{self.batch_size / infer:>9.1f}{achieved[f'{arch}_infer'] / peak:>9.1%}"
            )
        lines.append(
            f"ratio STM/TSN: train {self.ratio_train:.3f}, inference {self.ratio_infer:.3f}; "
            f"matmul peak {peak / 1e12:.3f} TFLOP/s ({s['matmul_size']}^2, same dtype, same run)"
        )
        if s.get("peak_tflops"):
            mfu = ", ".join(f"{k} {v / (s['peak_tflops'] * 1e12):.1%}" for k, v in achieved.items())
            lines.append(f"MFU against {s['peak_tflops']:g} TFLOP/s: {mfu}")
        return "\n".join(lines)


def _compute_dtype(policy: str) -> str:
    return {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}.get(policy, "float32")


def matmul_timer(size: int, dtype: str) -> Callable[[], float]:
    """A function that runs one ``size`` x ``size`` matmul on the backend and returns seconds.

    The product is reduced to a scalar, fetched so the call waits for the device.
    """
    backend = keras.backend.backend()
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size)).astype("float32") for _ in range(2))
    if backend == "tensorflow":
        import tensorflow as tf

        a, b = tf.cast(a, dtype), tf.cast(b, dtype)
        product = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.matmul(x, y), "float32")))

        def run() -> None:
            product(a, b).numpy()

    elif backend == "jax":
        import jax
        import jax.numpy as jnp

        a, b = jnp.asarray(a, dtype), jnp.asarray(b, dtype)
        product = jax.jit(lambda x, y: jnp.sum((x @ y).astype("float32")))

        def run() -> None:
            product(a, b).block_until_ready()

    else:
        raise ValueError(f"bench model times the tensorflow and jax backends, not {backend}")

    def timed() -> float:
        start = time.perf_counter()
        run()
        return time.perf_counter() - start

    timed()  # trace / compile
    return timed


def device_name() -> tuple[str, bool]:
    """The accelerator (or CPU) the backend computes on, and whether it is an accelerator."""
    from stm_keras.benchmarks.machine import cpu_model

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            return f"{device.device_kind} x{jax.device_count()}", True
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return f"{details.get('device_name', 'GPU')} x{len(gpus)}", True
    return f"{cpu_model() or 'CPU'} ({os.cpu_count()} threads)", False


def _compiled(model: keras.Model, jit_compile: bool) -> keras.Model:
    # No metrics (the classifier's "auto" adds top-1/top-5): only the step itself is timed.
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=None,
        jit_compile=jit_compile,
    )
    return model


def measure_model(
    depth: int = 50,
    frames: int = 8,
    image_size: int = 224,
    batch_size: int = 2,
    steps: int = 10,
    warmup: int = 2,
    num_classes: int = 174,
    width_multiplier: float = 1.0,
    dtype_policy: str = "float32",
    jit_compile: bool = False,
    cpu_replicas: int = 0,
    matmul_size: int | None = None,
    peak_tflops: float | None = None,
) -> ModelBench:
    """Times train steps and inference of STM- and TSN-ResNet on the same batch, interleaved.

    Args:
        depth: int. ResNet depth. Defaults to 50.
        frames: int. Frames per clip. Defaults to 8.
        image_size: int. Frame side. Defaults to 224.
        batch_size: int. Clips per step (global, split over replicas). Defaults to 2.
        steps: int. Timed steps per model and mode. Defaults to 10.
        warmup: int. Untimed steps per model and mode first. Defaults to 2.
        num_classes: int. Classifier width. Defaults to 174.
        width_multiplier: float. Channel width factor. Defaults to 1.
        dtype_policy: str. ``float32``, ``mixed_float16`` or ``mixed_bfloat16``. Defaults to
            float32.
        jit_compile: bool. XLA-compile the steps. Defaults to False.
        cpu_replicas: int. With more than 1 (TensorFlow only), both models run under
            ``MirroredStrategy`` over that many logical CPUs. Defaults to 0 (one device).
        matmul_size: int or None. Side of the peak matmul; None: 2048 on a CPU, 8192 on an
            accelerator. Defaults to None.
        peak_tflops: float or None. The device's dense peak for MFU. Defaults to None.

    Returns:
        A ``ModelBench``.
    """
    if dtype_policy not in DTYPE_POLICIES:
        raise ValueError(f"dtype_policy must be one of {DTYPE_POLICIES}, got {dtype_policy!r}")
    backend = keras.backend.backend()
    strategy = None
    if cpu_replicas > 1:
        if backend != "tensorflow":
            raise ValueError("cpu_replicas needs the tensorflow backend")
        from stm_keras.training.strategy import configure_cpu_replicas, make_strategy

        configure_cpu_replicas(cpu_replicas)
        strategy = make_strategy("auto", cpu_replicas)
    device, accelerator = device_name()
    if matmul_size is None:
        matmul_size = 8192 if accelerator else 2048
    settings = {
        "depth": depth,
        "frames": frames,
        "image_size": image_size,
        "batch_size": batch_size,
        "num_classes": num_classes,
        "width_multiplier": width_multiplier,
        "dtype_policy": dtype_policy,
        "jit_compile": jit_compile,
        "replicas": strategy.num_replicas_in_sync if strategy else 1,
        "warmup": warmup,
        "matmul_size": matmul_size,
        "peak_tflops": peak_tflops,
    }
    backbone = {
        "depth": depth,
        "num_segments": frames,
        "width_multiplier": width_multiplier,
        "image_size": image_size,
    }
    variants = {"stm": backbone, "tsn": {**backbone, **TSN_OPTIONS}}
    previous = keras.config.dtype_policy()
    # Global, not per backbone: the classifier then also compiles with loss scaling.
    keras.config.set_dtype_policy(dtype_policy)
    try:
        if strategy is not None:
            with strategy.scope():
                models = _build(variants, num_classes, jit_compile)
        else:
            models = _build(variants, num_classes, jit_compile)
    finally:
        keras.config.set_dtype_policy(previous)
    flops = {
        arch: 2.0 * summarize(model, frames, image_size).multiply_adds
        for arch, model in models.items()
    }
    rng = np.random.default_rng(0)
    clips = rng.normal(size=(batch_size, frames, image_size, image_size, 3)).astype("float32")
    labels = rng.integers(0, num_classes, size=(batch_size,))

    def train(arch: str) -> None:
        models[arch].train_on_batch(clips, labels)  # returns the loss: waits for the step

    def infer(arch: str) -> None:
        models[arch].predict_on_batch(clips)  # returns NumPy: waits for the step

    matmul = matmul_timer(matmul_size, _compute_dtype(dtype_policy))
    seconds: dict[str, list[float]] = {
        f"{arch}_{mode}": [] for mode in ("train", "infer") for arch in ARCHS
    }
    matmul_seconds = []
    for mode, run in (("train", train), ("infer", infer)):
        for arch in ARCHS:
            for _ in range(warmup):
                run(arch)
        for step in range(steps):
            for arch in ARCHS if step % 2 == 0 else ARCHS[::-1]:
                start = time.perf_counter()
                run(arch)
                seconds[f"{arch}_{mode}"].append(time.perf_counter() - start)
            matmul_seconds.append(matmul())
    matmul_flops = 2.0 * matmul_size**3 / statistics.median(matmul_seconds)
    median = {key: statistics.median(values) for key, values in seconds.items()}
    return ModelBench(
        train_seconds={arch: median[f"{arch}_train"] for arch in ARCHS},
        infer_seconds={arch: median[f"{arch}_infer"] for arch in ARCHS},
        flops_per_clip=flops,
        matmul_peak_flops=matmul_flops,
        steps=steps,
        device=device,
        backend=backend,
        settings=settings,
    )


def _build(
    variants: dict[str, dict[str, Any]], num_classes: int, jit_compile: bool
) -> dict[str, keras.Model]:
    return {
        arch: _compiled(STMVideoClassifier(STMBackbone(**kwargs), num_classes), jit_compile)
        for arch, kwargs in variants.items()
    }
