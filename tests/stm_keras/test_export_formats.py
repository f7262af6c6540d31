"""LiteRT and ONNX exports: builtin ops only, the Keras model's outputs on real encoded clips,
fixed shapes, quantization, and the files every export carries."""

import json
import os

import numpy as np
import onnx
import pytest
from ai_edge_litert.interpreter import Interpreter
from deploy_testing import CLASSES, FRAMES, IMAGE_SIZE, video_frames, write_video

from stm_keras import export, litert_export, model_dir, onnx_export, predict
from stm_keras.data import input_pipeline

# Real encoded clips, of other frame counts and sizes than the model's 4 frames of 32x32.
CLIPS = {
    "clip.mp4": (video_frames(13, 48, 64, seed=30), "h264"),
    "clip.webm": (video_frames(7, 40, 30, seed=31), "libvpx-vp9"),
}


@pytest.fixture(scope="module")
def decoded_clips(tmp_path_factory):
    """Every frame of each encoded clip, as decoded: what a deployed model receives."""
    import av

    root = tmp_path_factory.mktemp("encoded")
    clips = []
    for name, (frames, codec) in CLIPS.items():
        path = write_video(str(root / name), frames, codec)
        with av.open(path) as container:
            clips.append(
                np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
            )
    return clips


@pytest.fixture(scope="module")
def keras_predictor(tiny_model_dir):
    return predict.load_predictor(tiny_model_dir)


def _feature_scale(features: np.ndarray) -> float:
    return float(np.abs(features).max())


def test_litert_has_builtin_ops_only_and_matches_keras(
    tiny_litert_model, keras_predictor, decoded_clips
):
    interpreter = Interpreter(model_path=tiny_litert_model)
    # The interpreter's own view of the graph: every op a builtin, none Flex or custom.
    op_names = {op["op_name"] for op in interpreter._get_ops_details()}
    assert op_names and not {name for name in op_names if "Flex" in name or "CUSTOM" in name}
    with open(tiny_litert_model, "rb") as f:
        codes = litert_export.operator_names(f.read())
    assert {"CONV_2D", "RESIZE_BILINEAR", "GATHER", "SOFTMAX"} <= set(codes)
    assert not [code for code in codes if code.startswith("Flex")]

    runner = interpreter.get_signature_runner("serving_default")
    for frames in decoded_clips:
        expected = keras_predictor.serve(frames[np.newaxis])
        got = runner(video=frames[np.newaxis])
        np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=1e-4)
        scale = _feature_scale(expected["features"])
        np.testing.assert_allclose(got["features"], expected["features"], atol=1e-4 * scale)
        assert got["features"].shape == (
            1,
            keras_predictor.serve(frames[None])["features"].shape[1],
        )
    # Dynamic batch: three clips of one shape at once.
    batch = np.stack([decoded_clips[0]] * 2 + [decoded_clips[0][::-1]])
    np.testing.assert_allclose(
        runner(video=batch)["probabilities"],
        keras_predictor.serve(batch)["probabilities"],
        atol=1e-4,
    )


def test_onnx_matches_keras_with_dynamic_batch(tiny_onnx_model, keras_predictor, decoded_clips):
    import onnxruntime

    session = onnxruntime.InferenceSession(tiny_onnx_model, providers=["CPUExecutionProvider"])
    (video_input,) = session.get_inputs()
    assert video_input.name == "video" and video_input.type == "tensor(uint8)"
    assert video_input.shape[-1] == 3 and all(isinstance(d, str) for d in video_input.shape[:4])
    for frames in decoded_clips:
        for batch in (1, 3):
            video = np.stack([frames] * batch)
            video[-1] = video[-1, ::-1]  # the clips of a batch differ
            expected = keras_predictor.serve(video)
            probabilities, features = session.run(["probabilities", "features"], {"video": video})
            assert probabilities.shape == (batch, len(CLASSES))
            np.testing.assert_allclose(probabilities, expected["probabilities"], atol=1e-4)
            scale = _feature_scale(expected["features"])
            np.testing.assert_allclose(features, expected["features"], atol=1e-4 * scale)


def test_every_format_carries_labels_and_preprocessing(
    tiny_saved_model, tiny_litert_model, tiny_onnx_model
):
    for path, kind in (
        (tiny_saved_model, "saved_model"),
        (tiny_litert_model, "litert"),
        (tiny_onnx_model, "onnx"),
    ):
        assert export.read_labels(path) == list(CLASSES)
        preprocessing = export.read_preprocessing(path)
        assert preprocessing["format"] == kind
        assert (preprocessing["frames"], preprocessing["image_size"]) == (FRAMES, IMAGE_SIZE)
        assert preprocessing["preprocessor"]["num_segments"] == FRAMES
        assert preprocessing["feature_dim"] > 0 and preprocessing["fixed_input"] is None
    metadata = {p.key: p.value for p in onnx.load(tiny_onnx_model).metadata_props}
    assert metadata[onnx_export.LABELS_METADATA_KEY].split("\n") == list(CLASSES)
    assert json.loads(metadata[onnx_export.PREPROCESSING_METADATA_KEY])["frames"] == FRAMES


def test_fixed_input_litert_has_static_shapes(tiny_model_dir, tmp_path, keras_predictor):
    fixed = (6, 36, 48)
    path = export.export_model(
        tiny_model_dir, str(tmp_path / "fixed"), format="litert", fixed_input=fixed
    )
    interpreter = Interpreter(model_path=path)
    interpreter.allocate_tensors()
    (video_input,) = interpreter.get_input_details()
    assert list(video_input["shape"]) == [1, *fixed, 3]
    # No tensor of the graph has a dynamic dimension left.
    assert all(-1 not in list(t["shape_signature"]) for t in interpreter.get_tensor_details())
    assert export.read_preprocessing(path)["fixed_input"] == list(fixed)
    # predict fits any video to the fixed shape; a video of exactly that shape is untouched.
    frames = video_frames(*fixed, seed=5)
    loaded = predict.load_predictor(path)
    np.testing.assert_allclose(loaded(frames), keras_predictor(frames), atol=1e-4)
    assert loaded(video_frames(15, 50, 80, seed=6)).shape == (len(CLASSES),)


def _kernel_weights(tiny_model_dir) -> int:
    classifier = model_dir.load_classifier(tiny_model_dir)
    return sum(
        int(np.prod(v.shape))
        for v in classifier.weights
        if v.path.endswith(("kernel", "depthwise_kernel"))
    )


@pytest.mark.parametrize("mode", ["dynamic", "int8"])
def test_quantized_files_shrink_and_report_top1(
    mode, tiny_model_dir, tiny_records_dir, tmp_path, keras_predictor
):
    path = export.export_model(
        tiny_model_dir,
        str(tmp_path / mode),
        format="litert",
        quantize=mode,
        calibration_data=tiny_records_dir,
        calibration_clips=4,
    )
    report = litert_export.read_quantization_report(path)
    assert report["quantized_bytes"] == os.path.getsize(path)
    # Each float32 conv / dense weight becomes one int8 byte: 3 bytes saved per weight.
    expected_saving = 3 * _kernel_weights(tiny_model_dir)
    assert report["float_bytes"] - report["quantized_bytes"] >= 0.9 * expected_saving, report
    assert report["validation_clips"] == 5
    assert 0.0 <= report["quantized_top1"] <= 1.0 and 0.0 <= report["float_top1"] <= 1.0
    assert report["top1_change"] == pytest.approx(report["quantized_top1"] - report["float_top1"])
    interpreter = Interpreter(model_path=path)
    assert not [op for op in interpreter._get_ops_details() if "Flex" in op["op_name"]]
    tensor_types = {t["dtype"] for t in interpreter.get_tensor_details()}
    assert np.int8 in tensor_types
    if mode == "int8":  # activations too: conv outputs are int8 tensors
        conv_outputs = [
            interpreter.get_tensor_details()[op["outputs"][0]]["dtype"]
            for op in interpreter._get_ops_details()
            if op["op_name"] == "CONV_2D"
        ]
        assert conv_outputs and all(dtype == np.int8 for dtype in conv_outputs)
    # Still the same classifier on the data it was calibrated for (int8's activation ranges come
    # from those clips; far outside them, e.g. on noise, int8 may clip).
    quantized = predict.load_predictor(path)
    for frames, _ in input_pipeline.sampled_frames(
        tiny_records_dir, "validation", keras_predictor.preprocessor
    ):
        got = quantized(frames)
        # int8 quantizes the softmax output in steps of 1/256 per class.
        np.testing.assert_allclose(got.sum(), 1.0, atol=len(CLASSES) / 256)
        assert np.abs(got - keras_predictor(frames)).max() < 0.1


def test_missing_sidecar_is_named(tiny_litert_model, tmp_path):
    lonely = tmp_path / "model.tflite"
    with open(tiny_litert_model, "rb") as f:
        lonely.write_bytes(f.read())
    with pytest.raises(ValueError, match="labels.txt|preprocessing.json") as error:
        predict.load_predictor(str(lonely))
    assert str(lonely) in str(error.value)
