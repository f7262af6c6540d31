"""Exports a trained classifier as a self-contained TensorFlow SavedModel (``stm-keras export``).

The ``serving_default`` signature takes ``video``: uint8 ``[batch, frames, height, width, 3]``
with any frame count ≥ 1 and any frame size, runs the classifier's
``VideoClassifierPreprocessor`` in the graph (``T`` frames sampled, resized, cropped and
normalized exactly as protocol ``1x1`` of ``evaluate``) and returns ``probabilities`` (float32
``[batch, num_classes]``) and ``top_class`` (int64 ``[batch]``). The ``preprocess`` signature
returns that preprocessing alone (``clips``). ``assets/labels.txt`` names the classes, one per
line in index order; ``assets/preprocessing.json`` records ``frames``, ``image_size`` and the
preprocessor's config so that clients (``stm-keras predict``) can decode only the frames needed.
Loading needs TensorFlow only, not this package.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import tensorflow as tf

from stm_keras import model_dir as model_dir_lib

SIGNATURE_KEY = "serving_default"
PREPROCESS_SIGNATURE_KEY = "preprocess"
CLIPS_KEY = "clips"
INPUT_KEY = "video"
PROBABILITIES_KEY = "probabilities"
TOP_CLASS_KEY = "top_class"
LABELS_FILE = "labels.txt"
PREPROCESSING_FILE = "preprocessing.json"
SAVED_MODEL_FILE = "saved_model.pb"
VIDEO_SPEC = tf.TensorSpec([None, None, None, None, 3], tf.uint8, name=INPUT_KEY)


class ServingModule(tf.Module):
    """A video classifier wrapped with its test-time preprocessing.

    ``serve`` maps uint8 ``video`` ``[batch, frames, height, width, 3]`` to ``probabilities``
    and ``top_class``; ``preprocess`` maps it to the ``clips`` the network sees.

    Args:
        classifier: STMVideoClassifier (TensorFlow backend) with a preprocessor.
    """

    def __init__(self, classifier: Any) -> None:
        import keras

        if keras.backend.backend() != "tensorflow":
            raise ValueError(
                f"a SavedModel needs the TensorFlow backend, not '{keras.backend.backend()}': "
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
            clips = preprocessor.video_clips(video)
            # Mixed-precision models return float16 logits; the signature promises float32.
            logits = tf.cast(classifier(clips, training=False), tf.float32)
            probabilities = tf.nn.softmax(logits, axis=-1)
            return {
                PROBABILITIES_KEY: probabilities,
                TOP_CLASS_KEY: tf.argmax(probabilities, axis=-1, output_type=tf.int64),
            }

        self.serve = tf.function(serve, input_signature=[VIDEO_SPEC])
        self.preprocess = tf.function(preprocess, input_signature=[VIDEO_SPEC])
        # The model itself stays out of the object graph, as in keras.export.ExportArchive: only
        # the variables the function reads are tracked. With the Keras model as a child, the
        # TF1-style loader of saved_model_cli run and TF Serving could not restore them.
        self.model_variables = list(self.serve.get_concrete_function().variables)


def export_saved_model(
    classifier: Any, output_dir: str, metadata: dict[str, Any] | None = None
) -> str:
    """Writes ``classifier`` with its preprocessing and labels as a SavedModel in ``output_dir``.

    Args:
        classifier: STMVideoClassifier (TensorFlow backend) whose preprocessor has class names.
        output_dir: str. Created if missing; an existing SavedModel there is replaced.
        metadata: dict. Extra keys for ``assets/preprocessing.json`` (e.g. ``arch``).

    Returns:
        ``output_dir``.
    """
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
    module = ServingModule(classifier)
    preprocessor_config = {
        key: value
        for key, value in classifier.preprocessor.get_config().items()
        if key not in ("name", "trainable", "dtype", "config_file")
    }
    preprocessing = {
        **(metadata or {}),
        "frames": module.num_segments,
        "image_size": module.image_size,
        "num_classes": len(class_names),
        "preprocessor": preprocessor_config,
        "input": f"{INPUT_KEY}: uint8 [batch, frames, height, width, 3], RGB",
    }
    with tempfile.TemporaryDirectory() as scratch:
        labels_path = os.path.join(scratch, LABELS_FILE)
        with open(labels_path, "w", encoding="utf-8") as f:
            f.write("".join(f"{name}\n" for name in class_names))
        preprocessing_path = os.path.join(scratch, PREPROCESSING_FILE)
        with open(preprocessing_path, "w", encoding="utf-8") as f:
            json.dump(preprocessing, f, indent=2, sort_keys=True)
        # Tracked assets are copied into output_dir/assets/ under their base names.
        module.labels = tf.saved_model.Asset(labels_path)
        module.preprocessing = tf.saved_model.Asset(preprocessing_path)
        signatures = {
            SIGNATURE_KEY: module.serve.get_concrete_function(),
            PREPROCESS_SIGNATURE_KEY: module.preprocess.get_concrete_function(),
        }
        tf.saved_model.save(module, output_dir, signatures=signatures)
    return output_dir


def export_model(model_path: str, output_dir: str) -> str:
    """Exports the classifier of a preset, preset handle or ``stm-keras fit`` model directory.

    Raises:
        FileNotFoundError, ValueError: naming the unusable path, from ``stm_keras.model_dir``.
    """
    classifier = model_dir_lib.load_classifier(model_path)
    arch = "tsn" if classifier.backbone.is_tsn else "stm"
    return export_saved_model(classifier, output_dir, metadata={"arch": arch})


def read_labels(saved_model_dir: str) -> list[str]:
    """Class names of an exported SavedModel, in index order."""
    with open(os.path.join(saved_model_dir, "assets", LABELS_FILE), encoding="utf-8") as f:
        return f.read().splitlines()


def read_preprocessing(saved_model_dir: str) -> dict[str, Any]:
    """The ``preprocessing.json`` asset (``frames``, ``image_size``, ...) of an export."""
    with open(os.path.join(saved_model_dir, "assets", PREPROCESSING_FILE), encoding="utf-8") as f:
        return json.load(f)
