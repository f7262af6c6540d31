"""scripts/gpu_figures.sh: BENCHMARKS.md's GPU runs in one command, run here tiny on JAX's CPU
and, as on a JAX-only GPU host, without TensorFlow."""

import json
import os
import pathlib
import subprocess
import sys

SCRIPT = pathlib.Path(__file__).parents[2] / "scripts" / "gpu_figures.sh"
TINY = {
    "DEPTH": "18",
    "FRAMES": "2",
    "IMAGE_SIZE": "32",
    "WIDTH_MULTIPLIER": "0.25",
    "NUM_CLASSES": "3",
    "STEPS": "1",
    "WARMUP": "1",
    "DTYPE_POLICY": "float32",
    "BATCHES": "2",
    "MATMUL_SIZE": "128",
    "PEAK_TFLOPS": "2",
    "STAGES": "conv3",
    "MODULES": "1",
    "KERAS_OPS": "1",
    "BLOCK_ARGS": "--image-scale 0.15 --width-scale 0.125 --calls 2 --repeats 1 --variants tsn,stm",
}


def _without_tensorflow(root: pathlib.Path) -> str:
    """A PYTHONPATH on which importing TensorFlow (or tensorflow-text) fails as if absent."""
    for name in ("tensorflow", "tensorflow_text"):
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError(\"No module named '{name}'\", name={name!r})\n"
        )
    return os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))


def test_the_script_writes_the_model_bench_traces_and_block_probe(tmp_path):
    out = tmp_path / "figures"
    env = {**os.environ, **TINY, "PYTHON": sys.executable, "JAX_PLATFORMS": "cpu"}
    env["PYTHONPATH"] = _without_tensorflow(tmp_path / "no_tensorflow")
    probe = [sys.executable, "-c", "import tensorflow"]
    blocked = subprocess.run(probe, capture_output=True, text=True, env=env)
    assert "No module named 'tensorflow'" in blocked.stderr
    result = subprocess.run(
        ["bash", str(SCRIPT), str(out)], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "model-b2.json").read_text())
    assert report["backend"] == "jax"
    settings = report["settings"]
    assert (settings["depth"], settings["frames"], settings["image_size"]) == (18, 2, 32)
    assert settings["batch_size"] == 2 and settings["matmul_size"] == 128
    assert settings["jit_compile"] is True and settings["peak_tflops"] == 2
    # Steps after the first run on state kept on the device (ModelSteps); a CPU has no
    # accelerator plane in its traces, so no device times.
    assert settings["timing"] == "carried state"
    assert "device_ms" not in report and "device_kernel_ms" not in report
    assert all(value > 0 for value in report["infer_clips_per_s"].values())
    # MODULES=1 and KERAS_OPS=1: bench model --modules --keras-ops
    archs = ("stm", "tsn", "cstm_only", "cmm_only", "stm_keras_ops", "tsn_keras_ops")
    assert set(report["mfu"]) == {f"{a}_{m}" for a in archs for m in ("train", "infer")}
    assert set(report["module_ratios"]["train"]) == {"cstm_only", "cmm_only"}
    for arch in archs:
        for mode in ("train", "infer"):
            assert list((out / "traces-b2" / arch / mode).glob("plugins/profile/*/*.trace.json.gz"))
    rows = json.loads((out / "blocks.json").read_text())["rows"]
    assert {(row["stage"], row["variant"]) for row in rows} == {("conv3", "tsn"), ("conv3", "stm")}
    assert f"figures: {out}" in result.stdout
