"""scripts/block_variants.py: the per-block overhead probe runs and its rewrites match the layer."""

import json
import os
import pathlib
import subprocess
import sys

SCRIPT = pathlib.Path(__file__).parents[2] / "scripts" / "block_variants.py"


def test_block_variants_times_each_variant_and_checks_the_rewrites(tmp_path, run_script):
    output = tmp_path / "blocks.json"
    variants = "tsn,stm,v_same,v_cmm_conv,v_fold,v_stm_matmul,v_bn_one_pass"
    args = ["--batch-size", "1", "--frames", "4", "--stages", "conv3", "--variants", variants]
    args += ["--image-scale", "0.15", "--width-scale", "0.125", "--calls", "2", "--repeats", "1"]
    args += ["--dtype-policy", "float32", "--output", str(output)]
    result = run_script("block_variants", args, backend="jax")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {row["variant"]: row for row in json.loads(output.read_text())["rows"]}
    assert set(rows) == set(variants.split(","))
    # A 16-channel bottleneck on 4 x 4 maps of 4 frames: the shape the probe built.
    assert rows["stm"]["shape"] == [4, 4, 4, 64]
    for row in rows.values():
        assert row["infer_ms"] > 0 and row["train_ms"] > 0
        assert row["infer_vs_tsn"] == row["infer_ms"] / rows["tsn"]["infer_ms"]
    # Every STM rewrite computes the layer's function on the same weights (float32).
    for name in ("v_same", "v_cmm_conv", "v_fold", "v_stm_matmul", "v_bn_one_pass"):
        assert rows[name]["rel_error_vs_stm"] < 1e-5, (name, rows[name])
        # ... and the same train step: the loss on batch statistics matches too.
        assert abs(rows[name]["train_loss"] / rows["stm"]["train_loss"] - 1) < 1e-5, name
    assert rows["tsn"]["rel_error_vs_stm"] is None
    assert rows["tsn"]["train_loss"] != rows["stm"]["train_loss"]


def test_one_pass_moments_match_the_exact_statistics_and_their_gradients(load_script):
    import keras
    import numpy as np
    import tensorflow as tf

    script = load_script("block_variants")
    shape, axes = (4, 5, 6, 7), (0, 1, 2)
    # A large mean against a small spread: E[x^2] - E[x]^2 without a shift cancels to noise.
    rng = np.random.default_rng(1)
    values = (rng.normal(3000.0, 0.05, shape) + np.linspace(0, 1, shape[-1])).astype("float32")
    exact = values.astype("float64")
    mean, variance = script.one_pass_moments(tf.constant(values), axes)
    assert mean.shape == variance.shape == (shape[-1],)
    np.testing.assert_allclose(mean, exact.mean(axes), rtol=1e-6)
    np.testing.assert_allclose(variance, exact.var(axes), rtol=2e-3)
    unshifted = np.mean(np.square(values), axes) - np.square(np.mean(values, axes))
    assert np.max(np.abs(unshifted - exact.var(axes)) / exact.var(axes)) > 0.5  # hard data
    # Gradients of a function of the statistics equal those of Keras's two-pass moments.
    a = tf.constant(np.linspace(-1, 1, shape[-1]).astype("float32"))
    b = tf.constant(np.linspace(0.5, 1.5, shape[-1]).astype("float32"))
    x = tf.constant(rng.normal(2.0, 3.0, shape).astype("float32"))
    grads = []
    for moments in (script.one_pass_moments, keras.ops.moments):
        with tf.GradientTape() as tape:
            tape.watch(x)
            mean, variance = moments(x, axes)
            objective = tf.reduce_sum(a * mean + b * variance)
        grads.append(tape.gradient(objective, x).numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_one_pass_variant_replaces_the_statistics_of_every_bn_of_the_block():
    # On JAX, where the probe runs (TensorFlow's BNs run a fused kernel and no moments).
    code = f"""
import importlib.util, numpy as np
spec = importlib.util.spec_from_file_location("block_variants", {str(SCRIPT)!r})
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)
from stm_keras.layers import STMBlock
calls = []
exact = script.one_pass_moments
script.one_pass_moments = lambda x, axes: calls.append(axes) or exact(x, axes)
block = STMBlock(4, 2)
block.build((4, 6, 6, 16))
assert script.use_one_pass_moments(block) == 4  # 1_bn, 2_bn, 3_bn and CMM's reduce BN
block(np.random.default_rng(0).normal(size=(4, 6, 6, 16)).astype("float32"), training=True)
assert len(calls) == 4, calls
print("ONE-PASS-OK")
"""
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ONE-PASS-OK" in result.stdout
