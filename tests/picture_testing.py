"""Checks shared by the picture tests: a PNG of the expected size that is not blank."""

from __future__ import annotations

import numpy as np
from PIL import Image


def read_png(path: str) -> np.ndarray:
    """The RGB pixels of the PNG at ``path`` (asserting that it is a PNG)."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB")).astype(np.float64)


def assert_picture(path: str, min_width: int, min_height: int) -> np.ndarray:
    """Asserts a PNG at least ``min_width`` × ``min_height`` whose pixels vary; returns them."""
    pixels = read_png(path)
    height, width = pixels.shape[:2]
    assert width >= min_width and height >= min_height, (width, height)
    # A blank (single-colour) image has no variance; a drawn one has plenty.
    assert pixels.var() > 100, pixels.var()
    return pixels
