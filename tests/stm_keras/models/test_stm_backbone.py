"""STMBackbone (STM- and TSN-ResNet): harness checks, config, baseline equivalence, frame order,
feature extraction and weight transfer."""

import inspect

import keras
import numpy as np
import pytest
from layer_harness import run_model_test

from stm_keras.models import STMBackbone, STMVideoClassifier, transfer_weights
from stm_keras.models.stm_backbone import RESNET_LAYOUTS

FRAMES = 4
SIZE = 32
TINY = {"num_segments": FRAMES, "width_multiplier": 0.25}
TSN = {"use_cstm": False, "use_cmm": False}
NUM_CLASSES = 5


def _clips(clips: int = 2, seed: int = 0, size: int = SIZE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(clips, FRAMES, size, size, 3)).astype("float32")


def _classifier(depth: int, num_classes: int = NUM_CLASSES, **options) -> STMVideoClassifier:
    return STMVideoClassifier(STMBackbone(depth, **TINY, **options), num_classes=num_classes)


def _weighted_layer_names(backbone: STMBackbone) -> set[str]:
    return {layer.name for layer in backbone.layers if layer.weights}


@pytest.fixture(scope="module")
def stm50():
    return _classifier(50, image_size=SIZE)


@pytest.fixture(scope="module")
def tsn50():
    return _classifier(50, image_size=SIZE, **TSN)


def test_stm_resnet18_harness(tmp_path):
    model = run_model_test(_classifier, {"depth": 18}, _clips(), (2, NUM_CLASSES), tmp_path)
    # Basic blocks stride the 3x3 conv, so CMM strides with it.
    assert model.backbone.get_layer("conv3_block1_cmm").strides == 2


def test_tsn_resnet50_harness(tmp_path):
    model = run_model_test(
        _classifier, {"depth": 50, "image_size": SIZE, **TSN}, _clips(), (2, NUM_CLASSES), tmp_path
    )
    assert model.backbone.is_tsn


def test_stm_and_tsn_share_every_tsn_layer_name(stm50, tsn50):
    stm_names = {layer.name for layer in stm50.backbone.layers}
    tsn_names = {layer.name for layer in tsn50.backbone.layers}
    assert tsn_names - stm_names == set()
    extra = stm_names - tsn_names
    assert len([n for n in extra if n.endswith("_2_temporal")]) == 16
    assert len([n for n in extra if n.endswith("_cmm")]) == 16
    assert len([n for n in extra if n.endswith("_fuse")]) == 16
    assert len(extra) == 48
    assert not stm50.backbone.is_tsn and tsn50.backbone.is_tsn


def test_stm_with_identity_cstm_and_no_cmm_equals_tsn(tsn50):
    stm = _classifier(50, image_size=SIZE, temporal_init="identity", use_cmm=False)
    report = transfer_weights(tsn50, stm)
    # Recurses into the nested backbone and copies the head too.
    assert "conv5_block3_2_conv" in report.copied and "classifier" in report.copied
    assert report.mismatched == []
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


def test_pooled_features_are_per_frame_and_averaged_per_clip(stm50):
    backbone = stm50.backbone
    x = _clips()
    frame_features = np.asarray(backbone.feature_extractor(["avg_pool"])(x)["avg_pool"])
    assert frame_features.shape == (2 * FRAMES, 512)
    clip_features = np.asarray(backbone(x, training=False))
    assert clip_features.shape == (2, 512) and backbone.num_features == 512
    np.testing.assert_allclose(
        clip_features, frame_features.reshape(2, FRAMES, 512).mean(axis=1), rtol=1e-5, atol=1e-6
    )


def test_blocks_per_stage_replaces_leading_blocks_of_listed_stages():
    backbone = STMBackbone(50, **TINY, stm_stages=(3, 5), blocks_per_stage=1)
    temporal = sorted(x.name for x in backbone.layers if x.name.endswith("_temporal"))
    assert temporal == ["conv3_block1_2_temporal", "conv5_block1_2_temporal"]
    cmm = sorted(x.name for x in backbone.layers if x.name.endswith("_cmm"))
    assert cmm == ["conv3_block1_cmm", "conv5_block1_cmm"]


def test_ablation_switches_build_their_modules():
    only_cmm = STMBackbone(18, **TINY, use_cstm=False, stm_stages=(5,))
    names = {x.name for x in only_cmm.layers}
    assert "conv5_block2_cmm" in names
    assert not any(n.endswith("_temporal") for n in names)
    full = STMBackbone(
        18, **TINY, temporal_conv="full", fusion="concat", stm_stages=(2,), blocks_per_stage=1
    )
    assert tuple(full.get_layer("conv2_block1_1_temporal").temporal_kernel.shape) == (3, 16, 16)
    assert "conv2_block1_fuse_conv" in {x.name for x in full.layers}
    tsn = STMBackbone(18, **TINY, **TSN)
    assert tsn.is_tsn
    assert not any(n.endswith(("_temporal", "_cmm", "_fuse")) for n in _weighted_layer_names(tsn))


# Every option at a value other than its default (the switches stay on so that every module
# is built), so a config that dropped or defaulted one would not round-trip.
NON_DEFAULT_OPTIONS = {
    "num_segments": 2,
    "width_multiplier": 0.0625,
    "stm_stages": [3, 5],
    "blocks_per_stage": 1,
    "fusion": "concat",
    "temporal_conv": "full",
    "temporal_init": "identity",
    "use_cstm": True,
    "use_cmm": True,
    "cmm_reduction": 4,
    "style": "caffe",
    "image_size": [32, 48],
}


@pytest.mark.parametrize("depth", sorted(RESNET_LAYOUTS))
def test_config_round_trips_for_every_depth(depth):
    backbone = STMBackbone(depth, **NON_DEFAULT_OPTIONS, name=f"tiny{depth}")
    config = backbone.get_config()
    signature = inspect.signature(STMBackbone.__init__).parameters
    options = set(signature) - {"self", "kwargs"}
    assert set(config) == options | {"name", "trainable"}
    assert {key: config[key] for key in NON_DEFAULT_OPTIONS} == NON_DEFAULT_OPTIONS
    assert config["depth"] == depth and config["name"] == f"tiny{depth}"
    revived = STMBackbone.from_config(config)
    assert revived.get_config() == config
    assert [x.name for x in revived.layers] == [x.name for x in backbone.layers]
    assert [tuple(w.shape) for w in revived.weights] == [tuple(w.shape) for w in backbone.weights]
    assert tuple(revived.input.shape) == (None, 2, 32, 48, 3)
    bottleneck, blocks = RESNET_LAYOUTS[depth]
    assert len(backbone.block_names()) == sum(blocks)
    assert ("conv2_block1_3_conv" in {x.name for x in backbone.layers}) == bottleneck


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("depth", 42),
        ("fusion", "x"),
        ("stm_stages", (7,)),
        ("temporal_conv", "x"),
        ("temporal_init", "x"),
        ("style", "x"),
        ("num_segments", 0),
        ("width_multiplier", 0.0),
        ("blocks_per_stage", -1),
    ],
)
def test_invalid_options_raise_naming_the_option(option, value):
    options = {"depth": 18, "num_segments": 2, "width_multiplier": 0.125, option: value}
    with pytest.raises(ValueError, match=option):
        STMBackbone(**options)


def test_feature_extractor_returns_the_named_layers_per_frame():
    backbone = STMBackbone(18, num_segments=FRAMES, width_multiplier=0.125)
    # Block names stand for their "_out" layer; other names are layer names.
    layers = {
        "conv2_block1": "conv2_block1_out",
        "conv3_block1_cmm": "conv3_block1_cmm",
        "conv3_block1_1_relu": "conv3_block1_1_relu",  # the CSTM branch of a basic block
        "conv5_block2": "conv5_block2_out",
        "avg_pool": "avg_pool",
    }
    extractor = backbone.feature_extractor(list(layers))
    x = _clips(size=64)
    features = {name: np.asarray(value) for name, value in extractor(x).items()}
    assert set(features) == set(layers)
    outputs = [backbone.get_layer(name).output for name in layers.values()]
    reference = keras.Model(backbone.input, outputs)
    for name, expected in zip(layers, reference(x), strict=True):
        np.testing.assert_array_equal(features[name], np.asarray(expected))
    assert features["conv2_block1"].shape == (2 * FRAMES, 16, 16, 8)
    assert features["conv3_block1_cmm"].shape == (2 * FRAMES, 8, 8, 16)
    # Block outputs are per frame: their spatial mean is the pooled per-frame feature, whose
    # mean over each clip's frames is the backbone's output.
    np.testing.assert_allclose(
        features["conv5_block2"].mean(axis=(1, 2)), features["avg_pool"], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        features["avg_pool"].reshape(2, FRAMES, -1).mean(axis=1),
        np.asarray(backbone(x, training=False)),
        rtol=1e-5,
        atol=1e-6,
    )
    # The extractor shares the backbone's weights.
    assert extractor.get_layer("conv1_conv") is backbone.get_layer("conv1_conv")


def test_block_names_and_unknown_feature_name():
    backbone = STMBackbone(18, num_segments=2, width_multiplier=0.125)
    expected = [f"conv{stage}_block{index}" for stage in (2, 3, 4, 5) for index in (1, 2)]
    assert backbone.block_names() == expected
    with pytest.raises(ValueError, match="'conv9_block1'.*conv2_block1, conv2_block2, conv3"):
        backbone.feature_extractor(["conv2_block1", "conv9_block1"])


def test_tsn_and_stm_backbones_transfer_by_name_both_ways():
    stm = STMBackbone(18, **TINY)
    tsn = STMBackbone(18, **TINY, **TSN)
    report = transfer_weights(tsn, stm)
    assert set(report.copied) == _weighted_layer_names(tsn) and report.mismatched == []
    for name in report.copied:
        for ours, theirs in zip(
            stm.get_layer(name).weights, tsn.get_layer(name).weights, strict=True
        ):
            np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    back = transfer_weights(stm, STMBackbone(18, **TINY, **TSN))
    # STM-only layers (temporal convs, CMMs) have no counterpart in TSN.
    assert set(back.copied) == _weighted_layer_names(tsn)


def test_transfer_raises_on_mismatched_shapes_unless_skipped():
    source = _classifier(18, num_classes=3, image_size=SIZE)
    target = _classifier(18, num_classes=NUM_CLASSES, image_size=SIZE)
    with pytest.raises(ValueError, match="classifier"):
        transfer_weights(source, target)
    head = np.array(target.get_layer("classifier").kernel)
    report = transfer_weights(source, target, skip_mismatched=True)
    assert report.mismatched == ["classifier"]
    assert set(report.copied) == _weighted_layer_names(source.backbone)
    np.testing.assert_array_equal(np.asarray(target.get_layer("classifier").kernel), head)
    x = _clips()
    np.testing.assert_array_equal(
        np.asarray(target.backbone(x, training=False)),
        np.asarray(source.backbone(x, training=False)),
    )


def test_logits_stay_float32_in_mixed_precision_training():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = _classifier(18, image_size=SIZE)
    finally:
        keras.config.set_dtype_policy(previous)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[],
    )
    loss = model.train_on_batch(_clips(), np.array([1, 3]))
    assert np.isfinite(loss)
    assert model.backbone.get_layer("conv2_block1_1_temporal").compute_dtype == "float16"
    assert keras.backend.standardize_dtype(model(_clips()).dtype) == "float32"


def test_transfer_between_different_stm_layouts_copies_only_same_named_layers():
    # CMMs' sublayers share their names across blocks ("reduce_conv"); only top-level layers
    # of the backbones may be matched, or one block's CMM would be copied into another's.
    source = STMBackbone(18, **TINY, stm_stages=(2,))
    target = STMBackbone(18, **TINY, stm_stages=(5,))
    cmm = [np.array(w) for w in target.get_layer("conv5_block2_cmm").weights]
    report = transfer_weights(source, target)
    assert set(report.copied) == _weighted_layer_names(source) & _weighted_layer_names(target)
    assert report.mismatched == []
    for before, after in zip(cmm, target.get_layer("conv5_block2_cmm").weights, strict=True):
        np.testing.assert_array_equal(np.asarray(after), before)
