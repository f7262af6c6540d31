"""ChannelwiseTemporalConv: harness checks, the paper's init, the tap convention, both modes."""

import numpy as np
import pytest
import tensorflow as tf
from layer_harness import run_layer_test

from stm_keras.layers import ChannelwiseTemporalConv, temporal_kernel_init

FRAMES = 3
CLIPS = 2


def _clips(channels: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(CLIPS * FRAMES, 4, 5, channels)).astype("float32")


def _reference(x: np.ndarray, kernel: np.ndarray, mode: str) -> np.ndarray:
    """out[t] = sum_k k[k] x[t-1+k] per clip, zero outside the clip (numpy loops)."""
    clips = x.reshape(CLIPS, FRAMES, *x.shape[1:])
    out = np.zeros(clips.shape[:-1] + (kernel.shape[-1],), dtype="float64")
    for t in range(FRAMES):
        for tap in range(3):
            source = t - 1 + tap
            if 0 <= source < FRAMES:
                frame = clips[:, source]
                out[:, t] += frame * kernel[tap] if mode == "channelwise" else frame @ kernel[tap]
    return out.reshape(x.shape[:-1] + (kernel.shape[-1],))


@pytest.mark.parametrize("mode", ["channelwise", "full"])
def test_layer_harness(mode, tmp_path):
    layer = run_layer_test(
        ChannelwiseTemporalConv,
        {"num_segments": FRAMES, "mode": mode, "temporal_init": "shift"},
        _clips(),
        (CLIPS * FRAMES, 4, 5, 8),
        tmp_path,
        expected_num_trainable_weights=1,
    )
    expected = (3, 8) if mode == "channelwise" else (3, 8, 8)
    assert tuple(layer.temporal_kernel.shape) == expected


def test_shift_init_is_the_papers():
    kernel = temporal_kernel_init(8, "shift")
    np.testing.assert_array_equal(kernel[:, :2], [[1, 1], [0, 0], [0, 0]])
    np.testing.assert_array_equal(kernel[:, 2:6], [[0] * 4, [1] * 4, [0] * 4])
    np.testing.assert_array_equal(kernel[:, 6:], [[0, 0], [0, 0], [1, 1]])
    layer = ChannelwiseTemporalConv(FRAMES)
    layer.build((None, 4, 5, 8))
    np.testing.assert_array_equal(np.asarray(layer.temporal_kernel), kernel)


def test_shift_init_moves_quarters_between_neighbouring_frames_within_a_clip():
    x = _clips()
    y = np.asarray(ChannelwiseTemporalConv(FRAMES)(x)).reshape(CLIPS, FRAMES, 4, 5, 8)
    clips = x.reshape(CLIPS, FRAMES, 4, 5, 8)
    # [1, 0, 0]: output frame t holds frame t-1; the first frame of each clip gets zeros,
    # not the previous clip's last frame.
    np.testing.assert_array_equal(y[:, 1:, ..., :2], clips[:, :-1, ..., :2])
    np.testing.assert_array_equal(y[:, 0, ..., :2], 0.0)
    np.testing.assert_array_equal(y[..., 2:6], clips[..., 2:6])
    np.testing.assert_array_equal(y[:, :-1, ..., 6:], clips[:, 1:, ..., 6:])
    np.testing.assert_array_equal(y[:, -1, ..., 6:], 0.0)


@pytest.mark.parametrize("mode", ["channelwise", "full"])
def test_identity_init_is_the_identity(mode):
    x = _clips()
    y = ChannelwiseTemporalConv(FRAMES, mode=mode, temporal_init="identity")(x)
    np.testing.assert_allclose(np.asarray(y), x, atol=1e-6)


@pytest.mark.parametrize("implementation", ["slice", "conv"])
@pytest.mark.parametrize("mode", ["channelwise", "full"])
def test_matches_reference_with_random_kernel(mode, implementation):
    x = _clips(channels=6, seed=1)
    layer = ChannelwiseTemporalConv(FRAMES, mode=mode, implementation=implementation)
    layer.build(x.shape)
    kernel = np.random.default_rng(2).normal(size=layer.temporal_kernel.shape).astype("float32")
    layer.temporal_kernel.assign(kernel)
    np.testing.assert_allclose(np.asarray(layer(x)), _reference(x, kernel, mode), atol=1e-5)


def test_auto_implementation_under_xla_matches_reference():
    x = _clips(channels=6, seed=3)
    layer = ChannelwiseTemporalConv(FRAMES)
    layer.build(x.shape)
    kernel = np.random.default_rng(4).normal(size=(3, 6)).astype("float32")
    layer.temporal_kernel.assign(kernel)
    compiled = tf.function(layer.call, jit_compile=True)
    np.testing.assert_allclose(
        np.asarray(compiled(x)), _reference(x, kernel, "channelwise"), atol=1e-5
    )


def test_rejects_unknown_options():
    with pytest.raises(ValueError, match="temporal_init"):
        ChannelwiseTemporalConv(FRAMES, temporal_init="zeros")
    with pytest.raises(ValueError, match="mode"):
        ChannelwiseTemporalConv(FRAMES, mode="grouped")
    with pytest.raises(ValueError, match="implementation"):
        ChannelwiseTemporalConv(FRAMES, implementation="cuda")
