"""STMBlock: harness checks for each variant, and the modules' effect on the block."""

import numpy as np
import pytest
from layer_harness import run_layer_test

from stm_keras.layers import STMBlock

FRAMES = 2
CLIPS = 2


def _features(channels: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(CLIPS * FRAMES, 6, 6, channels)).astype("float32")


VARIANTS = {
    "bottleneck": ({"filters": 4}, (6, 6, 16)),
    "bottleneck-stride2-pytorch": ({"filters": 8, "strides": 2}, (3, 3, 32)),
    "bottleneck-stride2-caffe": ({"filters": 8, "strides": 2, "style": "caffe"}, (3, 3, 32)),
    "concat-full-identity": (
        {"filters": 4, "fusion": "concat", "temporal_conv": "full", "temporal_init": "identity"},
        (6, 6, 16),
    ),
    "basic-stride2": ({"filters": 8, "strides": 2, "bottleneck": False}, (3, 3, 8)),
    "cstm-only": ({"filters": 4, "use_cmm": False}, (6, 6, 16)),
    "cmm-only": ({"filters": 4, "use_cstm": False}, (6, 6, 16)),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_layer_harness(variant, tmp_path):
    kwargs, out_shape = VARIANTS[variant]
    run_layer_test(
        STMBlock,
        {"num_segments": FRAMES, **kwargs},
        _features(),
        (CLIPS * FRAMES, *out_shape),
        tmp_path,
    )


def _sublayer_names(**kwargs) -> set[str]:
    block = STMBlock(num_segments=FRAMES, name="b", **kwargs)
    block.build((None, 6, 6, 16))
    return {layer.name for layer in block.block_layers.values()}


def test_switches_add_exactly_their_modules():
    plain = _sublayer_names(filters=4, use_cstm=False, use_cmm=False)
    assert "b_2_temporal" not in plain and "b_cmm" not in plain
    assert _sublayer_names(filters=4, use_cmm=False) - plain == {"b_2_temporal"}
    assert _sublayer_names(filters=4, use_cstm=False) - plain == {"b_cmm", "b_fuse"}
    concat = _sublayer_names(filters=4, fusion="concat")
    assert concat - plain == {"b_2_temporal", "b_cmm", "b_fuse", "b_fuse_conv"}


def test_temporal_modules_mix_frames_and_plain_block_does_not():
    x = _features()
    swapped = x.reshape(CLIPS, FRAMES, 6, 6, 16)[:, ::-1].reshape(x.shape)
    for use_modules, mixes in ((True, True), (False, False)):
        block = STMBlock(4, FRAMES, use_cstm=use_modules, use_cmm=use_modules)
        y = np.asarray(block(x, training=False)).reshape(CLIPS, FRAMES, -1)
        y_swapped = np.asarray(block(swapped, training=False)).reshape(CLIPS, FRAMES, -1)
        # Frame-wise processing commutes with reordering the frames; STM's modules do not.
        assert np.allclose(y[:, ::-1], y_swapped, atol=1e-5) != mixes


def test_rejects_unknown_fusion():
    with pytest.raises(ValueError, match="fusion"):
        STMBlock(4, FRAMES, fusion="product")
