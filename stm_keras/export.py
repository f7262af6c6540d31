"""Exports a trained classifier for deployment (``stm-keras export``): SavedModel, LiteRT, ONNX.

Every format holds the same computation. Input ``video``: uint8 ``[batch, frames, height,
width, 3]`` RGB with any frame count ≥ 1 and any frame size; the classifier's
``VideoClassifierPreprocessor`` runs in the graph (``T`` frames sampled, resized, cropped and
normalized exactly as protocol ``1x1`` of ``evaluate``). Outputs: ``probabilities`` (float32
``[batch, num_classes]``), ``features`` (float32 ``[batch, D]``, the pooled clip feature the
classifier's linear head reads: 2048 for ResNet-50) and, in the SavedModel, ``top_class``
(int64 ``[batch]``).

A SavedModel keeps ``labels.txt`` (class names, one per line in index order) and
``preprocessing.json`` (``frames``, ``image_size``, the preprocessor's config) under
``assets/``, and also has a ``preprocess`` signature returning the ``clips`` the network sees.
LiteRT and ONNX files get the same two files beside them (``stm_keras.litert_export``,
``stm_keras.onnx_export``). Loading a SavedModel needs TensorFlow only, not this package.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import tensorflow as tf

from stm_keras import model_dir as model_dir_lib

FORMATS = ("saved_model", "litert", "onnx")
SIGNATURE_KEY = "serving_default"
PREPROCESS_SIGNATURE_KEY = "preprocess"
CLIPS_KEY = "clips"
INPUT_KEY = "video"
PROBABILITIES_KEY = "probabilities"
TOP_CLASS_KEY = "top_class"
FEATURES_KEY = "features"
LABELS_FILE = "labels.txt"
PREPROCESSING_FILE = "preprocessing.json"
SAVED_MODEL_FILE = "saved_model.pb"
VIDEO_SPEC = tf.TensorSpec([None, None, None, None, 3], tf.uint8, name=INPUT_KEY)


def serving_outputs(classifier: Any, video: tf.Tensor) -> dict[str, tf.Tensor]:
    """The exported computation: uint8 ``video`` to float32 ``probabilities`` and ``features``.

    Args:
        classifier: STMVideoClassifier (TensorFlow backend) with a preprocessor.
        video: uint8 ``[batch, frames, height, width, 3]``.

    Returns:
        ``probabilities`` ``[batch, num_classes]`` and ``features`` ``[batch, D]``, float32.
    """
    clips = classifier.preprocessor.video_clips(video)
    features = classifier.backbone(clips, training=False)
    # Dropout is the identity at inference: the head is the Dense layer on the clip feature.
    outputs = tf.cast(classifier.output_dense(features), tf.float32)
    # Mixed-precision models compute in float16; every output is float32.
    if classifier.activation in (None, "linear"):
        probabilities = tf.nn.softmax(outputs, axis=-1)
    else:  # a softmax head already gives probabilities
        probabilities = outputs
    return {PROBABILITIES_KEY: probabilities, FEATURES_KEY: tf.cast(features, tf.float32)}


def video_spec(fixed_input: tuple[int, int, int] | None = None) -> tf.TensorSpec:
    """The ``video`` input: any shape, or batch 1 of ``(frames, height, width)`` when fixed."""
    if fixed_input is None:
        return VIDEO_SPEC
    frames, height, width = (int(value) for value in fixed_input)
    if min(frames, height, width) < 1:
        raise ValueError(f"fixed input {fixed_input}: frames, height and width must be >= 1")
    return tf.TensorSpec([1, frames, height, width, 3], tf.uint8, name=INPUT_KEY)


class ServingModule(tf.Module):
    """A video classifier wrapped with its test-time preprocessing.

    ``serve`` maps uint8 ``video`` ``[batch, frames, height, width, 3]`` to ``probabilities``,
    ``top_class`` and ``features``; ``preprocess`` maps it to the ``clips`` the network sees.

    Args:
        classifier: STMVideoClassifier (TensorFlow backend) with a preprocessor.
        input_spec: tf.TensorSpec. The ``video`` input. Defaults to any shape (``VIDEO_SPEC``).
    """

    def __init__(self, classifier: Any, input_spec: tf.TensorSpec = VIDEO_SPEC) -> None:
        import keras

        if keras.backend.backend() != "tensorflow":
            raise ValueError(
                f"exporting needs the TensorFlow backend, not '{keras.backend.backend()}': "
                "set KERAS_BACKEND=tensorflow"
            )
        if classifier.preprocessor is None:
            raise ValueError("the classifier has no preprocessor to put in the serving graph")
        super().__init__(name="stm_keras_serving")
        preprocessor = classifier.preprocessor
        self.num_segments = preprocessor.num_segments
        self.image_size = preprocessor.image_size

        def preprocess(video: tf.Tensor) -> dict[str, tf.Tensor]:
            return {CLIPS_KEY: preprocessor.video_clips(video)}

        def serve(video: tf.Tensor) -> dict[str, tf.Tensor]:
            outputs = serving_outputs(classifier, video)
            top_class = tf.argmax(outputs[PROBABILITIES_KEY], axis=-1, output_type=tf.int64)
            return {**outputs, TOP_CLASS_KEY: top_class}

        self.serve = tf.function(serve, input_signature=[input_spec])
        self.preprocess = tf.function(preprocess, input_signature=[input_spec])
        # The model itself stays out of the object graph, as in keras.export.ExportArchive: only
        # the variables the function reads are tracked. With the Keras model as a child, the
        # TF1-style loader of saved_model_cli run and TF Serving could not restore them.
        self.model_variables = list(self.serve.get_concrete_function().variables)


def check_class_names(classifier: Any) -> list[str]:
    """The classifier's class names, checked to be writable one per line and one per output."""
    class_names = classifier.class_names
    if not class_names:
        raise ValueError("the classifier's preprocessor has no class names to write")
    if len(class_names) != classifier.num_classes:
        raise ValueError(
            f"the classifier has {classifier.num_classes} outputs but its preprocessor names "
            f"{len(class_names)} classes"
        )
    bad = [name for name in class_names if "\n" in name or "\r" in name]
    if bad:
        raise ValueError(f"class names cannot contain line breaks: {bad}")
    return list(class_names)


def preprocessing_record(
    classifier: Any,
    metadata: dict[str, Any] | None = None,
    input_spec: tf.TensorSpec = VIDEO_SPEC,
) -> dict[str, Any]:
    """What ``preprocessing.json`` records: frames, image size, the preprocessor's config, the
    input and outputs, and ``metadata`` (e.g. ``arch``, ``format``)."""
    preprocessor = classifier.preprocessor
    preprocessor_config = {
        key: value
        for key, value in preprocessor.get_config().items()
        if key not in ("name", "trainable", "dtype", "config_file")
    }
    shape = ", ".join("?" if dim is None else str(dim) for dim in input_spec.shape)
    return {
        **(metadata or {}),
        "frames": preprocessor.num_segments,
        "image_size": preprocessor.image_size,
        "num_classes": int(classifier.num_classes),
        "feature_dim": classifier.backbone.num_features,
        "preprocessor": preprocessor_config,
        "input": f"{INPUT_KEY}: uint8 [{shape}] (batch, frames, height, width, RGB)",
        "fixed_input": None if input_spec.shape[1] is None else list(input_spec.shape[1:4]),
        "outputs": {
            PROBABILITIES_KEY: "float32 [batch, num_classes]",
            FEATURES_KEY: "float32 [batch, feature_dim]",
        },
    }


def write_sidecars(directory: str, class_names: list[str], preprocessing: dict[str, Any]) -> None:
    """Writes ``labels.txt`` and ``preprocessing.json`` into ``directory``."""
    with open(os.path.join(directory, LABELS_FILE), "w", encoding="utf-8") as f:
        f.write("".join(f"{name}\n" for name in class_names))
    with open(os.path.join(directory, PREPROCESSING_FILE), "w", encoding="utf-8") as f:
        json.dump(preprocessing, f, indent=2, sort_keys=True)


def export_saved_model(
    classifier: Any,
    output_dir: str,
    metadata: dict[str, Any] | None = None,
    input_spec: tf.TensorSpec = VIDEO_SPEC,
) -> str:
    """Writes ``classifier`` with its preprocessing and labels as a SavedModel in ``output_dir``.

    Args:
        classifier: STMVideoClassifier (TensorFlow backend) whose preprocessor has class names.
        output_dir: str. Created if missing; an existing SavedModel there is replaced.
        metadata: dict. Extra keys for ``assets/preprocessing.json`` (e.g. ``arch``).
        input_spec: tf.TensorSpec. The ``video`` input (see ``video_spec``). Defaults to any
            shape.

    Returns:
        ``output_dir``.
    """
    class_names = check_class_names(classifier)
    module = ServingModule(classifier, input_spec)
    preprocessing = preprocessing_record(
        classifier, {"format": "saved_model", **(metadata or {})}, input_spec
    )
    with tempfile.TemporaryDirectory() as scratch:
        write_sidecars(scratch, class_names, preprocessing)
        # Tracked assets are copied into output_dir/assets/ under their base names.
        module.labels = tf.saved_model.Asset(os.path.join(scratch, LABELS_FILE))
        module.preprocessing = tf.saved_model.Asset(os.path.join(scratch, PREPROCESSING_FILE))
        signatures = {
            SIGNATURE_KEY: module.serve.get_concrete_function(),
            PREPROCESS_SIGNATURE_KEY: module.preprocess.get_concrete_function(),
        }
        tf.saved_model.save(module, output_dir, signatures=signatures)
    return output_dir


def export_model(
    model_path: str,
    output_dir: str,
    format: str = "saved_model",
    fixed_input: tuple[int, int, int] | None = None,
    quantize: str = "none",
    calibration_data: str | None = None,
    calibration_clips: int = 200,
    log: Any = None,
) -> str:
    """Exports the classifier of a preset, preset handle or ``stm-keras fit`` model directory.

    Args:
        model_path: str. Preset, handle or fit model directory.
        output_dir: str. The SavedModel directory, or the directory that receives
            ``model.tflite`` / ``model.onnx`` with ``labels.txt`` and ``preprocessing.json``.
        format: str. One of ``FORMATS``. Defaults to ``"saved_model"``.
        fixed_input: (frames, height, width) or None. A batch-1 input of this shape instead of
            dynamic shapes (SavedModel and LiteRT). Defaults to None.
        quantize: str. LiteRT only: ``none``, ``dynamic`` or ``int8``. Defaults to ``"none"``.
        calibration_data: str or None. A ``stm-keras preprocess`` output; required by ``int8``.
        calibration_clips: int. Clips of its train split used to calibrate ``int8``.
        log: callable or None. Receives progress lines. Defaults to None.

    Returns:
        The exported model's path: ``output_dir``, or the ``.tflite`` / ``.onnx`` file in it.

    Raises:
        FileNotFoundError, ValueError: naming the unusable path or option.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format '{format}': choose one of {', '.join(FORMATS)}")
    if format != "litert" and quantize != "none":
        raise ValueError(f"quantization applies to the litert format, not '{format}'")
    if format == "onnx" and fixed_input is not None:
        raise ValueError("a fixed input applies to the saved_model and litert formats")
    # LiteRT and ONNX run float32 graphs; a mixed-precision model computes in float32 there.
    dtype = None if format == "saved_model" else "float32"
    classifier = model_dir_lib.load_classifier(model_path, dtype=dtype)
    metadata = {"arch": "tsn" if classifier.backbone.is_tsn else "stm"}
    input_spec = video_spec(fixed_input)
    if format == "saved_model":
        return export_saved_model(classifier, output_dir, metadata, input_spec)
    os.makedirs(output_dir, exist_ok=True)
    if format == "litert":
        from stm_keras import litert_export

        return litert_export.export_litert(
            classifier,
            output_dir,
            metadata,
            input_spec,
            quantize=quantize,
            calibration_data=calibration_data,
            calibration_clips=calibration_clips,
            log=log,
        )
    from stm_keras import onnx_export

    return onnx_export.export_onnx(classifier, output_dir, metadata)


def _asset_path(model_path: str, name: str) -> str:
    # A SavedModel keeps its files under assets/; a .tflite or .onnx file has them beside it.
    if os.path.isdir(model_path):
        return os.path.join(model_path, "assets", name)
    return os.path.join(os.path.dirname(os.path.abspath(model_path)), name)


def read_labels(model_path: str) -> list[str]:
    """Class names of an export (SavedModel directory, ``.tflite`` or ``.onnx`` file)."""
    with open(_asset_path(model_path, LABELS_FILE), encoding="utf-8") as f:
        return f.read().splitlines()


def read_preprocessing(model_path: str) -> dict[str, Any]:
    """The ``preprocessing.json`` (``frames``, ``image_size``, ...) of an export."""
    with open(_asset_path(model_path, PREPROCESSING_FILE), encoding="utf-8") as f:
        return json.load(f)
