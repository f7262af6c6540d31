"""ONNX export through Keras 3's own ``model.export(format="onnx")`` (tf2onnx on TensorFlow).

The ONNX graph is the SavedModel's computation (``stm_keras.export.serving_outputs``): input
``video`` uint8 ``[batch, frames, height, width, 3]`` with dynamic batch, frame count and size;
frame sampling, resize, centre crop and normalization are ONNX ops in the graph; outputs
``probabilities`` and ``features``. Class names and the preprocessing record go into the
model's ``metadata_props`` (keys ``labels`` and ``preprocessing``) and beside the file.
Needs the ``onnx`` extra: ``pip install 'stm-keras[onnx]'`` (tf2onnx, onnx, onnxruntime).
"""

from __future__ import annotations

import json
import os
from typing import Any

import keras
import numpy as np

from stm_keras import export

MODEL_FILE = "model.onnx"
# Opset 13 (tf2onnx's default) leaves a dynamic-size Resize that onnxruntime rejects
# ("Number of elements of input 'sizes' (0) must be same as rank of input 'X'"); 17 is fine.
OPSET = 17
LABELS_METADATA_KEY = "labels"
PREPROCESSING_METADATA_KEY = "preprocessing"


def _require_onnx() -> None:
    missing = []
    for module in ("tf2onnx", "onnx"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ValueError(
            f"ONNX export needs {' and '.join(missing)}: pip install 'stm-keras[onnx]'"
        )


class _ServingModel(keras.Model):
    """The exported computation as a Keras model, for ``keras.Model.export``."""

    def __init__(self, classifier: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.classifier = classifier

    def call(self, video: Any) -> dict[str, Any]:
        return export.serving_outputs(self.classifier, video)


def export_onnx(classifier: Any, output_dir: str, metadata: dict[str, Any] | None = None) -> str:
    """Writes ``model.onnx``, ``labels.txt`` and ``preprocessing.json`` into ``output_dir``.

    Args:
        classifier: STMVideoClassifier (TensorFlow backend, float32) naming its classes.
        output_dir: str. An existing directory.
        metadata: dict. Extra keys for ``preprocessing.json``.

    Returns:
        The ``.onnx`` file's path.
    """
    _require_onnx()
    import onnx

    class_names = export.check_class_names(classifier)
    preprocessing = export.preprocessing_record(
        classifier, {"format": "onnx", "opset": OPSET, **(metadata or {})}
    )
    path = os.path.join(output_dir, MODEL_FILE)
    serving = _ServingModel(classifier, name="stm_keras_serving")
    # keras.Model.export wants a built model: one call on a tiny video builds it.
    size = classifier.preprocessor.image_size
    serving(np.zeros([1, classifier.preprocessor.num_segments, size, size, 3], np.uint8))
    serving.export(
        path, format="onnx", input_signature=[export.VIDEO_SPEC], opset_version=OPSET, verbose=False
    )
    model = onnx.load(path)
    for key, value in (
        (LABELS_METADATA_KEY, "\n".join(class_names)),
        (PREPROCESSING_METADATA_KEY, json.dumps(preprocessing, sort_keys=True)),
    ):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, path)
    export.write_sidecars(output_dir, class_names, preprocessing)
    return path
