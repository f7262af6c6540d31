"""`stm-keras predict`: real videos, a frame folder and a broken file, with either model kind."""

import json
import os

import av
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from deploy_testing import CLASSES, video_frames, write_video
from PIL import Image

from stm_keras import model_dir
from stm_keras.cli.main import app


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Paths of an mp4, a webm, a broken file, an avi and a PNG frame folder, with all frames."""
    root = tmp_path_factory.mktemp("inputs")
    frames = {
        "clip.mp4": (video_frames(14, 48, 64, seed=10), "h264"),
        "clip.webm": (video_frames(9, 64, 48, seed=11), "libvpx-vp9"),
        "clip.avi": (video_frames(5, 32, 48, seed=12), "mpeg4"),
    }
    paths = {
        name: write_video(str(root / name), clip, codec) for name, (clip, codec) in frames.items()
    }
    broken = root / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    folder = root / "frames"
    folder.mkdir()
    folder_frames = video_frames(7, 36, 44, seed=13)
    for i, frame in enumerate(folder_frames):
        Image.fromarray(frame).save(folder / f"{i:05d}.png")
    ordered = [paths["clip.mp4"], paths["clip.webm"], str(broken), paths["clip.avi"], str(folder)]
    return ordered, {paths["clip.mp4"]: None, str(folder): folder_frames}


def _all_video_frames(path: str) -> np.ndarray:
    with av.open(path) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _predict_json(model: str, paths: list[str], top_k: int = 3):
    result = CliRunner().invoke(
        app, ["predict", "--model", model, *paths, "--json", "--top-k", str(top_k)]
    )
    return result, [json.loads(line) for line in result.stdout.splitlines()]


def test_predict_json_with_saved_model_and_model_dir(
    inputs, tiny_saved_model, tiny_model_dir, tiny_litert_model, tiny_onnx_model
):
    paths, full_frames = inputs
    result, objects = _predict_json(tiny_saved_model, paths, top_k=2)
    assert result.exit_code == 1
    assert [o["input"] for o in objects] == paths
    broken = paths[2]
    assert "error" in objects[2] and broken in objects[2]["error"]
    assert f"Error: {broken}: cannot decode video" in result.stderr
    assert "1 of 5 inputs failed" in result.stderr
    for obj in objects[:2] + objects[3:]:
        predictions = obj["predictions"]
        assert (
            len(predictions) == 2 and predictions[0]["probability"] >= predictions[1]["probability"]
        )
        assert all(p["class"] == CLASSES[p["index"]] for p in predictions)

    # The SavedModel samples in its graph; given every frame it must agree with predict, which
    # samples T frames on the host: both sample as evaluation does.
    signature = tf.saved_model.load(tiny_saved_model).signatures["serving_default"]
    for obj in (objects[0], objects[4]):
        frames = full_frames[obj["input"]]
        frames = _all_video_frames(obj["input"]) if frames is None else frames
        expected = signature(video=tf.constant(frames[np.newaxis]))["probabilities"].numpy()[0]
        got = {p["index"]: p["probability"] for p in obj["predictions"]}
        for index, probability in got.items():
            assert probability == pytest.approx(float(expected[index]), abs=1e-5)

    # A model directory, its final preset and its LiteRT and ONNX exports give the same
    # answers as its SavedModel.
    preset = os.path.join(tiny_model_dir, model_dir.FINAL_PRESET)
    for model in (tiny_model_dir, preset, tiny_litert_model, tiny_onnx_model):
        _, answers = _predict_json(model, paths, top_k=2)
        for exported, other in zip(objects, answers, strict=True):
            if "error" in exported:
                assert "error" in other
                continue
            for a, b in zip(exported["predictions"], other["predictions"], strict=True):
                assert a["index"] == b["index"]
                assert a["probability"] == pytest.approx(b["probability"], abs=1e-5)


def test_predict_prints_top_k_names(inputs, tiny_saved_model):
    paths, _ = inputs
    result = CliRunner().invoke(app, ["predict", "--model", tiny_saved_model, paths[4]])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == paths[4]
    assert len(lines) == 1 + len(CLASSES)  # --top-k 5 capped at the 3 classes
    assert sorted(line.split(maxsplit=1)[1] for line in lines[1:]) == sorted(CLASSES)
    probabilities = [float(line.split()[0]) for line in lines[1:]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-3)


def test_predict_rejects_a_model_path_of_neither_kind(tmp_path):
    result = CliRunner().invoke(app, ["predict", "--model", str(tmp_path), "x.mp4"])
    assert result.exit_code == 2 and str(tmp_path) in result.output


@pytest.mark.parametrize("model_kind", ["saved_model", "litert"])
def test_predict_features_in_input_order_with_failures_named(
    model_kind, inputs, tiny_saved_model, tiny_litert_model, tiny_model_dir, tmp_path
):
    from stm_keras import predict

    paths, _ = inputs
    model = tiny_saved_model if model_kind == "saved_model" else tiny_litert_model
    output = tmp_path / "features.npy"
    result = CliRunner().invoke(
        app, ["predict", "--model", model, *paths, "--json", "--features", str(output)]
    )
    assert result.exit_code == 1  # the broken input
    features = np.load(output)
    keras_model = predict.load_predictor(tiny_model_dir)
    dimension = model_dir.load_classifier(tiny_model_dir).backbone.num_features
    assert features.shape == (len(paths), dimension) and features.dtype == np.float32
    broken = paths[2]
    assert np.isnan(features[2]).all() and not np.isnan(np.delete(features, 2, axis=0)).any()
    for row, path in zip(features, paths, strict=True):
        if path != broken:  # each row is its own input's feature, in input order
            expected = keras_model.run(keras_model.read_clip(path))["features"]
            np.testing.assert_allclose(row, expected, atol=1e-4 * np.abs(expected).max())
    manifest = json.loads((tmp_path / "features.json").read_text())
    assert manifest["inputs"] == paths and list(manifest["failed"]) == [broken]
    assert broken in manifest["failed"][broken] and manifest["feature_dim"] == dimension


def test_predict_features_needs_an_npy_name(inputs, tiny_saved_model, tmp_path):
    paths, _ = inputs
    result = CliRunner().invoke(
        app, ["predict", "--model", tiny_saved_model, paths[0], "--features", str(tmp_path / "f")]
    )
    assert result.exit_code == 2 and "--features" in result.output and ".npy" in result.output
