"""`stm-keras bench flops` (table, JSON rows) and `bench model` (alias `step-time`), tiny."""

import json
import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

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


def test_model_bench_runs_on_jax_without_tensorflow(tmp_path):
    """`python -m stm_keras.cli.bench model` on a JAX-only GPU host (TensorFlow absent)."""
    output = tmp_path / "jax.json"
    script = (
        "import runpy, sys\n"
        "for blocked in ('tensorflow', 'tensorflow_text'):\n"
        "    sys.modules[blocked] = None  # importing them now raises ModuleNotFoundError\n"
        "sys.argv = ['bench', *sys.argv[1:]]\n"
        "runpy.run_module('stm_keras.cli.bench', run_name='__main__')\n"
    )
    args = [*MODEL_TINY, "--jit-compile", "--matmul-size", "128", "--output", str(output)]
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", script, "model", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["backend"] == "jax" and report["settings"]["jit_compile"] is True
    assert all(value > 0 for value in report["infer_clips_per_s"].values())
