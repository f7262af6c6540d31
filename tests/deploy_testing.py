"""Tiny model directories, preprocessed shards and videos for the evaluate/export/predict tests.

Importable from every test module because pytest puts ``tests/`` (home of conftest.py) on
``sys.path``. The expensive pieces are built once per test process and cached.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile

import numpy as np

from stm_keras import model_dir
from stm_keras.data import synthetic_records

NUM_CLASSES = 3
# synthetic_records names its classes "class <k>"; the names travel into labels.txt and reports.
CLASSES = tuple(f"class {k}" for k in range(NUM_CLASSES))
FRAMES = 4
IMAGE_SIZE = 32
MODEL_KWARGS = {
    "depth": 18,
    "num_classes": NUM_CLASSES,
    "num_segments": FRAMES,
    "width_multiplier": 0.125,
    "dropout": 0.0,
}
# Validation videos of the tiny dataset: fewer frames than T, frames shared between the 10
# clips of 3x10, and wide frames so that the three crops differ.
VIDEO_LENGTHS = (3, 7, 12, 25, 9)
NUM_VIDEOS = len(VIDEO_LENGTHS)


def _scratch_dir() -> str:
    path = tempfile.mkdtemp(prefix="stm-keras-deploy-test-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def video_frames(num_frames: int, height: int, width: int, seed: int) -> np.ndarray:
    """uint8 ``[num_frames, height, width, 3]``: noise over a per-frame brightness ramp."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, num_frames)[:, None, None, None]
    columns = np.linspace(0, 55, width)[None, None, :, None]
    noise = rng.integers(0, 40, (num_frames, height, width, 3))
    return np.clip(ramp + columns + noise, 0, 255).astype(np.uint8)


def build_tiny_model():
    """A tiny real STM-ResNet-18 (random weights) for ``CLASSES``, ``FRAMES`` and ``IMAGE_SIZE``."""
    from stm_keras.models import build_stm_resnet

    return build_stm_resnet(**MODEL_KWARGS)


def write_model_dir(path: str, model, data_dir: str | None = None) -> str:
    """Saves ``model`` with a config.json as ``stm-keras fit`` would."""
    config = {
        "arch": "stm",
        "frames": FRAMES,
        "image_size": IMAGE_SIZE,
        "classes": list(CLASSES),
        "model": MODEL_KWARGS,
    }
    if data_dir is not None:
        config["data_dir"] = data_dir
    model_dir.save_config(path, config)
    model.save(os.path.join(path, model_dir.MODEL_FILE))
    return path


def write_dataset(path: str) -> str:
    """Writes the tiny validation split (shards + dataset_info.json) as preprocess would."""
    synthetic_records.write_dataset(
        path,
        num_classes=NUM_CLASSES,
        videos_per_split={"validation": NUM_VIDEOS},
        num_frames=VIDEO_LENGTHS,
        height=36,
        width=48,
    )
    return path


@functools.cache
def tiny_model_dir() -> str:
    """A model directory (recording its dataset as data_dir) shared by this test process."""
    root = _scratch_dir()
    data_dir = write_dataset(os.path.join(root, "records"))
    return write_model_dir(os.path.join(root, "run"), build_tiny_model(), data_dir=data_dir)


@functools.cache
def tiny_saved_model() -> str:
    """``tiny_model_dir()`` exported as a SavedModel, shared by this test process."""
    from stm_keras import export

    return export.export_model_dir(tiny_model_dir(), os.path.join(_scratch_dir(), "saved_model"))


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
