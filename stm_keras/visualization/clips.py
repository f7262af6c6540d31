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


FRAME_CELL_INCHES = 1.25


def frame_grid(
    num_rows: int,
    num_frames: int,
    label_inches: float,
    bottom_inches: float,
    hspace: float,
    extra_inches: float = 0.0,
) -> tuple[Any, Any]:
    """A matplotlib ``Figure`` and its grid: one column per frame plus a thin colour-bar column.

    Args:
        num_rows: int. Rows of frames.
        num_frames: int. Frame columns.
        label_inches: float. Room left of the grid for the row labels.
        bottom_inches: float. Room below the grid for notes.
        hspace: float. Space between rows, as a fraction of a row.
        extra_inches: float. Added height, shared by the rows (text under frames). Defaults to 0.
    """
    from matplotlib.figure import Figure

    cell = FRAME_CELL_INCHES
    height = 0.75 + bottom_inches + extra_inches + cell * num_rows
    figure = Figure(figsize=(label_inches + cell * num_frames + 0.9, height))
    grid = figure.add_gridspec(
        num_rows,
        num_frames + 1,
        width_ratios=[1] * num_frames + [0.08],
        left=label_inches / figure.get_figwidth(),
        right=0.97 - 0.5 / figure.get_figwidth(),
        top=1 - 0.75 / figure.get_figheight(),
        bottom=bottom_inches / figure.get_figheight(),
        wspace=0.06,
        hspace=hspace,
    )
    return figure, grid


def save_figure(figure: Any, path: str) -> str:
    """Writes a matplotlib ``Figure`` as PNG (creating the folder) and returns ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    figure.savefig(path, format="png", dpi=DPI)
    return path
