"""The STM layers run under the JAX backend (in a fresh interpreter)."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import keras
    import numpy as np
    assert keras.backend.backend() == "jax", keras.backend.backend()
    from stm_keras.layers import CMM, ChannelwiseTemporalConv, STMBlock

    x = np.random.default_rng(0).normal(size=(4, 6, 6, 16)).astype("float32")
    clips = x.reshape(2, 2, 6, 6, 16)
    y = np.asarray(ChannelwiseTemporalConv(2)(x)).reshape(2, 2, 6, 6, 16)
    np.testing.assert_array_equal(y[:, 1, ..., :4], clips[:, 0, ..., :4])
    np.testing.assert_array_equal(y[:, 0, ..., 12:], clips[:, 1, ..., 12:])
    assert CMM(2, strides=2)(x).shape == (4, 3, 3, 16)
    assert STMBlock(4, 2, strides=2)(x).shape == (4, 3, 3, 16)
    # Training mode: the package's BatchNormalization runs its JAX kernel (jax_batch_norm_train).
    assert STMBlock(4, 2, strides=2)(x, training=True).shape == (4, 3, 3, 16)
    print("JAX-OK")
    """
)


def test_layers_run_under_jax():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "JAX-OK" in result.stdout
