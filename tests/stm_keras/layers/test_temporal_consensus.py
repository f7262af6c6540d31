"""TemporalConsensus: per-frame values averaged per clip."""

import numpy as np
from layer_harness import run_layer_test

from stm_keras.layers import TemporalConsensus


def test_layer_harness_and_average(tmp_path):
    x = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")
    layer = run_layer_test(TemporalConsensus, {"num_segments": 3}, x, (2, 5), tmp_path)
    np.testing.assert_allclose(np.asarray(layer(x)), x.reshape(2, 3, 5).mean(axis=1), atol=1e-6)
