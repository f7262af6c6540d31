"""Exports a trained model as a self-contained TensorFlow SavedModel (``stm-keras export``).

The ``serving_default`` signature takes ``video``: uint8 ``[batch, frames, height, width, 3]``
with any frame count ≥ 1 and any frame size, samples ``T`` frames, resizes, crops and normalizes
in the graph exactly as protocol ``1x1`` of ``evaluate`` does, and returns ``probabilities``
(float32 ``[batch, num_classes]``) and ``top_class`` (int64 ``[batch]``). ``assets/labels.txt``
names the classes, one per line in index order; ``assets/preprocessing.json`` records ``frames``
and ``image_size`` so that clients (``stm-keras predict``) can decode only the frames needed.
Loading needs TensorFlow only, not this package.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from stm_keras import model_dir as model_dir_lib
from stm_keras.evaluation.views import serving_clips

SIGNATURE_KEY = "serving_default"
INPUT_KEY = "video"
PROBABILITIES_KEY = "probabilities"
TOP_CLASS_KEY = "top_class"
LABELS_FILE = "labels.txt"
PREPROCESSING_FILE = "preprocessing.json"
SAVED_MODEL_FILE = "saved_model.pb"
VIDEO_SPEC = tf.TensorSpec([None, None, None, None, 3], tf.uint8, name=INPUT_KEY)


class ServingModule(tf.Module):
    """A Keras video classifier wrapped with its test-time preprocessing.

    ``serve`` maps uint8 ``video`` ``[batch, frames, height, width, 3]`` to ``probabilities``
    and ``top_class``.

    Args:
        model: keras.Model (TensorFlow backend). Input ``[N, T, S, S, 3]`` normalized frames,
            output logits.
        num_segments: int. ``T``.
        image_size: int. ``S``.
    """

    def __init__(self, model: Any, num_segments: int, image_size: int) -> None:
        import keras

        if keras.backend.backend() != "tensorflow":
            raise ValueError(
                f"a SavedModel needs the TensorFlow backend, not '{keras.backend.backend()}': "
                "set KERAS_BACKEND=tensorflow"
            )
        super().__init__(name="stm_keras_serving")
        self.num_segments = num_segments
        self.image_size = image_size

        def serve(video: tf.Tensor) -> dict[str, tf.Tensor]:
            clips = serving_clips(video, num_segments, image_size)
            # Mixed-precision models return float16 logits; the signature promises float32.
            logits = tf.cast(model(clips, training=False), tf.float32)
            probabilities = tf.nn.softmax(logits, axis=-1)
            return {
                PROBABILITIES_KEY: probabilities,
                TOP_CLASS_KEY: tf.argmax(probabilities, axis=-1, output_type=tf.int64),
            }

        self.serve = tf.function(serve, input_signature=[VIDEO_SPEC])
        # The model itself stays out of the object graph, as in keras.export.ExportArchive: only
        # the variables the function reads are tracked. With the Keras model as a child, the
        # TF1-style loader of saved_model_cli run and TF Serving could not restore them.
        self.model_variables = list(self.serve.get_concrete_function().variables)


def export_saved_model(
    model: Any,
    class_names: Sequence[str],
    num_segments: int,
    image_size: int,
    output_dir: str,
    metadata: dict[str, Any] | None = None,
) -> str:
    """Writes ``model`` with its preprocessing and labels as a SavedModel in ``output_dir``.

    Args:
        model: keras.Model (TensorFlow backend). Logits for ``len(class_names)`` classes.
        class_names: sequence of str. Written to ``assets/labels.txt``.
        num_segments: int. ``T``, frames the model takes.
        image_size: int. Side of the model's square input.
        output_dir: str. Created if missing; an existing SavedModel there is replaced.
        metadata: dict. Extra keys for ``assets/preprocessing.json`` (e.g. ``arch``).

    Returns:
        ``output_dir``.
    """
    bad = [name for name in class_names if "\n" in name or "\r" in name]
    if bad:
        raise ValueError(f"class names cannot contain line breaks: {bad}")
    module = ServingModule(model, num_segments, image_size)
    preprocessing = {
        **(metadata or {}),
        "frames": num_segments,
        "image_size": image_size,
        "num_classes": len(class_names),
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
        signature = module.serve.get_concrete_function()
        tf.saved_model.save(module, output_dir, signatures={SIGNATURE_KEY: signature})
    return output_dir


def export_model_dir(model_dir: str, output_dir: str) -> str:
    """Exports the ``model.keras`` of a ``stm-keras fit`` model directory, per its config.json.

    Raises:
        FileNotFoundError, ValueError: naming the unusable file, from ``stm_keras.model_dir``.
    """
    config = model_dir_lib.load_config(model_dir)
    model = model_dir_lib.load_model(model_dir)
    num_outputs = model.outputs[0].shape[-1]
    if num_outputs != len(config["classes"]):
        raise ValueError(
            f"{os.path.join(model_dir, model_dir_lib.MODEL_FILE)} has {num_outputs} outputs but "
            f"config.json lists {len(config['classes'])} classes"
        )
    return export_saved_model(
        model,
        config["classes"],
        int(config["frames"]),
        int(config["image_size"]),
        output_dir,
        metadata={"arch": config["arch"]},
    )


def read_labels(saved_model_dir: str) -> list[str]:
    """Class names of an exported SavedModel, in index order."""
    with open(os.path.join(saved_model_dir, "assets", LABELS_FILE), encoding="utf-8") as f:
        return f.read().splitlines()


def read_preprocessing(saved_model_dir: str) -> dict[str, Any]:
    """The ``preprocessing.json`` asset (``frames``, ``image_size``, ...) of an export."""
    with open(os.path.join(saved_model_dir, "assets", PREPROCESSING_FILE), encoding="utf-8") as f:
        return json.load(f)
