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
    # The models on Keras's ops differ from the others on JAX only; the module models are
    # timed on TensorFlow in tests/cli/test_bench_models.py, and their switch is checked below.
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
    # KERAS_OPS=1: bench model --keras-ops
    archs = ("stm", "tsn", "stm_keras_ops", "tsn_keras_ops")
    assert set(report["mfu"]) == {f"{a}_{m}" for a in archs for m in ("train", "infer")}
    assert "module_ratios" not in report
    for arch in archs:
        for mode in ("train", "infer"):
            assert list((out / "traces-b2" / arch / mode).glob("plugins/profile/*/*.trace.json.gz"))
    rows = json.loads((out / "blocks.json").read_text())["rows"]
    assert {(row["stage"], row["variant"]) for row in rows} == {("conv3", "tsn"), ("conv3", "stm")}
    assert f"figures: {out}" in result.stdout


def test_the_script_passes_each_setting_on(tmp_path):
    """The commands the script runs for its settings, read from an interpreter that logs them."""
    log = tmp_path / "commands.log"
    logger = tmp_path / "python"
    logger.write_text(f'#!/usr/bin/env bash\necho "$*" >> {log}\n')
    logger.chmod(0o755)
    settings = {"BATCHES": "4 8", "MODULES": "1", "KERAS_OPS": "1", "STAGES": "conv2,conv5"}
    settings |= {"BLOCK_ARGS": "--calls 3 --repeats 2", "BLOCK_SECONDS": "60", "STEPS": "7"}
    env = {**os.environ, **settings, "PYTHON": str(logger)}
    out = tmp_path / "figures"
    result = subprocess.run(
        ["bash", str(SCRIPT), str(out)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    model_4, model_8, blocks = log.read_text().splitlines()
    for batch, line in ((4, model_4), (8, model_8)):
        assert line.startswith(
            "-m stm_keras.cli.bench model --depth 50 --frames 8 --image-size 224"
        )
        assert f"--batch-size {batch} --steps 7 --warmup 2 --dtype-policy mixed_bfloat16" in line
        assert "--jit-compile --peak-tflops 989 --modules --keras-ops" in line
        assert f"--trace-dir {out}/traces-b{batch} --output {out}/model-b{batch}.json" in line
        assert "--matmul-size" not in line  # the bench's default unless MATMUL_SIZE is set
    assert blocks.endswith(
        "block_variants.py --batch-size 4 --frames 8 --stages conv2,conv5 --dtype-policy "
        f"mixed_bfloat16 --deadline 60 --calls 3 --repeats 2 --output {out}/blocks.json"
    )
    # Without MODULES and KERAS_OPS neither flag is passed.
    log.unlink()
    env = {**env, "MODULES": "0", "KERAS_OPS": "0", "BATCHES": "16"}
    subprocess.run(["bash", str(SCRIPT), str(out)], check=True, capture_output=True, env=env)
    model_16 = log.read_text().splitlines()[0]
    assert "--batch-size 16" in model_16
    assert "--modules" not in model_16 and "--keras-ops" not in model_16
