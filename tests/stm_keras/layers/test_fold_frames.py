"""FoldFrames: clips [N, T, H, W, C] to frames [N*T, H, W, C], clip-major."""

import numpy as np
import pytest
from layer_harness import run_layer_test

from stm_keras.layers import FoldFrames


def test_layer_harness(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 4, 3)).astype("float32")
    layer = run_layer_test(FoldFrames, {}, x, (6, 4, 4, 3), tmp_path)
    np.testing.assert_array_equal(np.asarray(layer(x))[3:6], x[1])


def test_needs_a_known_frame_count():
    with pytest.raises(ValueError, match="known T"):
        FoldFrames().build((None, None, 4, 4, 3))
