"""Streams for the live-recognition tests: class-change clips, frames that carry their index,
and a pipe fed at a camera's pace.

Importable from every test module (pytest puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from typing import BinaryIO

import numpy as np

from stm_keras.pipelines.synth import records
from stm_keras.pipelines.synth.motion import render_clip

# The videos of the jester_demo_model_dir fixture (tests/conftest.py): the first 4 classes of
# the Jester layout, 16 frames of 72x96 each.
DEMO_NUM_CLASSES = 4
DEMO_VIDEO_FRAMES, DEMO_HEIGHT, DEMO_WIDTH = 16, 72, 96
DEMO_CLASSES = tuple(records.class_names(DEMO_NUM_CLASSES))
SWIPING_LEFT, SWIPING_RIGHT = 0, 1  # time reversals of each other


def class_clips(class_index: int, count: int, seed: int) -> np.ndarray:
    """``count`` clips of a demo class drawn as the training data's generator draws them (fresh
    seeds), one after the other: uint8 ``[count * 16, 72, 96, 3]``."""
    _, motion = records.layout_classes(DEMO_NUM_CLASSES)[class_index]
    clips = [
        render_clip(
            motion, np.random.default_rng([seed, i]), DEMO_VIDEO_FRAMES, DEMO_HEIGHT, DEMO_WIDTH
        )
        for i in range(count)
    ]
    return np.concatenate(clips)


def indexed_frames(count: int, height: int = 2, width: int = 3) -> np.ndarray:
    """uint8 frames whose index reads back with :func:`frame_index` (up to 65535)."""
    frames = np.zeros((count, height, width, 3), np.uint8)
    frames[:, 0, 0, 0] = np.arange(count) // 256
    frames[:, 0, 0, 1] = np.arange(count) % 256
    return frames


def frame_index(frame: np.ndarray) -> int:
    """The index an :func:`indexed_frames` frame carries."""
    return int(frame[0, 0, 0]) * 256 + int(frame[0, 0, 1])


class PacedPipe:
    """An OS pipe written by a thread: ``chunks`` of bytes, ``pause`` seconds apart, then closed.

    A stand-in for a camera or ``ffmpeg -re`` piping raw frames. Use as a context manager; the
    reader is :attr:`reader`.
    """

    def __init__(self, chunks: Iterable[bytes], pause: float) -> None:
        read_fd, self._write_fd = os.pipe()
        self.reader: BinaryIO = os.fdopen(read_fd, "rb")
        self._chunks = list(chunks)
        self._pause = pause
        self._thread = threading.Thread(target=self._write, daemon=True)

    def _write(self) -> None:
        try:
            with os.fdopen(self._write_fd, "wb") as writer:
                for chunk in self._chunks:
                    writer.write(chunk)
                    writer.flush()
                    time.sleep(self._pause)
        except BrokenPipeError:  # the reader stopped early
            pass

    def __enter__(self) -> PacedPipe:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.reader.close()
        self._thread.join(5)
