"""What every picture of a model starts from: one clip as the network sees it, and its scores."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

# The figures' resolution: a 8-frame figure is about 1000 pixels wide.
DPI = 100


@dataclasses.dataclass(frozen=True)
class ModelClip:
    """One clip prepared for a classifier.

    Attributes:
        view: uint8 ``[T, S, S, 3]``. The frames after the test-time resize and centre crop,
            before normalization: what the pictures draw under the heat maps.
        clips: float32 ``[1, T, S, S, 3]``. The normalized network input.
    """

    view: np.ndarray
    clips: np.ndarray


def prepare_clip(preprocessor: Any, frames: np.ndarray) -> ModelClip:
    """The test-time view (protocol ``1x1``) of ``frames``, as ``predict`` feeds a model.

    Args:
        preprocessor: VideoClassifierPreprocessor. The classifier's own.
        frames: uint8 ``[frames, height, width, 3]``. ``T`` frames (``predict.read_clip``) or a
            whole video, which is sampled as evaluation samples it.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected RGB frames [frames, height, width, 3], got {frames.shape}")
    if len(frames) != preprocessor.num_segments:
        indices = preprocessor.sample_indices(len(frames), training=False).numpy()
        frames = frames[indices]
    clips = np.asarray(preprocessor(frames[np.newaxis]), np.float32)
    view = np.asarray(preprocessor.center_view(frames))
    return ModelClip(np.clip(np.round(view), 0, 255).astype(np.uint8), clips)


def class_probabilities(classifier: Any, clips: np.ndarray) -> np.ndarray:
    """float64 ``[num_classes]``: the classifier's class probabilities for one clip."""
    import keras

    outputs = np.asarray(keras.ops.convert_to_numpy(classifier(clips, training=False)))[0]
    outputs = outputs.astype(np.float64)
    if classifier.activation is not None:
        return outputs
    exponentials = np.exp(outputs - outputs.max())
    return exponentials / exponentials.sum()


def class_name(classifier: Any, index: int) -> str:
    """The name of class ``index`` (``"class <index>"`` for a model without class names)."""
    names = classifier.class_names
    return str(names[index]) if names else f"class {index}"


def save_figure(figure: Any, path: str) -> str:
    """Writes a matplotlib ``Figure`` as PNG (creating the folder) and returns ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    figure.savefig(path, format="png", dpi=DPI)
    return path
