"""`stm-keras export`: writes a loadable SavedModel; refuses to overwrite unrelated folders."""

import os

import numpy as np
import tensorflow as tf
from click.testing import CliRunner
from deploy_testing import CLASSES

from stm_keras import model_dir
from stm_keras.cli.main import app


def _check_saved_model(output):
    with open(os.path.join(output, "assets", "labels.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == list(CLASSES)
    signature = tf.saved_model.load(output).signatures["serving_default"]
    video = np.zeros((3, 5, 24, 40, 3), np.uint8)
    outputs = signature(video=tf.constant(video))
    assert outputs["probabilities"].shape == (3, len(CLASSES))
    np.testing.assert_allclose(outputs["probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-5)


def test_export_writes_a_saved_model(tiny_model_dir, tmp_path):
    output = str(tmp_path / "saved_model")
    result = CliRunner().invoke(app, ["export", "--model", tiny_model_dir, "--output-dir", output])
    assert result.exit_code == 0, result.output
    assert f"SavedModel: {output}" in result.stdout
    _check_saved_model(output)


def test_export_a_preset(tiny_model_dir, tmp_path):
    output = str(tmp_path / "from_preset")
    preset = os.path.join(tiny_model_dir, model_dir.FINAL_PRESET)
    result = CliRunner().invoke(app, ["export", "--model", preset, "--output-dir", output])
    assert result.exit_code == 0, result.output
    _check_saved_model(output)


def test_export_usage_errors(tiny_model_dir, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["export", "--model", str(tmp_path), "--output-dir", "x"])
    assert result.exit_code == 2 and "config.json" in result.output
    assert str(tmp_path) in result.output
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("keep me")
    result = runner.invoke(app, ["export", "--model", tiny_model_dir, "--output-dir", str(busy)])
    assert result.exit_code == 2 and str(busy) in result.output
    assert os.listdir(busy) == ["thesis.tex"]
