"""keras-hub presets of STMVideoClassifier: files, exact round trip, new heads, fresh processes."""

import json
import os
import subprocess
import sys
import textwrap

import keras_hub
import numpy as np
import pytest

from stm_keras.models import STMBackbone, STMVideoClassifier, VideoClassifierPreprocessor

FRAMES = 2
SIZE = 32
CLASSES = ["Swiping Left", "Zooming In With Two Fingers", "Doing other things", "Thumb Up ✓"]
PRESET_FILES = {
    "metadata.json",
    "config.json",
    "model.weights.h5",
    "task.json",
    "preprocessor.json",
    "assets/labels.txt",
}


def _clips(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(2, FRAMES, SIZE, SIZE, 3)).astype("float32")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny classifier with non-initial head and BN statistics, and its preset directory."""
    backbone = STMBackbone(18, num_segments=FRAMES, width_multiplier=0.125, image_size=SIZE)
    preprocessor = VideoClassifierPreprocessor(
        num_segments=FRAMES, image_size=SIZE, scale_size=40, flip=True, class_names=CLASSES
    )
    classifier = STMVideoClassifier(backbone, len(CLASSES), preprocessor=preprocessor)
    rng = np.random.default_rng(0)
    head = classifier.get_layer("classifier")
    head.set_weights([rng.normal(size=w.shape).astype("float32") for w in head.weights])
    bn = backbone.get_layer("conv1_bn")
    gamma, beta, mean, variance = bn.get_weights()
    bn.set_weights([gamma, beta, mean + 0.3, variance * 2.0])  # non-trainable weights too
    path = str(tmp_path_factory.mktemp("preset") / "stm_tiny")
    classifier.save_to_preset(path)
    return classifier, path


def _weights(model) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.weights]


def test_preset_holds_keras_hub_files_and_labels(saved):
    classifier, path = saved
    files = {
        os.path.relpath(os.path.join(root, name), path)
        for root, _, names in os.walk(path)
        for name in names
    }
    assert files >= PRESET_FILES
    with open(os.path.join(path, "assets", "labels.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == CLASSES
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    assert config["registered_name"] == "stm_keras>STMBackbone"
    assert config["config"] == json.loads(json.dumps(classifier.backbone.get_config()))
    with open(os.path.join(path, "task.json")) as f:
        assert json.load(f)["registered_name"] == "stm_keras>STMVideoClassifier"


def test_from_preset_restores_the_same_classifier(saved):
    classifier, path = saved
    restored = STMVideoClassifier.from_preset(path)
    assert isinstance(restored, STMVideoClassifier)
    x = _clips()
    np.testing.assert_array_equal(
        np.asarray(restored(x, training=False)), np.asarray(classifier(x, training=False))
    )
    for ours, theirs in zip(_weights(restored), _weights(classifier), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert restored.class_names == CLASSES
    assert restored.preprocessor.get_config() == classifier.preprocessor.get_config()
    assert restored.backbone.get_config() == classifier.backbone.get_config()
    assert restored.get_config()["num_classes"] == len(CLASSES)


def test_backbone_and_preprocessor_load_alone(saved):
    classifier, path = saved
    backbone = STMBackbone.from_preset(path)
    x = _clips(1)
    np.testing.assert_array_equal(
        np.asarray(backbone(x, training=False)),
        np.asarray(classifier.backbone(x, training=False)),
    )
    preprocessor = VideoClassifierPreprocessor.from_preset(path)
    assert preprocessor.class_names == CLASSES
    assert preprocessor.get_config() == classifier.preprocessor.get_config()


def test_from_preset_with_num_classes_keeps_the_backbone_and_starts_a_new_head(saved):
    classifier, path = saved
    tuned = STMVideoClassifier.from_preset(path, num_classes=5)
    assert tuple(tuned.get_layer("classifier").kernel.shape) == (
        classifier.backbone.num_features,
        5,
    )
    for ours, theirs in zip(_weights(tuned.backbone), _weights(classifier.backbone), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    # The preset's class names belong to its old head; the new head starts without any.
    assert tuned.class_names is None
    assert tuned.preprocessor.num_segments == classifier.preprocessor.num_segments
    x = _clips()
    assert tuple(tuned(x, training=False).shape) == (2, 5)
    np.testing.assert_array_equal(
        np.asarray(tuned.backbone(x, training=False)),
        np.asarray(classifier.backbone(x, training=False)),
    )


# Only the package import registers the classes: nothing else of the test session is there.
FRESH_PROCESS = textwrap.dedent(
    """
    import json
    import sys

    import keras
    import numpy as np

    import stm_keras

    path, inputs = sys.argv[1], np.load(sys.argv[2])
    classifier = stm_keras.STMVideoClassifier.from_preset(path)
    import keras_hub

    backbone = keras_hub.models.Backbone.from_preset(path)
    print(json.dumps({
        "backend": keras.backend.backend(),
        "logits": np.asarray(classifier(inputs, training=False)).tolist(),
        "class_names": classifier.class_names,
        "backbone_class": f"{type(backbone).__module__}.{type(backbone).__qualname__}",
        "features": np.asarray(backbone(inputs, training=False)).tolist(),
    }))
    """
)


def test_preset_loads_in_a_fresh_process(saved, tmp_path):
    classifier, path = saved
    x = _clips(2)
    inputs = str(tmp_path / "clips.npy")
    np.save(inputs, x)
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, path, inputs],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["backend"] == "tensorflow"
    assert loaded["class_names"] == CLASSES
    assert loaded["backbone_class"] == "stm_keras.models.stm_backbone.STMBackbone"
    np.testing.assert_allclose(
        np.asarray(loaded["logits"]), np.asarray(classifier(x, training=False)), atol=1e-6
    )
    np.testing.assert_allclose(
        np.asarray(loaded["features"]),
        np.asarray(classifier.backbone(x, training=False)),
        atol=1e-6,
    )
    assert isinstance(keras_hub.models.Backbone.from_preset(path), STMBackbone)


def test_mixed_precision_preset_loads_with_its_policy(tmp_path):
    """keras-hub 0.32 alone cannot resolve a saved mixed_* policy; both classes name it."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        backbone = STMBackbone(18, num_segments=FRAMES, width_multiplier=0.125, image_size=SIZE)
        classifier = STMVideoClassifier(backbone, 3, dropout=0.0)
    finally:
        keras.config.set_dtype_policy(previous)
    path = str(tmp_path / "mixed")
    classifier.save_to_preset(path)
    loaded = STMVideoClassifier.from_preset(path)
    assert loaded.backbone.dtype_policy.name == "mixed_bfloat16"
    assert STMBackbone.from_preset(path).dtype_policy.name == "mixed_bfloat16"
    x = _clips()
    np.testing.assert_allclose(
        np.asarray(loaded(x, training=False)), np.asarray(classifier(x, training=False)), atol=1e-6
    )
