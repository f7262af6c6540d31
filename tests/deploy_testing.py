"""Tiny models, preprocessed shards and videos for the evaluate/export/predict tests.

Importable from every test module because pytest puts ``tests/`` (home of conftest.py) on
``sys.path``. These are plain builders; the expensive results are built once per test session
by the fixtures of tests/conftest.py (``tiny_records_dir``, ``tiny_model_dir``,
``tiny_saved_model``).
"""

from __future__ import annotations

import os

import numpy as np

from stm_keras import model_dir
from stm_keras.pipelines.synth import records

NUM_CLASSES = 3
# The names of the synthetic classes travel into labels.txt and reports.
CLASSES = tuple(records.class_names(NUM_CLASSES))
FRAMES = 4
IMAGE_SIZE = 32
# Validation videos of the tiny dataset: fewer frames than T, frames shared between the 10
# clips of 3x10, and wide frames so that the three crops differ.
VIDEO_LENGTHS = (3, 7, 12, 25, 9)
NUM_VIDEOS = len(VIDEO_LENGTHS)


def video_frames(num_frames: int, height: int, width: int, seed: int) -> np.ndarray:
    """uint8 ``[num_frames, height, width, 3]``: noise over a per-frame brightness ramp."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, num_frames)[:, None, None, None]
    columns = np.linspace(0, 55, width)[None, None, :, None]
    noise = rng.integers(0, 40, (num_frames, height, width, 3))
    return np.clip(ramp + columns + noise, 0, 255).astype(np.uint8)


def build_tiny_model():
    """A tiny real STM-ResNet-18 classifier (random weights) for ``CLASSES``, ``FRAMES`` and
    ``IMAGE_SIZE``, with its preprocessor."""
    from stm_keras.models import STMBackbone, STMVideoClassifier, VideoClassifierPreprocessor

    backbone = STMBackbone(
        depth=18, num_segments=FRAMES, width_multiplier=0.125, image_size=IMAGE_SIZE
    )
    preprocessor = VideoClassifierPreprocessor(
        num_segments=FRAMES, image_size=IMAGE_SIZE, class_names=CLASSES
    )
    return STMVideoClassifier(backbone, NUM_CLASSES, preprocessor, dropout=0.0)


def write_model_dir(path: str, model, data_dir: str | None = None) -> str:
    """Writes ``model`` as ``stm-keras fit`` would: config.json and the ``final`` preset."""
    config = {"arch": "stm", "frames": FRAMES, "image_size": IMAGE_SIZE, "classes": list(CLASSES)}
    if data_dir is not None:
        config["data_dir"] = data_dir
    model_dir.save_config(path, config)
    model_dir.save_preset(model, os.path.join(path, model_dir.FINAL_PRESET))
    return path


def write_dataset(path: str) -> str:
    """Writes the tiny validation split (shards + dataset_info.json) as preprocess would."""
    records.write_records(
        path,
        num_classes=NUM_CLASSES,
        videos_per_split={"validation": NUM_VIDEOS},
        num_frames=VIDEO_LENGTHS,
        height=36,
        width=48,
    )
    return path


def gray_ramp_frames(num_frames: int, height: int = 48, width: int = 64) -> np.ndarray:
    """uint8 frames of uniform gray, frame ``i`` at level ``frame_level(i)``: the index reads back
    from a decoded frame's mean even through lossy codecs."""
    levels = np.array([frame_level(i) for i in range(num_frames)], np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (num_frames, height, width, 3)).copy()


def frame_level(index: int) -> int:
    """Gray level of frame ``index`` of :func:`gray_ramp_frames`."""
    return 20 + 10 * index


def write_video(path: str, frames: np.ndarray, codec: str, fps: int = 12) -> str:
    """Encodes RGB ``frames`` with PyAV; the container follows ``path``'s extension."""
    import av

    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path
