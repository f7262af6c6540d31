"""`stm-keras bench flops` (table, JSON rows) and `bench model` (alias `step-time`), tiny."""

import json
import math
import os
import re
import statistics
import subprocess
import sys
from fractions import Fraction

import pytest
from click.testing import CliRunner

from stm_keras.benchmarks.model import LABELS, ModelBench, median_interval
from stm_keras.cli.main import app
from stm_keras.models import STMBackbone, STMVideoClassifier, summarize

TINY = ["--depth", "18", "--frames", "2", "--image-size", "32", "--width-multiplier", "0.25"]


def _flops(*args: str) -> str:
    result = CliRunner().invoke(app, ["bench", "flops", *TINY, "--num-classes", "5", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_flops_prints_the_summary_of_the_classifier():
    output = _flops()
    backbone = STMBackbone(18, num_segments=2, width_multiplier=0.25)
    expected = summarize(STMVideoClassifier(backbone, 5, name="stm_resnet18"), 2, 32)
    assert output.strip() == expected.format()
    assert "model: stm_resnet18  input: 2x32x32" in output
    assert re.search(r"parameters: \d+\.\d+M trainable", output)
    assert expected.multiply_adds_by_part["temporal"] > 0
    assert expected.multiply_adds_by_part["motion"] > 0


def test_flops_of_tsn_is_the_backbone_without_cstm_and_cmm():
    output = _flops("--arch", "tsn")
    assert "model: tsn_resnet18  input: 2x32x32" in output
    assert re.search(r"temporal +0\.000 M", output)
    assert re.search(r"motion +0\.000 M", output)
    backbone = STMBackbone(18, num_segments=2, width_multiplier=0.25, use_cstm=False, use_cmm=False)
    expected = summarize(STMVideoClassifier(backbone, 5, name="tsn_resnet18"), 2, 32)
    assert output.strip() == expected.format()


def test_flops_rejects_bad_values_as_usage_errors():
    result = CliRunner().invoke(app, ["bench", "flops", "--arch", "i3d"])
    assert result.exit_code == 2 and "'i3d'" in result.output
    result = CliRunner().invoke(app, ["bench", "flops", "--width-multiplier", "0"])
    assert result.exit_code == 2 and "--width-multiplier" in result.output


MODEL_TINY = [*TINY, "--steps", "2", "--warmup", "1", "--num-classes", "3"]


def _model_report(tmp_path, *args: str, command: str = "model") -> tuple[str, dict]:
    output = tmp_path / "model.json"
    result = CliRunner().invoke(
        app, ["bench", command, *MODEL_TINY, *args, "--output", str(output)]
    )
    assert result.exit_code == 0, result.output
    return result.output, json.loads(output.read_text())


def test_model_times_train_and_inference_of_both_and_writes_json(tmp_path):
    output, report = _model_report(tmp_path, "--batch-size", "2", "--matmul-size", "256")
    assert "ResNet-18 x0.25, 2 frames of 32px, batch 2, float32, XLA False, 1 device(s)" in output
    assert set(report["train_clips_per_s"]) == set(report["infer_clips_per_s"]) == {"stm", "tsn"}
    for mode in ("train", "infer"):
        ms, clips = report[f"{mode}_ms"], report[f"{mode}_clips_per_s"]
        for arch in ("stm", "tsn"):
            # clips/s and ms/step are the same median, two ways.
            assert clips[arch] == pytest.approx(2 * 1e3 / ms[arch])
        assert report[f"ratio_{mode}"] == pytest.approx(ms["stm"] / ms["tsn"])
        match = re.search(
            rf"ratio STM/TSN: .*{'inference' if mode == 'infer' else 'train'} "
            r"(\d+\.\d{3})",
            output,
        )
        assert match and float(match.group(1)) == pytest.approx(report[f"ratio_{mode}"], abs=1e-3)
    # FLOPs per clip are those `bench flops` counts; STM's exceed TSN's by the temporal modules.
    backbone = STMBackbone(18, num_segments=2, width_multiplier=0.25, image_size=32)
    expected = 2 * summarize(STMVideoClassifier(backbone, 3), 2, 32).multiply_adds
    assert report["gflops_per_clip"]["stm"] * 1e9 == pytest.approx(expected)
    assert report["gflops_per_clip"]["stm"] > report["gflops_per_clip"]["tsn"]
    peak = report["matmul_peak_flops"]
    assert peak > 0 and report["settings"]["matmul_size"] == 256
    stm_infer = expected * 2 / (report["infer_ms"]["stm"] / 1e3)
    assert report["peak_fraction"]["stm_infer"] == pytest.approx(stm_infer / peak)
    assert set(report["peak_fraction"]) == {"stm_infer", "tsn_infer", "stm_train", "tsn_train"}
    assert report["backend"] == "tensorflow" and "threads" in report["device"]
    assert "mfu" not in report and report["machine"]["cpu_count"] >= 1
    # The per-module models are only built on request.
    assert "module_ratios" not in report and "CMM only" not in output
    # Every step is in the report; two are too few for a 95 % interval of their ratios.
    assert {k: len(v) for k, v in report["step_ms"].items()} == {
        f"{arch}_{mode}": 2 for arch in ("stm", "tsn") for mode in ("train", "infer")
    }
    assert statistics.median(report["step_ms"]["stm_infer"]) == pytest.approx(
        report["infer_ms"]["stm"]
    )
    assert "paired_ratios" not in report and "step by step" not in output


# The models that `bench model --modules --keras-ops` times.
MODULES_AND_KERAS_OPS = {"stm", "tsn", "cstm_only", "cmm_only", "stm_keras_ops", "tsn_keras_ops"}


@pytest.fixture(scope="module")
def modules_and_keras_ops(tmp_path_factory) -> tuple[str, dict]:
    """One `bench model --modules --keras-ops` run, read by the two tests below: six steps, the
    fewest with a 95 % interval for the step-by-step ratios."""
    return _model_report(
        tmp_path_factory.mktemp("bench"),
        *("--matmul-size", "128", "--modules", "--keras-ops", "--steps", "6"),
    )


def test_modules_times_each_module_alone_and_splits_stms_overhead(modules_and_keras_ops):
    output, report = modules_and_keras_ops
    archs = MODULES_AND_KERAS_OPS
    assert set(report["train_ms"]) == set(report["infer_ms"]) == archs
    assert set(report["peak_fraction"]) == {f"{a}_{m}" for a in archs for m in ("train", "infer")}
    # Each module model has exactly one of STM's modules: their extra FLOPs over TSN add up.
    gflops = report["gflops_per_clip"]
    assert gflops["tsn"] < gflops["cstm_only"] < gflops["stm"]
    assert gflops["tsn"] < gflops["cmm_only"] < gflops["stm"]
    assert gflops["stm"] - gflops["tsn"] == pytest.approx(
        (gflops["cstm_only"] - gflops["tsn"]) + (gflops["cmm_only"] - gflops["tsn"])
    )
    for mode in ("train", "infer"):
        ms = report[f"{mode}_ms"]
        assert report["module_ratios"][mode] == pytest.approx(
            {"cstm_only": ms["cstm_only"] / ms["tsn"], "cmm_only": ms["cmm_only"] / ms["tsn"]}
        )
        assert report[f"ratio_{mode}"] == pytest.approx(ms["stm"] / ms["tsn"])
    for label, arch in (("CSTM only", "cstm_only"), ("CMM only", "cmm_only")):
        row = re.search(rf"^{label} +(\d+\.\d) ", output, re.MULTILINE)
        assert row and float(row.group(1)) == pytest.approx(report["train_ms"][arch], abs=0.05)
        ratio = re.search(rf"{label}: train (\d+\.\d{{3}})", output)
        assert ratio and float(ratio.group(1)) == pytest.approx(
            report["module_ratios"]["train"][arch], abs=1e-3
        )
    # Each model over TSN step by step, from the per-step times the report holds.
    paired = report["paired_ratios"]
    assert paired["confidence"] == 0.95
    for mode, word in (("train", "train"), ("infer", "inference")):
        tsn = report["step_ms"][f"tsn_{mode}"]
        assert set(paired[mode]) == archs - {"tsn"}
        for arch in archs - {"tsn"}:
            steps = report["step_ms"][f"{arch}_{mode}"]
            _assert_six_step_ratio(paired[mode][arch], steps, tsn, f"{LABELS[arch]} {word}", output)


def _assert_six_step_ratio(shown: dict, steps, base_steps, label: str, output: str) -> None:
    """``shown`` is the median and 95 % interval of six step-by-step ratios, and is printed."""
    ratios = sorted(a / b for a, b in zip(steps, base_steps, strict=True))
    assert len(ratios) == 6
    # Six values: the 95 % interval is their minimum and maximum.
    assert shown == pytest.approx(
        {"median": statistics.median(ratios), "low": ratios[0], "high": ratios[-1]}
    )
    assert f"{label} {shown['median']:.3f} [{shown['low']:.3f}, {shown['high']:.3f}]" in output


def test_keras_ops_times_both_models_on_keras_ops_and_divides_step_by_step(modules_and_keras_ops):
    output, report = modules_and_keras_ops
    archs = MODULES_AND_KERAS_OPS
    ratios = report["keras_ops_ratios"]
    assert ratios["confidence"] == 0.95
    for mode, word in (("train", "train"), ("infer", "inference")):
        assert set(ratios[mode]) == {"stm", "tsn"}
        for arch in ("stm", "tsn"):
            fast = report["step_ms"][f"{arch}_{mode}"]
            keras_ops = report["step_ms"][f"{arch}_keras_ops_{mode}"]
            label = f"{LABELS[arch]} {word}"
            _assert_six_step_ratio(ratios[mode][arch], keras_ops, fast, label, output)
    assert "Keras ops over stm-keras's own paths, step by step" in output
    # The models on Keras's ops are also divided by TSN, under their own names.
    assert set(report["paired_ratios"]["train"]) == archs - {"tsn"}


def test_use_keras_ops_turns_off_the_own_paths_of_one_model_only():
    from stm_keras.benchmarks.model import use_keras_ops
    from stm_keras.layers.conv_bn import BatchNormalization, Conv2D, MaxPooling2D

    def build():
        backbone = STMBackbone(18, num_segments=2, width_multiplier=0.25, image_size=32)
        return STMVideoClassifier(backbone, 3)

    def switchable(model):
        kinds = (BatchNormalization, MaxPooling2D, Conv2D)
        return [layer for layer in model._flatten_layers() if isinstance(layer, kinds)]

    def own_path(layer):
        return layer.matmul_in_training if isinstance(layer, Conv2D) else layer.xla_kernels

    model, other = build(), build()
    layers = switchable(model)
    # Every BN (the stem's, 3 per block and CMM's), the stem's pool and CMM's strided pools,
    # every conv (the stem's, the blocks' and CMM's).
    assert sum(isinstance(layer, MaxPooling2D) for layer in layers) == 4
    assert sum(isinstance(layer, Conv2D) for layer in layers) > 30
    assert use_keras_ops(model) == len(layers) > 60
    assert not any(own_path(layer) for layer in layers)
    assert all(own_path(layer) for layer in switchable(other))


def test_step_time_is_an_alias_and_peak_tflops_adds_mfu(tmp_path):
    output, report = _model_report(
        tmp_path, "--matmul-size", "128", "--peak-tflops", "2", command="step-time"
    )
    assert "MFU against 2 TFLOP/s" in output
    for key, achieved in report["achieved_flops"].items():
        assert report["mfu"][key] == pytest.approx(achieved / 2e12)


def test_model_under_mirrored_strategy_on_logical_cpus(tmp_path):
    # A fresh process: MirroredStrategy collectives of one in-process run clash with those of
    # later runs in the same process (the fit tests), and logical CPUs are set before TF starts.
    output = tmp_path / "mirrored.json"
    args = [*MODEL_TINY, "--batch-size", "2", "--cpu-replicas", "2", "--matmul-size", "128"]
    result = subprocess.run(
        [sys.executable, "-m", "stm_keras.cli.bench", "model", *args, "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["settings"]["replicas"] == 2 and "2 device(s)" in result.stdout
    assert all(value > 0 for value in report["train_clips_per_s"].values())


def test_model_rejects_contradicting_precision_options():
    result = CliRunner().invoke(
        app, ["bench", "model", "--mixed-precision", "--dtype-policy", "mixed_bfloat16"]
    )
    assert result.exit_code == 2 and "--mixed-precision" in result.output


def test_flops_json_rows_for_both_archs_and_frame_counts(tmp_path):
    output = tmp_path / "flops.json"
    text = _flops("--arch", "both", "--frames", "2,4", "--output", str(output))
    rows = json.loads(output.read_text())["rows"]
    assert [(r["arch"], r["frames"]) for r in rows] == [
        ("stm", 2),
        ("stm", 4),
        ("tsn", 2),
        ("tsn", 4),
    ]
    for row in rows:
        options = {} if row["arch"] == "stm" else {"use_cstm": False, "use_cmm": False}
        backbone = STMBackbone(18, num_segments=row["frames"], width_multiplier=0.25, **options)
        expected = summarize(STMVideoClassifier(backbone, 5), row["frames"], 32)
        assert row["params"] == expected.trainable_params
        assert row["gmacs"] == expected.multiply_adds / 1e9
        assert row["paper_gmacs"] is None  # the paper gives ResNet-50, 16 x 224^2 only
        assert f"model: {row['arch']}_resnet18  input: {row['frames']}x32x32" in text
    # STM costs more than TSN at each frame count, and twice the frames twice the work.
    assert rows[0]["gmacs"] > rows[2]["gmacs"] and rows[1]["gmacs"] > rows[3]["gmacs"]
    assert abs(rows[1]["gmacs"] / rows[0]["gmacs"] - 2) < 0.01


def test_flops_rejects_bad_frame_lists():
    result = CliRunner().invoke(app, ["bench", "flops", "--frames", "8,x"])
    assert result.exit_code == 2 and "--frames" in result.output


def test_model_steps_on_kept_state_train_as_train_on_batch_does(tmp_path):
    """ModelSteps (JAX, XLA): steps on device-kept state leave the weights train_on_batch does."""
    script = """
import numpy as np, keras
from stm_keras.benchmarks.model import ModelSteps, _compiled
from stm_keras.models import STMBackbone, STMVideoClassifier

def model():
    keras.utils.set_random_seed(1)
    backbone = STMBackbone(18, num_segments=2, width_multiplier=0.25, image_size=32)
    return _compiled(STMVideoClassifier(backbone, 3), jit_compile=True)

rng = np.random.default_rng(0)
clips = keras.ops.convert_to_tensor(rng.normal(size=(2, 2, 32, 32, 3)).astype("float32"))
labels = keras.ops.convert_to_tensor(np.array([0, 2]))
kept, plain = model(), model()
untrained = [np.asarray(w) for w in kept.weights]
steps = ModelSteps(kept, clips, labels, carry_state=True)
assert steps.carries_state
for _ in range(3):
    steps.train()
    plain.train_on_batch(clips, labels)
steps.infer()  # switching kinds writes the trained state back first
steps.close()
for a, b in zip(kept.weights, plain.weights, strict=True):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
moved = [not np.allclose(np.asarray(a), b) for a, b in zip(kept.weights, untrained)]
assert sum(moved) > 10, sum(moved)
print("ok")
"""
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


def _write_trace(log_dir, events) -> None:
    import gzip

    run = log_dir / "plugins" / "profile" / "2026_11_27_12_00_00"
    run.mkdir(parents=True)
    with gzip.open(run / "host.trace.json.gz", "wt", encoding="utf-8") as f:
        json.dump({"traceEvents": events}, f)


def test_device_step_seconds_spans_the_accelerator_kernels_only(tmp_path):
    """Parses a trace this test writes, with fixed timestamps: nothing here is timed."""
    from stm_keras.benchmarks.model import device_kernel_seconds, device_step_seconds

    def process(pid, name):
        return {"ph": "M", "name": "process_name", "pid": pid, "args": {"name": name}}

    def kernel(pid, ts, dur):
        return {"ph": "X", "pid": pid, "tid": 1, "ts": ts, "dur": dur, "name": "k"}

    # The trace's own timestamps (microseconds): the device kernels run from 60 to 65 ms.
    first_kernel_start_us, last_kernel_end_us = 60_000.0, 65_000.0
    kernels_span_s = (last_kernel_end_us - first_kernel_start_us) / 1e6
    gpu = tmp_path / "gpu"
    _write_trace(
        gpu,
        [
            process(1, "/device:GPU:0"),
            process(7, "/host:CPU"),
            kernel(7, 0.0, 50_000.0),  # host work before the step: not counted
            kernel(1, first_kernel_start_us, 1_000.0),
            kernel(1, 62_000.0, 500.0),
            kernel(1, 61_000.0, last_kernel_end_us - 61_000.0),  # the last to end
            kernel(7, 70_000.0, 9_000.0),  # host work after it
        ],
    )
    assert device_step_seconds(str(gpu)) == pytest.approx(kernels_span_s)
    assert device_kernel_seconds(str(gpu)) == pytest.approx(kernels_span_s)  # no gap in it
    cpu = tmp_path / "cpu"
    _write_trace(cpu, [process(7, "/host:CPU"), kernel(7, 0.0, 10.0)])
    assert device_step_seconds(str(cpu)) is None
    assert device_step_seconds(str(tmp_path / "none")) is None
    assert device_kernel_seconds(str(cpu)) is None


def test_device_step_seconds_spans_the_step_module_where_events_name_their_module(tmp_path):
    # JAX's GPU traces (seen on an H200): the batch's conversions run as small modules, then
    # host work, then the step's module, with many more kernels. Only the step counts.
    from stm_keras.benchmarks.model import device_kernel_seconds, device_step_seconds

    def kernel(ts, dur, module):
        args = {"hlo_module": module, "hlo_op": "fusion.1"}
        return {"ph": "X", "pid": 1, "tid": 14, "ts": ts, "dur": dur, "name": "k", "args": args}

    log_dir = tmp_path / "gpu"
    _write_trace(
        log_dir,
        [
            {"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "/device:GPU:0"}},
            kernel(0.0, 10.0, "jit_convert_element_type"),
            # A conversion can wait on the host: long, though it is not the step.
            kernel(3_000.0, 50_000.0, "jit_convert_element_type"),
            kernel(60_000.0, 2_000.0, "jit_train_step"),
            kernel(62_000.0, 1_000.0, "jit_train_step"),
            kernel(64_000.0, 21_000.0, "jit_train_step"),  # the step: 60 to 85 ms
            kernel(70_000.0, 1_000.0, "jit_train_step"),  # overlaps the one before it
            {"ph": "X", "pid": 1, "tid": 18, "ts": 90_000.0, "dur": 1.0, "name": "MemcpyD2H"},
        ],
    )
    assert device_step_seconds(str(log_dir)) == pytest.approx(0.025)
    # Kernels ran 60-62, 62-63 and 64-85 ms (the overlapping one counted once): 24 ms.
    assert device_kernel_seconds(str(log_dir)) == pytest.approx(0.024)


def test_device_step_seconds_reads_tensorflows_xplane_when_there_is_no_trace_json(tmp_path):
    # TensorFlow's profiler writes only the XPlane protobuf.
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from stm_keras.benchmarks.model import device_step_seconds

    space = xplane_pb2.XSpace()
    host = space.planes.add(name="/host:CPU").lines.add(name="tf_Compute", timestamp_ns=0)
    host.events.add(offset_ps=0, duration_ps=10**12)  # a second of host work: not counted
    gpu = space.planes.add(name="/device:GPU:0")
    stream = gpu.lines.add(name="Stream #14", timestamp_ns=2_000_000)  # starts at 2 ms
    stream.events.add(offset_ps=1_000_000_000, duration_ps=500_000_000)  # 3 ms to 3.5 ms
    stream.events.add(offset_ps=4_000_000_000, duration_ps=2_000_000_000)  # 6 ms to 8 ms
    stream.events.add(num_occurrences=7, duration_ps=10**13)  # an aggregate, not timed
    run = tmp_path / "plugins" / "profile" / "2026_11_27_12_00_00"
    run.mkdir(parents=True)
    (run / "host.xplane.pb").write_bytes(space.SerializeToString())
    assert device_step_seconds(str(tmp_path)) == pytest.approx(0.005)
    (run / "host.xplane.pb").write_bytes(
        xplane_pb2.XSpace(planes=[space.planes[0]]).SerializeToString()
    )
    assert device_step_seconds(str(tmp_path)) is None


def test_traced_device_times_go_into_the_report_and_the_table():
    settings = {"depth": 50, "width_multiplier": 1.0, "frames": 8, "image_size": 224}
    settings.update(batch_size=16, dtype_policy="mixed_bfloat16", jit_compile=True)
    settings.update(replicas=1, matmul_size=8192, peak_tflops=None)
    bench = ModelBench(
        train_seconds={"stm": 0.040, "tsn": 0.032},
        infer_seconds={"stm": 0.016, "tsn": 0.012},
        flops_per_clip={"stm": 66e9, "tsn": 65e9},
        matmul_peak_flops=5e14,
        steps=10,
        device="NVIDIA H200 x1",
        backend="jax",
        settings=settings,
        device_seconds={"stm_train": 0.0264, "tsn_train": 0.0220, "stm_infer": 0.0062},
        device_kernel_seconds={"stm_train": 0.0252, "tsn_train": 0.0210, "stm_infer": 0.0061},
    )
    report = bench.to_json()
    assert report["device_ms"] == pytest.approx(
        {"stm_train": 26.4, "tsn_train": 22.0, "stm_infer": 6.2}
    )
    assert report["device_ratio_train"] == pytest.approx(1.2)
    assert "device_ratio_infer" not in report  # TSN's inference was not traced
    assert "accelerator time of one traced step: stm_infer 6.20 ms" in bench.format()
    assert "device_ratio_train 1.200" in bench.format()
    assert report["device_kernel_ms"] == pytest.approx(
        {"stm_train": 25.2, "tsn_train": 21.0, "stm_infer": 6.1}
    )
    assert report["device_kernel_ratio_train"] == pytest.approx(1.2)
    assert "kernel time of the same steps (idle gaps left out): stm_infer 6.10 ms" in (
        bench.format()
    )
    assert "device_ms" not in ModelBench(**{**bench.__dict__, "device_seconds": {}}).to_json()


def _cpu_settings() -> dict:
    """``ModelBench.settings`` of the CPU command in BENCHMARKS.md (R50, 8 x 112 px, batch 2)."""
    settings = {"depth": 50, "width_multiplier": 1.0, "frames": 8, "image_size": 112}
    settings.update(batch_size=2, dtype_policy="float32", jit_compile=False)
    settings.update(replicas=1, matmul_size=2048, peak_tflops=None)
    return settings


def test_module_ratios_divide_each_module_models_time_by_tsns():
    settings = _cpu_settings()
    bench = ModelBench(
        train_seconds={"stm": 0.36, "tsn": 0.32, "cstm_only": 0.33, "cmm_only": 0.35},
        infer_seconds={"stm": 0.095, "tsn": 0.080, "cstm_only": 0.082, "cmm_only": 0.092},
        flops_per_clip={"stm": 16e9, "tsn": 15.8e9, "cstm_only": 15.9e9, "cmm_only": 15.9e9},
        matmul_peak_flops=4.8e11,
        steps=10,
        device="CPU (2 threads)",
        backend="tensorflow",
        settings=settings,
    )
    assert bench.archs == ("stm", "tsn", "cstm_only", "cmm_only")
    ratios = bench.module_ratios()
    assert set(ratios) == {"train", "infer"}
    assert ratios["train"] == pytest.approx({"cstm_only": 0.33 / 0.32, "cmm_only": 0.35 / 0.32})
    assert ratios["infer"] == pytest.approx({"cstm_only": 0.082 / 0.08, "cmm_only": 0.092 / 0.08})
    text = bench.format()
    assert "one module over TSN: CSTM only: train 1.031, inference 1.025; " in text
    assert "CMM only: train 1.094, inference 1.150" in text
    assert bench.to_json()["module_ratios"] == bench.module_ratios()
    two = ModelBench(
        **{
            **bench.__dict__,
            "train_seconds": {"stm": 0.36, "tsn": 0.32},
            "infer_seconds": {"stm": 0.095, "tsn": 0.080},
        }
    )
    assert two.module_ratios() == {} and "module_ratios" not in two.to_json()
    assert "one module over TSN" not in two.format()


def _coverage(n: int, k: int) -> Fraction:
    """P(x_(k) <= median <= x_(n+1-k)) for n independent draws, exactly."""
    return 1 - 2 * sum(Fraction(math.comb(n, j), 2**n) for j in range(k))


def test_median_interval_takes_the_narrowest_order_statistics_that_cover_95_percent():
    # The textbook case: ten values, the 2nd and 9th smallest (coverage 97.9 %).
    assert median_interval([float(v) for v in (5, 3, 9, 1, 7, 2, 8, 4, 10, 6)]) == (2.0, 9.0)
    for n in range(1, 41):
        values = [float(v) for v in range(n, 0, -1)]  # given in reverse order
        interval = median_interval(values)
        covering = [k for k in range(1, n // 2 + 1) if _coverage(n, k) >= Fraction(95, 100)]
        if not covering:
            assert interval is None, n  # n < 6: even min..max covers less than 95 %
            continue
        k = max(covering)
        assert interval == (float(k), float(n + 1 - k)), n
    assert median_interval([1.0] * 5) is None and median_interval([1.0] * 6) == (1.0, 1.0)
    assert median_interval([float(v) for v in range(10)], level=0.8) == (2.0, 7.0)


def test_paired_ratios_divide_each_step_by_tsns_step_of_the_same_pass():
    settings = _cpu_settings()
    # The host slows down step after step; STM is 1.05x TSN within every pass but the last
    # two, and its inference alone has only five steps (too few for an interval).
    load = [1.0, 1.1, 1.3, 1.6, 2.0, 2.5, 3.1, 3.8]
    tsn = [0.30 * x for x in load]
    stm = [0.315 * x for x in load[:6]] + [0.30 * load[6] * 1.2, 0.30 * load[7] * 0.9]
    bench = ModelBench(
        train_seconds={"stm": statistics.median(stm), "tsn": statistics.median(tsn)},
        infer_seconds={"stm": 0.1, "tsn": 0.09},
        flops_per_clip={"stm": 16e9, "tsn": 15.8e9},
        matmul_peak_flops=4.8e11,
        steps=8,
        device="CPU (2 threads)",
        backend="tensorflow",
        settings=settings,
        step_seconds={
            "stm_train": stm,
            "tsn_train": tsn,
            "stm_infer": [0.1] * 5,
            "tsn_infer": [0.09] * 5,
        },
    )
    paired = bench.paired_ratios()
    # Eight ratios: six of 1.05, one 1.2, one 0.9. With eight values only their minimum and
    # maximum bound the median at 95 % (the 2nd and 7th smallest cover 93 %).
    assert paired == {"train": {"stm": pytest.approx({"median": 1.05, "low": 0.9, "high": 1.2})}}
    report = bench.to_json()
    assert report["paired_ratios"]["train"] == paired["train"]
    assert report["paired_ratios"]["confidence"] == 0.95 and "infer" not in report["paired_ratios"]
    assert report["step_ms"]["tsn_train"] == pytest.approx([300 * x for x in load])
    assert "step by step over TSN (median, 95% interval): STM train 1.050 [0.900, 1.200]" in (
        bench.format()
    )
    # Without per-step times there is nothing to pair.
    medians_only = ModelBench(**{**bench.__dict__, "step_seconds": {}})
    assert medians_only.paired_ratios() == {}
    assert "paired_ratios" not in medians_only.to_json() and "step_ms" not in medians_only.to_json()
    assert "step by step" not in medians_only.format()
