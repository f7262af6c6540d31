"""The model directory contract between fit and evaluate/export/predict."""

import pytest

from stm_keras import model_dir


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
    with pytest.raises(FileNotFoundError, match="model.keras"):
        model_dir.load_model(str(tmp_path))
