"""`stm-keras export`: writes a loadable SavedModel, LiteRT or ONNX model; refuses to overwrite
unrelated folders."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from deploy_testing import CLASSES, video_frames, write_video

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


@pytest.mark.parametrize(("format", "file"), [("litert", "model.tflite"), ("onnx", "model.onnx")])
def test_export_other_formats_and_replace_them(format, file, tiny_model_dir, tmp_path):
    output = tmp_path / format
    for _ in range(2):  # an earlier export of the same format is replaced
        result = CliRunner().invoke(
            app,
            ["export", "--model", tiny_model_dir, "--format", format, "--output-dir", str(output)],
        )
        assert result.exit_code == 0, result.output
    assert f"{format}: {output / file}" in result.stdout
    assert "features [batch, " in result.stdout
    assert sorted(os.listdir(output)) == sorted([file, "labels.txt", "preprocessing.json"])
    # predict takes the file itself.
    video = str(tmp_path / "clip.mp4")
    write_video(video, video_frames(6, 30, 40, seed=2), "h264")
    result = CliRunner().invoke(app, ["predict", "--model", str(output / file), video])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == video


def test_export_int8_prints_sizes_and_top1(tiny_model_dir, tiny_records_dir, tmp_path):
    output = tmp_path / "int8"
    result = CliRunner().invoke(
        app,
        ["export", "--model", tiny_model_dir, "--format", "litert", "--quantize", "int8"]
        + ["--calibration-data", tiny_records_dir, "--calibration-clips", "3"]
        + ["--output-dir", str(output)],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((output / "quantization.json").read_text())
    assert report["calibration_clips"] == 3
    assert f"({report['size_ratio']:.2f}x smaller)" in result.stdout
    assert f"top-1 on {report['validation_clips']} validation clips" in result.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--format", "onnx", "--quantize", "dynamic"], "--quantize"),
        (["--format", "litert", "--quantize", "int8"], "--calibration-data"),
        (["--format", "onnx", "--fixed-input", "8,64,64"], "--fixed-input"),
        (["--format", "litert", "--fixed-input", "8,64"], "FRAMES,HEIGHT,WIDTH"),
        (["--format", "litert", "--fixed-input", "8,0,64"], "FRAMES,HEIGHT,WIDTH"),
        (["--format", "tflite"], "--format"),
    ],
)
def test_export_option_errors(args, named, tiny_model_dir, tmp_path):
    output = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["export", "--model", tiny_model_dir, "--output-dir", str(output), *args]
    )
    assert result.exit_code == 2 and named in result.output, result.output
    assert not output.exists()


def test_export_refuses_a_folder_with_other_files(tiny_model_dir, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("keep me")
    result = CliRunner().invoke(
        app, ["export", "--model", tiny_model_dir, "--format", "litert", "--output-dir", str(busy)]
    )
    assert result.exit_code == 2 and str(busy) in result.output
    assert os.listdir(busy) == ["notes.txt"]
