"""STM-ResNet against TSN-ResNet, train step and inference, side by side in one process.

``stm-keras bench model`` (alias ``bench step-time``). Both models are an
``STMVideoClassifier`` on an ``STMBackbone`` built from the same keyword arguments; the TSN
baseline only turns CSTM and CMM off, so the ratios are the cost of the STM modules alone.
With ``modules=True`` (``--modules``) STM with only CSTM and STM with only CMM are timed too,
which splits that cost by module. With ``keras_ops=True`` (``--keras-ops``) STM and TSN are
also timed with stm-keras's own paths off (under XLA, train-mode BN and max-pooling on Keras's
own ops; on TensorFlow without XLA, the 1x1 convs of train steps as convolutions rather than
matmuls), which measures what those paths buy.

Timing: after untimed warm-up steps (tracing, compilation), the models are stepped
alternately (A, B, B, A, ...: the order reverses every step so none benefits from its place),
train steps first, then inference calls; each figure is a median. Each model's steps are
also divided by TSN's step by step (step ``i`` of each model ran in the same pass), and the
median of those ratios is reported with a distribution-free 95 % confidence interval: how far
this run's load noise leaves the ratio uncertain. Between the model
steps, a square matmul in the models' compute dtype is timed the same way: its FLOP/s is this
machine's matmul peak in this run, and each model's achieved FLOP/s (2 x multiply-adds per
clip from ``stm_keras.models.summarize``; a train step counted as 3 forward passes) is
reported as a fraction of it. ``peak_tflops``, when given (the accelerator's dense datasheet
figure), also gives MFU against it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import gzip
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import keras
import numpy as np

from stm_keras.models import STMBackbone, STMVideoClassifier, summarize

# What turns an STM backbone into its TSN baseline.
TSN_OPTIONS = {"use_cstm": False, "use_cmm": False}
# ``modules=True`` adds STM with one module off; their time over TSN's splits STM's overhead.
MODULE_OPTIONS = {"cstm_only": {"use_cmm": False}, "cmm_only": {"use_cstm": False}}
# ``keras_ops=True`` adds STM and TSN with the layers' own paths off, under these names.
KERAS_OPS = {"stm_keras_ops": "stm", "tsn_keras_ops": "tsn"}
LABELS = {"stm": "STM", "tsn": "TSN", "cstm_only": "CSTM only", "cmm_only": "CMM only"}
LABELS |= {"stm_keras_ops": "STM, Keras ops", "tsn_keras_ops": "TSN, Keras ops"}
DTYPE_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
# A train step's FLOPs as forward passes: forward, backward to activations, to weights.
TRAIN_FORWARD_PASSES = 3
MODE_WORDS = {"train": "train", "infer": "inference"}
# Coverage of the confidence interval reported for each paired ratio's median.
CONFIDENCE = 0.95


def median_interval(values: list[float], level: float = CONFIDENCE) -> tuple[float, float] | None:
    """Distribution-free confidence interval for the median of ``values``.

    The order statistics ``(x_(k), x_(n+1-k))`` with the largest ``k`` whose coverage,
    ``1 - 2 P(Binomial(n, 1/2) < k)``, is at least ``level``; no assumption on the
    distribution but independent draws. ``None`` when ``n`` is too small for ``level`` (fewer
    than 6 values at 95 %).
    """
    n = len(values)
    ordered = sorted(values)
    best = None
    below = 0.0  # P(Binomial(n, 1/2) <= k - 1)
    for k in range(1, n // 2 + 1):
        below += math.comb(n, k - 1) / 2.0**n
        if 1.0 - 2.0 * below < level:
            break
        best = (ordered[k - 1], ordered[n - k])
    return best


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
    # From the profiler trace (``trace_dir``), per ``{arch}_{mode}``: first kernel start to last
    # kernel end on the accelerator, host work excluded. Empty without a trace or accelerator.
    device_seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    # The same steps' kernel time: the length of the union of their accelerator events, so the
    # idle gaps inside the step (waits on the host, launch latency) are left out.
    device_kernel_seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    # Every timed step, per ``{arch}_{mode}``, in order: step ``i`` of each model ran within
    # the same pass of the interleaved loop. Empty where only the medians are known.
    step_seconds: dict[str, list[float]] = dataclasses.field(default_factory=dict)

    @property
    def batch_size(self) -> int:
        """Clips per step."""
        return int(self.settings["batch_size"])

    @property
    def archs(self) -> tuple[str, ...]:
        """The timed models: ``stm``, ``tsn``, then ``cstm_only`` and ``cmm_only`` if timed."""
        return tuple(self.train_seconds)

    @property
    def ratio_train(self) -> float:
        """STM's train-step time over TSN's."""
        return self.train_seconds["stm"] / self.train_seconds["tsn"]

    @property
    def ratio_infer(self) -> float:
        """STM's inference time over TSN's."""
        return self.infer_seconds["stm"] / self.infer_seconds["tsn"]

    def device_ratios(self) -> dict[str, float]:
        """STM over TSN where traced: ``device_ratio_*`` and ``device_kernel_ratio_*``.

        Keys ``{device,device_kernel}_ratio_{train,infer}``: accelerator time and kernel time.
        """
        ratios = {}
        for name, seconds in (
            ("device", self.device_seconds),
            ("device_kernel", self.device_kernel_seconds),
        ):
            for mode in ("train", "infer"):
                stm = seconds.get(f"stm_{mode}")
                tsn = seconds.get(f"tsn_{mode}")
                if stm and tsn:
                    ratios[f"{name}_ratio_{mode}"] = stm / tsn
        return ratios

    def module_ratios(self) -> dict[str, dict[str, float]]:
        """``{"train"|"infer": {"cstm_only"|"cmm_only": time over TSN's}}``; empty if not timed."""
        modules = [arch for arch in self.archs if arch in MODULE_OPTIONS]
        if not modules:
            return {}
        return {
            mode: {arch: seconds[arch] / seconds["tsn"] for arch in modules}
            for mode, seconds in (("train", self.train_seconds), ("infer", self.infer_seconds))
        }

    def keras_ops_ratios(self) -> dict[str, dict[str, dict[str, float]]]:
        """Each model on Keras's ops over the same model on stm-keras's own paths, step by step.

        ``{"train"|"infer": {"stm"|"tsn": {"median", "low", "high"}}}`` (as ``paired_ratios``);
        above 1 where stm-keras's paths save time. Empty unless timed with ``keras_ops``.
        """
        return self._paired({base: (arch, base) for arch, base in KERAS_OPS.items()})

    def paired_ratios(self) -> dict[str, dict[str, dict[str, float]]]:
        """Each model's time over TSN's step by step: median and confidence interval.

        ``{"train"|"infer": {arch: {"median", "low", "high"}}}`` for every timed model but
        TSN. Step ``i`` of a model is divided by TSN's step ``i``, timed next to it, so load
        that drifts during the run cancels; ``low``/``high`` bound the median of these ratios
        at ``CONFIDENCE`` (``median_interval``). Empty without per-step times or with too few
        steps for an interval.
        """
        return self._paired({arch: (arch, "tsn") for arch in self.archs if arch != "tsn"})

    def _paired(self, pairs: dict[str, tuple[str, str]]) -> dict[str, dict[str, dict[str, float]]]:
        """Median and interval of ``arch``'s steps over ``base``'s, for ``pairs[key]``."""
        ratios: dict[str, dict[str, dict[str, float]]] = {}
        for mode in ("train", "infer"):
            for key, (arch, base) in pairs.items():
                steps = self.step_seconds.get(f"{arch}_{mode}")
                base_steps = self.step_seconds.get(f"{base}_{mode}")
                if not steps or not base_steps:
                    continue
                paired = [a / b for a, b in zip(steps, base_steps, strict=True)]
                interval = median_interval(paired)
                if interval is not None:
                    ratios.setdefault(mode, {})[key] = {
                        "median": statistics.median(paired),
                        "low": interval[0],
                        "high": interval[1],
                    }
        return ratios

    def achieved_flops(self) -> dict[str, float]:
        """FLOP/s of ``{arch}_{infer,train}`` for every timed model."""
        achieved = {}
        for arch in self.archs:
            flops = self.flops_per_clip[arch] * self.batch_size
            achieved[f"{arch}_infer"] = flops / self.infer_seconds[arch]
            achieved[f"{arch}_train"] = TRAIN_FORWARD_PASSES * flops / self.train_seconds[arch]
        return achieved

    def to_json(self) -> dict[str, Any]:
        """What ``--output`` writes."""
        achieved = self.achieved_flops()
        archs = self.archs
        report = {
            "train_clips_per_s": {a: self.batch_size / self.train_seconds[a] for a in archs},
            "infer_clips_per_s": {a: self.batch_size / self.infer_seconds[a] for a in archs},
            "train_ms": {a: 1e3 * self.train_seconds[a] for a in archs},
            "infer_ms": {a: 1e3 * self.infer_seconds[a] for a in archs},
            "ratio_train": self.ratio_train,
            "ratio_infer": self.ratio_infer,
            "gflops_per_clip": {a: self.flops_per_clip[a] / 1e9 for a in archs},
            "achieved_flops": achieved,
            "peak_fraction": {k: v / self.matmul_peak_flops for k, v in achieved.items()},
            "matmul_peak_flops": self.matmul_peak_flops,
            "device": self.device,
            "backend": self.backend,
            "steps": self.steps,
            "settings": self.settings,
        }
        module_ratios = self.module_ratios()
        if module_ratios:
            report["module_ratios"] = module_ratios
        if self.step_seconds:
            report["step_ms"] = {k: [1e3 * v for v in vs] for k, vs in self.step_seconds.items()}
        paired = self.paired_ratios()
        if paired:
            report["paired_ratios"] = {"confidence": CONFIDENCE, **paired}
        keras_ops = self.keras_ops_ratios()
        if keras_ops:
            report["keras_ops_ratios"] = {"confidence": CONFIDENCE, **keras_ops}
        if self.device_seconds:
            report["device_ms"] = {k: 1e3 * v for k, v in self.device_seconds.items()}
            if self.device_kernel_seconds:
                report["device_kernel_ms"] = {
                    k: 1e3 * v for k, v in self.device_kernel_seconds.items()
                }
            report.update(self.device_ratios())
        peak_tflops = self.settings.get("peak_tflops")
        if peak_tflops:
            report["mfu"] = {k: v / (peak_tflops * 1e12) for k, v in achieved.items()}
        return report

    def format(self) -> str:
        """The report ``stm-keras bench model`` prints."""
        s = self.settings
        achieved = self.achieved_flops()
        peak = self.matmul_peak_flops
        width = max(10, *(len(LABELS[arch]) + 1 for arch in self.archs))
        lines = [
            f"ResNet-{s['depth']} x{s['width_multiplier']:g}, {s['frames']} frames of "
            f"{s['image_size']}px, batch {s['batch_size']}, {s['dtype_policy']}, XLA "
            f"{s['jit_compile']}, {s['replicas']} device(s); median of {self.steps} interleaved "
            f"steps; {self.backend} backend on {self.device}",
            f"{'':<{width}}{'train ms':>10}{'clips/s':>9}{'of peak':>9}"
            f"{'infer ms':>11}{'clips/s':>9}{'of peak':>9}",
        ]
        for arch in self.archs:
            train, infer = self.train_seconds[arch], self.infer_seconds[arch]
            lines.append(
                f"{LABELS[arch]:<{width}}{train * 1e3:>10.1f}{self.batch_size / train:>9.1f}"
                f"{achieved[f'{arch}_train'] / peak:>9.1%}{infer * 1e3:>11.1f}"
                f"{self.batch_size / infer:>9.1f}{achieved[f'{arch}_infer'] / peak:>9.1%}"
            )
        lines.append(
            f"ratio STM/TSN: train {self.ratio_train:.3f}, inference {self.ratio_infer:.3f}; "
            f"matmul peak {peak / 1e12:.3f} TFLOP/s ({s['matmul_size']}^2, same dtype, same run)"
        )
        module_ratios = self.module_ratios()
        if module_ratios:
            split = "; ".join(
                f"{LABELS[arch]}: train {module_ratios['train'][arch]:.3f}, "
                f"inference {module_ratios['infer'][arch]:.3f}"
                for arch in module_ratios["train"]
            )
            lines.append(f"one module over TSN: {split}")
        paired = self.paired_ratios()
        if paired:
            lines.append(
                f"step by step over TSN (median, {CONFIDENCE:.0%} interval): "
                + "; ".join(
                    f"{LABELS[arch]} {MODE_WORDS[mode]} {r['median']:.3f} "
                    f"[{r['low']:.3f}, {r['high']:.3f}]"
                    for mode in ("train", "infer")
                    for arch, r in paired.get(mode, {}).items()
                )
            )
        keras_ops = self.keras_ops_ratios()
        if keras_ops:
            lines.append(
                f"Keras ops over stm-keras's own paths, step by step (median, {CONFIDENCE:.0%} "
                "interval): "
                + "; ".join(
                    f"{LABELS[arch]} {MODE_WORDS[mode]} {r['median']:.3f} "
                    f"[{r['low']:.3f}, {r['high']:.3f}]"
                    for mode in ("train", "infer")
                    for arch, r in keras_ops.get(mode, {}).items()
                )
            )
        if self.device_seconds:
            traced = ", ".join(
                f"{k} {1e3 * v:.2f} ms" for k, v in sorted(self.device_seconds.items())
            )
            ratios = ", ".join(f"{k} {v:.3f}" for k, v in self.device_ratios().items())
            lines.append(f"accelerator time of one traced step: {traced}; {ratios}")
            if self.device_kernel_seconds:
                kernels = ", ".join(
                    f"{k} {1e3 * v:.2f} ms" for k, v in sorted(self.device_kernel_seconds.items())
                )
                lines.append(f"kernel time of the same steps (idle gaps left out): {kernels}")
        if s.get("peak_tflops"):
            mfu = ", ".join(f"{k} {v / (s['peak_tflops'] * 1e12):.1%}" for k, v in achieved.items())
            lines.append(f"MFU against {s['peak_tflops']:g} TFLOP/s: {mfu}")
        return "\n".join(lines)


def _compute_dtype(policy: str) -> str:
    return {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}.get(policy, "float32")


class ModelSteps:
    """Runs one compiled model's train steps and inference calls, each waited for.

    On the JAX backend with XLA (``carry_state``), the first call of each kind goes through
    ``train_on_batch`` / ``predict_on_batch`` (which build and compile), and later calls run
    Keras's own compiled step functions on a state kept on the device, as ``fit`` and
    ``predict`` do between batches: ``*_on_batch`` would also move every variable into and out
    of the Keras objects on the host per call, milliseconds for a ResNet-50 and more for the
    model with more variables. Elsewhere every call is ``*_on_batch``. ``close()`` writes the
    kept state back into the model.
    """

    def __init__(self, model: keras.Model, clips, labels, carry_state: bool) -> None:
        self.model = model
        self.clips, self.labels = clips, labels
        self.carries_state = carry_state and keras.backend.backend() == "jax"
        self._state: tuple | None = None
        self._mode: str | None = None

    def train(self) -> None:
        """One train step on the batch."""
        self._run("train")

    def infer(self) -> None:
        """One inference call on the batch."""
        self._run("infer")

    def _run(self, mode: str) -> None:
        if not self.carries_state or self._mode != mode:
            self.close()
            if mode == "train":
                self.model.train_on_batch(self.clips, self.labels)  # waits: returns the loss
            else:
                self.model.predict_on_batch(self.clips)  # waits: returns NumPy
            if self.carries_state:
                self._mode, self._state = mode, self._variables_state(mode)
            return
        import jax

        if mode == "train":
            data = (self.clips, self.labels, None)
            outputs, self._state = self.model.train_function(self._state, iter([data]))
        else:
            outputs, self._state = self.model.predict_function(self._state, iter([(self.clips,)]))
        jax.block_until_ready(outputs)

    def _variable_lists(self, mode: str) -> list[list]:
        model = self.model
        lists = [model.trainable_variables, model.non_trainable_variables]
        if mode == "train":
            lists += [model.optimizer.variables, model.metrics_variables]
        return lists

    def _variables_state(self, mode: str) -> tuple:
        # The layout Keras's JAX trainer passes its step functions.
        return tuple([v.value for v in variables] for variables in self._variable_lists(mode))

    def close(self) -> None:
        """Writes the state kept on the device back into the model's variables."""
        if self._state is not None:
            lists = self._variable_lists(self._mode)
            for variables, values in zip(lists, self._state, strict=True):
                for variable, value in zip(variables, values, strict=True):
                    variable.assign(value)
        self._state, self._mode = None, None


# Profiler planes of accelerators (XPlane names, also the trace JSON's process names).
DEVICE_PLANES = ("/device:GPU", "/device:TPU")


def device_step_seconds(log_dir: str) -> float | None:
    """Accelerator time of the one step traced into ``log_dir``, or None without a device plane.

    See ``device_step_spans`` for which events count; this is their first start to last end.
    """
    spans = device_step_spans(log_dir)
    if not spans:
        return None
    return max(end for _, end in spans) - min(start for start, _ in spans)


def device_kernel_seconds(log_dir: str) -> float | None:
    """Kernel time of the one step traced into ``log_dir``, or None without a device plane.

    The length of the union of the step's accelerator events (``device_step_spans``): time
    when at least one ran. Unlike ``device_step_seconds`` it leaves out the idle gaps inside
    the step, where the accelerator waited on the host.
    """
    spans = sorted(device_step_spans(log_dir))
    if not spans:
        return None
    total, covered_to = 0.0, -math.inf
    for start, end in spans:
        if end > covered_to:
            total += end - max(start, covered_to)
            covered_to = end
    return total


def device_step_spans(log_dir: str) -> list[tuple[float, float]]:
    """``(start, end)`` seconds of the accelerator events of the step traced into ``log_dir``.

    The events on the accelerators' planes (kernels and copies), so host work before and after
    the step is left out. Where events
    name their XLA module (JAX's traces do), only the module with the most kernels counts: the
    step, not the batch's conversions (a few kernels, which can also wait on the host) that
    run before it with host work in between. Reads
    the Chrome-format ``*.trace.json.gz`` JAX's profiler writes, or else the ``*.xplane.pb``
    TensorFlow's writes (which needs TensorFlow's protobuf classes to parse). Empty without a
    trace or a device plane.
    """
    runs = sorted(glob.glob(os.path.join(log_dir, "plugins", "profile", "*")))
    if not runs:
        return []
    traces = sorted(glob.glob(os.path.join(runs[-1], "*.trace.json.gz")))
    if traces:
        return _trace_json_spans(traces[-1])
    planes = sorted(glob.glob(os.path.join(runs[-1], "*.xplane.pb")))
    return _xplane_spans(planes[-1]) if planes else []


def _trace_json_spans(path: str) -> list[tuple[float, float]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        events = json.load(f).get("traceEvents", [])
    devices = {
        event["pid"]
        for event in events
        if event.get("ph") == "M"
        and event.get("name") == "process_name"
        and str(event.get("args", {}).get("name", "")).startswith(DEVICE_PLANES)
    }
    modules: dict[str, list[tuple[float, float]]] = {}
    for event in events:
        if event.get("ph") == "X" and event.get("pid") in devices:
            start = float(event["ts"]) / 1e6  # microseconds -> seconds
            span = (start, start + float(event.get("dur", 0)) / 1e6)
            modules.setdefault(event.get("args", {}).get("hlo_module", ""), []).append(span)
    named = {name: spans for name, spans in modules.items() if name}
    if not named:
        return modules.get("", [])
    return max(named.values(), key=len)


def _xplane_spans(path: str) -> list[tuple[float, float]]:
    try:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2
    except ImportError:
        return []
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    spans = []
    for plane in space.planes:
        if not plane.name.startswith(DEVICE_PLANES):
            continue
        for line in plane.lines:
            for event in line.events:
                if event.WhichOneof("data") != "offset_ps":
                    continue  # an aggregate, not a timed event
                start = line.timestamp_ns * 1e-9 + event.offset_ps * 1e-12
                spans.append((start, start + event.duration_ps * 1e-12))
    return spans


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


@contextlib.contextmanager
def profiler_trace(log_dir: str) -> Iterator[None]:
    """Records the backend's profiler trace of the enclosed steps into ``log_dir``."""
    backend = keras.backend.backend()
    os.makedirs(log_dir, exist_ok=True)
    if backend == "jax":
        import jax

        with jax.profiler.trace(log_dir):
            yield
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.profiler.experimental.start(log_dir)
        try:
            yield
        finally:
            tf.profiler.experimental.stop()
    else:
        raise ValueError(f"bench model traces the tensorflow and jax backends, not {backend}")


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
    trace_dir: str | None = None,
    modules: bool = False,
    keras_ops: bool = False,
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
        trace_dir: str or None. After the timed steps, write a profiler trace (TensorBoard's
            ``plugins/profile`` layout) of one train step and one inference call of each timed
            model under ``trace_dir/{arch}/{train,infer}``; on an accelerator their device time
            goes into ``device_seconds``. Defaults to None.
        modules: bool. Also time STM with CMM off (``cstm_only``) and with CSTM off
            (``cmm_only``), interleaved with the other two; their times over TSN's split STM's
            overhead by module. Defaults to False.
        keras_ops: bool. Also time STM and TSN on Keras's own ops (``use_keras_ops``: every
            stm-keras ``BatchNormalization`` and ``MaxPooling2D`` with ``xla_kernels`` off,
            every ``Conv2D`` with ``matmul_in_training`` off; ``stm_keras_ops``,
            ``tsn_keras_ops``), interleaved with the others; ``keras_ops_ratios`` divides
            them by the same models on stm-keras's own paths. Defaults to False.

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
    if modules:
        variants.update({arch: {**backbone, **off} for arch, off in MODULE_OPTIONS.items()})
    if keras_ops:
        variants.update({arch: variants[base] for arch, base in KERAS_OPS.items()})
    archs = tuple(variants)
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
    for arch in KERAS_OPS:
        if arch in models:
            use_keras_ops(models[arch])
    flops = {
        arch: 2.0 * summarize(model, frames, image_size).multiply_adds
        for arch, model in models.items()
    }
    rng = np.random.default_rng(0)
    clips = rng.normal(size=(batch_size, frames, image_size, image_size, 3)).astype("float32")
    labels = rng.integers(0, num_classes, size=(batch_size,))
    # On the device once: the steps time the models, not a host-to-device copy of the batch.
    clips, labels = keras.ops.convert_to_tensor(clips), keras.ops.convert_to_tensor(labels)

    runners = {
        arch: ModelSteps(model, clips, labels, carry_state=jit_compile)
        for arch, model in models.items()
    }

    def train(arch: str) -> None:
        runners[arch].train()

    def infer(arch: str) -> None:
        runners[arch].infer()

    matmul = matmul_timer(matmul_size, _compute_dtype(dtype_policy))
    seconds: dict[str, list[float]] = {
        f"{arch}_{mode}": [] for mode in ("train", "infer") for arch in archs
    }
    matmul_seconds = []
    for mode, run in (("train", train), ("infer", infer)):
        for arch in archs:
            for _ in range(warmup):
                run(arch)
        for step in range(steps):
            for arch in archs if step % 2 == 0 else archs[::-1]:
                start = time.perf_counter()
                run(arch)
                seconds[f"{arch}_{mode}"].append(time.perf_counter() - start)
            matmul_seconds.append(matmul())
    device_seconds: dict[str, float] = {}
    kernel_seconds: dict[str, float] = {}
    if trace_dir:
        for arch in archs:
            for mode, run in (("train", train), ("infer", infer)):
                log_dir = os.path.join(trace_dir, arch, mode)
                with profiler_trace(log_dir):
                    run(arch)
                span = device_step_seconds(log_dir)
                if span is not None:
                    device_seconds[f"{arch}_{mode}"] = span
                    kernel_seconds[f"{arch}_{mode}"] = device_kernel_seconds(log_dir)
    for runner in runners.values():
        runner.close()
    settings["timing"] = "carried state" if runners["stm"].carries_state else "on_batch"
    matmul_flops = 2.0 * matmul_size**3 / statistics.median(matmul_seconds)
    median = {key: statistics.median(values) for key, values in seconds.items()}
    return ModelBench(
        train_seconds={arch: median[f"{arch}_train"] for arch in archs},
        infer_seconds={arch: median[f"{arch}_infer"] for arch in archs},
        flops_per_clip=flops,
        matmul_peak_flops=matmul_flops,
        steps=steps,
        device=device,
        backend=backend,
        settings=settings,
        device_seconds=device_seconds,
        device_kernel_seconds=kernel_seconds,
        step_seconds=seconds,
    )


def use_keras_ops(model: keras.Model) -> int:
    """Turns stm-keras's own paths off in ``model``; returns how many layers it changed.

    ``xla_kernels`` of every BN and max-pool, ``matmul_in_training`` of every conv.
    """
    from stm_keras.layers.conv_bn import BatchNormalization, Conv2D, MaxPooling2D

    count = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, (BatchNormalization, MaxPooling2D)):
            layer.xla_kernels = False
            count += 1
        elif isinstance(layer, Conv2D):
            layer.matmul_in_training = False
            count += 1
    return count


def _build(
    variants: dict[str, dict[str, Any]], num_classes: int, jit_compile: bool
) -> dict[str, keras.Model]:
    return {
        arch: _compiled(STMVideoClassifier(STMBackbone(**kwargs), num_classes), jit_compile)
        for arch, kwargs in variants.items()
    }
