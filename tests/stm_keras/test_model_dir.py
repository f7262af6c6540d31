"""The model directory contract between fit and evaluate/export/predict, and stm-keras 0.1 dirs."""

import hashlib
import os
import shutil

import numpy as np
import pytest

from stm_keras import model_dir

# Written by stm-keras 0.1 (config.json + model.keras) with the logits it gave on `clips`.
LEGACY_MODEL_DIR = os.path.join(os.path.dirname(__file__), "..", "data", "legacy_model_dir")


def test_config_round_trip(tmp_path):
    config = {"arch": "stm", "frames": 8, "image_size": 64, "classes": ["a", "b"], "model": {}}
    path = model_dir.save_config(str(tmp_path), config)
    assert path.endswith("config.json")
    assert model_dir.load_config(str(tmp_path)) == config


def test_missing_and_incomplete_config_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        model_dir.load_config(str(tmp_path))
    with pytest.raises(ValueError, match="classes"):
        model_dir.save_config(str(tmp_path), {"arch": "stm", "frames": 8})
    (tmp_path / "config.json").write_text('{"arch": "stm"}')
    with pytest.raises(ValueError, match="frames"):
        model_dir.load_config(str(tmp_path))
    # A model directory without its final preset: the missing preset is named.
    with pytest.raises(FileNotFoundError, match="task.json") as error:
        model_dir.load_classifier(str(tmp_path))
    assert os.path.join(str(tmp_path), model_dir.FINAL_PRESET) in str(error.value)


def test_a_path_without_preset_or_config_is_named(tmp_path):
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    for path in (empty, tmp_path / "missing"):
        with pytest.raises(FileNotFoundError) as error:
            model_dir.load_classifier(str(path))
        assert str(path) in str(error.value)


def _legacy_expectations():
    with np.load(os.path.join(LEGACY_MODEL_DIR, "expected_logits.npz")) as data:
        return data["clips"], data["logits"]


def _logits(classifier, clips):
    # The clips are preprocessed already: the network alone, not the Task's predict.
    return np.asarray(classifier(clips, training=False))


def _assert_logits_equal(actual, expected):
    # The stored logits reach ~900: float32 keeps ~6e-5 there, and the classifier averages the
    # frame features before its dense layer where 0.1 averaged the frame logits after it (equal
    # in exact arithmetic). So 1e-5 absolute, or a few float32 ulps (rtol 1e-6) of large values.
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-5)


def test_legacy_model_dir_loads_with_its_logits():
    assert model_dir.is_legacy_model_dir(LEGACY_MODEL_DIR)
    classifier = model_dir.load_classifier(LEGACY_MODEL_DIR)
    clips, logits = _legacy_expectations()
    _assert_logits_equal(_logits(classifier, clips), logits)
    assert classifier.class_names == ["class 0", "class 1", "class 2"]
    assert classifier.preprocessor.num_segments == 4
    assert classifier.preprocessor.image_size == 32


def test_converted_legacy_model_dir_is_a_preset_with_the_same_logits(tmp_path):
    copy = tmp_path / "legacy"
    shutil.copytree(LEGACY_MODEL_DIR, copy)
    preset = model_dir.convert_legacy_model_dir(str(copy))
    assert preset == os.path.join(str(copy), model_dir.FINAL_PRESET)
    assert model_dir.is_preset(preset) and not model_dir.is_legacy_model_dir(str(copy))
    clips, logits = _legacy_expectations()
    for path in (preset, str(copy)):  # the preset itself, and the directory now resolving to it
        classifier = model_dir.load_classifier(path)
        _assert_logits_equal(_logits(classifier, clips), logits)
        assert classifier.class_names == ["class 0", "class 1", "class 2"]
    # The committed fixture is untouched.
    assert not os.path.exists(os.path.join(LEGACY_MODEL_DIR, model_dir.FINAL_PRESET))


def _sha256(*paths):
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def test_weights_digest_hashes_the_preset_weight_files(tiny_model_dir, tmp_path):
    final = os.path.join(tiny_model_dir, model_dir.FINAL_PRESET)
    digest = model_dir.weights_digest(tiny_model_dir)
    files = [os.path.join(final, name) for name in ("model.weights.h5", "task.weights.h5")]
    assert digest == _sha256(*files)
    assert model_dir.weights_digest(final) == digest
    # Other weights, another digest.
    copy = str(tmp_path / "copy")
    shutil.copytree(final, copy)
    model = model_dir.load_classifier(copy)
    kernel = model.backbone.get_layer("conv1_conv").kernel
    kernel.assign(kernel + 1.0)
    model_dir.save_preset(model, copy)
    assert model_dir.weights_digest(copy) != digest


def test_weights_digest_of_a_legacy_model_dir_hashes_model_keras():
    expected = _sha256(os.path.join(LEGACY_MODEL_DIR, "model.keras"))
    assert model_dir.weights_digest(LEGACY_MODEL_DIR) == expected


def test_weights_digest_names_a_path_without_weights(tmp_path):
    (tmp_path / "task.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="model.weights.h5"):
        model_dir.weights_digest(str(tmp_path))


def test_backbone_config_of_a_preset_and_of_a_legacy_dir(tiny_model_dir):
    legacy = model_dir.backbone_config(LEGACY_MODEL_DIR)
    assert (legacy["depth"], legacy["width_multiplier"], legacy["num_segments"]) == (18, 0.0625, 4)
    assert "num_classes" not in legacy
    preset = model_dir.backbone_config(tiny_model_dir)
    assert preset == {
        key: value
        for key, value in model_dir.load_classifier(tiny_model_dir).backbone.get_config().items()
        if key in preset
    }
    assert preset["depth"] == 18
