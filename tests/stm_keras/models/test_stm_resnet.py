"""STM-ResNet and TSN-ResNet builders: harness checks, baseline equivalence, frame order."""

import keras
import numpy as np
import pytest
from layer_harness import run_model_test

from stm_keras.models import (
    build_model,
    build_stm_resnet,
    build_tsn_resnet,
    pooled_features_model,
    transfer_weights,
)

FRAMES = 4
SIZE = 32
TINY = {"num_classes": 5, "num_segments": FRAMES, "width_multiplier": 0.25}


def _clips(clips: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(clips, FRAMES, SIZE, SIZE, 3)).astype("float32")


@pytest.fixture(scope="module")
def stm50():
    return build_stm_resnet(50, **TINY, image_size=SIZE)


@pytest.fixture(scope="module")
def tsn50():
    return build_tsn_resnet(50, **TINY, image_size=SIZE)


def test_stm_resnet18_harness(tmp_path):
    model = run_model_test(build_stm_resnet, {"depth": 18, **TINY}, _clips(), (2, 5), tmp_path)
    assert model.get_layer("conv3_block1_cmm").strides == 2  # basic blocks stride the 3x3


def test_tsn_resnet50_harness(tmp_path):
    run_model_test(
        build_tsn_resnet, {"depth": 50, **TINY, "image_size": SIZE}, _clips(), (2, 5), tmp_path
    )


def test_stm_and_tsn_share_every_tsn_layer_name(stm50, tsn50):
    stm_names = {layer.name for layer in stm50.layers}
    tsn_names = {layer.name for layer in tsn50.layers}
    assert tsn_names - stm_names == set()
    extra = stm_names - tsn_names
    assert len([n for n in extra if n.endswith("_2_temporal")]) == 16
    assert len([n for n in extra if n.endswith("_cmm")]) == 16
    assert len([n for n in extra if n.endswith("_fuse")]) == 16
    assert len(extra) == 48


def test_stm_with_identity_cstm_and_no_cmm_equals_tsn(tsn50):
    stm = build_stm_resnet(50, **TINY, image_size=SIZE, temporal_init="identity", use_cmm=False)
    copied = transfer_weights(tsn50, stm)
    assert "conv5_block3_2_conv" in copied and "classifier" in copied
    x = _clips()
    np.testing.assert_allclose(
        np.asarray(stm(x, training=False)), np.asarray(tsn50(x, training=False)), atol=1e-5
    )


def test_frame_order_changes_stm_output_but_not_tsn(stm50, tsn50):
    x = _clips()
    reversed_frames = x[:, ::-1]
    stm_out = np.asarray(stm50(x, training=False))
    stm_reversed = np.asarray(stm50(reversed_frames, training=False))
    assert np.abs(stm_out - stm_reversed).max() > 1e-4 * np.abs(stm_out).max()
    np.testing.assert_allclose(
        np.asarray(tsn50(x, training=False)),
        np.asarray(tsn50(reversed_frames, training=False)),
        atol=1e-6,
    )


def test_pooled_features_are_per_frame(stm50):
    features = pooled_features_model(stm50)(_clips())
    assert tuple(features.shape) == (2 * FRAMES, 512)


def test_blocks_per_stage_replaces_leading_blocks_of_listed_stages():
    model = build_stm_resnet(50, **TINY, stm_stages=(3, 5), blocks_per_stage=1)
    temporal = sorted(x.name for x in model.layers if x.name.endswith("_temporal"))
    assert temporal == ["conv3_block1_2_temporal", "conv5_block1_2_temporal"]


def test_ablation_switches_build_their_modules():
    only_cmm = build_stm_resnet(18, **TINY, use_cstm=False, stm_stages=(5,))
    names = {x.name for x in only_cmm.layers}
    assert "conv5_block2_cmm" in names
    assert not any(n.endswith("_temporal") for n in names)
    full = build_stm_resnet(
        18, **TINY, temporal_conv="full", fusion="concat", stm_stages=(2,), blocks_per_stage=1
    )
    assert tuple(full.get_layer("conv2_block1_1_temporal").temporal_kernel.shape) == (3, 16, 16)
    assert "conv2_block1_fuse_conv" in {x.name for x in full.layers}


def test_build_model_dispatches_and_names_bad_arch():
    assert build_model("tsn", depth=18, **TINY).name == "tsn_resnet18"
    with pytest.raises(ValueError, match="'i3d'"):
        build_model("i3d", depth=18)
    with pytest.raises(ValueError, match="depth"):
        build_stm_resnet(depth=42)


def test_logits_stay_float32_in_mixed_precision_training(tmp_path):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = build_stm_resnet(18, **TINY, image_size=SIZE)
    finally:
        keras.config.set_dtype_policy(previous)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    loss = model.train_on_batch(_clips(), np.array([1, 3]))
    assert np.isfinite(loss)
    assert model.get_layer("conv2_block1_1_temporal").compute_dtype == "float16"
