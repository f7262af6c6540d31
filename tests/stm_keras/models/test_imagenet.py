"""ImageNet initialisation from a saved keras.applications ResNet50, offline."""

import keras
import numpy as np
import pytest

from stm_keras.models import (
    STMBackbone,
    STMVideoClassifier,
    VideoClassifierPreprocessor,
    load_imagenet_weights,
)
from stm_keras.models import imagenet as imagenet_module

SIZE = 32
FRAMES = 2
TSN = {"use_cstm": False, "use_cmm": False}


def _classifier(depth: int = 50, **options) -> STMVideoClassifier:
    return STMVideoClassifier(STMBackbone(depth, num_segments=FRAMES, **options), num_classes=3)


@pytest.fixture(scope="module")
def resnet50():
    """keras.applications' ResNet50 with random, non-trivial conv biases and BN statistics."""
    model = keras.applications.ResNet50(
        weights=None, include_top=False, pooling="avg", input_shape=(SIZE, SIZE, 3)
    )
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            shape = layer.gamma.shape
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, shape),
                    rng.normal(0.0, 0.2, shape),
                    rng.normal(0.0, 0.5, shape),
                    rng.uniform(0.5, 2.0, shape),
                ]
            )
        elif isinstance(layer, keras.layers.Conv2D):
            layer.bias.assign(rng.normal(0.0, 0.5, layer.bias.shape))
    return model


@pytest.fixture(scope="module")
def resnet50_file(resnet50, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("imagenet") / "resnet50.keras")
    resnet50.save(path)
    return path


def _pixels(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, size=(1, FRAMES, SIZE, SIZE, 3)).astype("float32")


def test_tsn_features_equal_resnet50_features_per_frame(resnet50, resnet50_file):
    tsn = _classifier(style="caffe", **TSN)
    loaded = load_imagenet_weights(tsn, resnet50_file, input_normalization="caffe")
    assert len(loaded) == 106  # 53 convs + 53 BNs
    frames = keras.applications.resnet.preprocess_input(_pixels()[0])
    extractor = tsn.backbone.feature_extractor(["avg_pool"])
    features = np.asarray(extractor(frames[None])["avg_pool"])
    expected = np.asarray(resnet50(frames, training=False))
    tolerance = {"rtol": 1e-4, "atol": 1e-4 * np.abs(expected).max()}
    np.testing.assert_allclose(features, expected, **tolerance)
    # The backbone's clip feature is the mean of ResNet50's frame features.
    clip = np.asarray(tsn.backbone(frames[None], training=False))
    np.testing.assert_allclose(clip, expected.mean(axis=0, keepdims=True), **tolerance)


def test_a_bare_backbone_loads_the_same_weights(resnet50, resnet50_file):
    backbone = STMBackbone(50, num_segments=FRAMES, style="caffe", **TSN)
    loaded = load_imagenet_weights(backbone, resnet50_file, input_normalization="caffe")
    classifier = _classifier(style="caffe", **TSN)
    assert loaded == load_imagenet_weights(classifier, resnet50, input_normalization="caffe")
    for name in loaded:
        for ours, theirs in zip(
            backbone.get_layer(name).weights,
            classifier.backbone.get_layer(name).weights,
            strict=True,
        ):
            np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_imagenet_normalized_inputs_see_the_caffe_stem(resnet50, resnet50_file):
    tsn = _classifier(**TSN)
    load_imagenet_weights(tsn, resnet50_file)  # input_normalization="imagenet"
    pixels = _pixels(1)
    ours = tsn.backbone.feature_extractor(["conv1_relu"])
    theirs = keras.Model(resnet50.input, resnet50.get_layer("conv1_relu").output)
    normalize = VideoClassifierPreprocessor(num_segments=FRAMES, image_size=SIZE).normalize
    stem = np.asarray(ours(np.asarray(normalize(pixels)))["conv1_relu"])
    expected = np.asarray(theirs(keras.applications.resnet.preprocess_input(pixels[0])))
    # Equal away from the zero-padded border, where the two input conventions pad differently.
    np.testing.assert_allclose(stem[:, 2:-2, 2:-2], expected[:, 2:-2, 2:-2], atol=1e-3)


def test_stm_gets_every_backbone_weight_and_keeps_its_own(resnet50):
    stm = STMBackbone(50, num_segments=FRAMES)
    load_imagenet_weights(stm, resnet50, input_normalization="caffe")
    np.testing.assert_array_equal(
        np.asarray(stm.get_layer("conv4_block1_2_conv").kernel),
        np.asarray(resnet50.get_layer("conv4_block1_2_conv").kernel),
    )
    folded = (
        resnet50.get_layer("conv4_block1_2_bn").moving_mean
        - resnet50.get_layer("conv4_block1_2_conv").bias
    )
    np.testing.assert_allclose(
        np.asarray(stm.get_layer("conv4_block1_2_bn").moving_mean), np.asarray(folded)
    )
    kernel = np.asarray(stm.get_layer("conv4_block1_2_temporal").temporal_kernel)
    np.testing.assert_array_equal(kernel[:, 0], [1, 0, 0])  # still the shift init


def test_errors_are_clear(resnet50, monkeypatch):
    with pytest.raises(ValueError, match="ResNet-18/34"):
        load_imagenet_weights(STMBackbone(18, num_segments=FRAMES, **TSN), resnet50)
    narrow = _classifier(width_multiplier=0.25, **TSN)
    with pytest.raises(ValueError, match="width_multiplier=1"):
        load_imagenet_weights(narrow, resnet50)
    with pytest.raises(FileNotFoundError, match="nowhere.keras"):
        load_imagenet_weights(narrow, "/nowhere.keras")

    def offline(**kwargs):
        raise OSError("URL fetch failure: no network")

    monkeypatch.setitem(imagenet_module.APPLICATIONS, 50, offline)
    with pytest.raises(RuntimeError, match="pass a local file"):
        load_imagenet_weights(narrow, "imagenet")


def test_loads_a_weights_file(resnet50, tmp_path):
    path = str(tmp_path / "resnet50_notop.weights.h5")
    resnet50.save_weights(path)
    tsn = _classifier(**TSN)
    assert len(load_imagenet_weights(tsn, path, input_normalization="caffe")) == 106
    np.testing.assert_array_equal(
        np.asarray(tsn.backbone.get_layer("conv5_block3_3_conv").kernel),
        np.asarray(resnet50.get_layer("conv5_block3_3_conv").kernel),
    )
