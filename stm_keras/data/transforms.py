"""Evaluation-time spatial transforms, the geometry behind ``VideoClassifierPreprocessor``.

As TSN/STM test: the short side is resized to ``scale_size`` (256 for a 224 model, i.e.
``round(image_size * 256 / 224)``), then either one centre crop of ``image_size`` (protocol
``1x1``: ``resize_short_side`` then ``center_crop``) or three ``scale_size`` squares covering
the frame along its long side, each resized to ``image_size`` (protocol ``3x10``). All
functions take ``[..., H, W, C]`` tensors, so a whole clip ``[T, H, W, C]`` gets the same crop.
"""

from __future__ import annotations

import tensorflow as tf

PAPER_IMAGE_SIZE = 224
PAPER_SCALE_SIZE = 256


def scale_size_for(image_size: int) -> int:
    """Short side evaluation resizes to before cropping: 256 for the paper's 224."""
    return int(round(image_size * PAPER_SCALE_SIZE / PAPER_IMAGE_SIZE))


def resize_short_side(frames: tf.Tensor, short_side: int) -> tf.Tensor:
    """Bilinearly resizes ``[..., H, W, C]`` so that min(H, W) == ``short_side`` (float32 out)."""
    shape = tf.shape(frames)
    height, width = tf.cast(shape[-3], tf.float32), tf.cast(shape[-2], tf.float32)
    scale = tf.cast(short_side, tf.float32) / tf.minimum(height, width)
    new_height = tf.maximum(tf.cast(tf.round(height * scale), tf.int32), short_side)
    new_width = tf.maximum(tf.cast(tf.round(width * scale), tf.int32), short_side)
    new_height = tf.where(height <= width, short_side, new_height)
    new_width = tf.where(width < height, short_side, new_width)
    return tf.image.resize(tf.cast(frames, tf.float32), tf.stack([new_height, new_width]))


def center_crop(frames: tf.Tensor, size: int) -> tf.Tensor:
    """Centre ``size``×``size`` crop of ``[..., H, W, C]`` (H, W ≥ size)."""
    shape = tf.shape(frames)
    top = (shape[-3] - size) // 2
    left = (shape[-2] - size) // 2
    return frames[..., top : top + size, left : left + size, :]


def three_crop_views(
    frames: tf.Tensor, image_size: int, scale_size: int | None = None
) -> tf.Tensor:
    """Protocol ``3x10`` spatial views: three squares covering the frame along its long side.

    Returns:
        float32 ``[3, ..., image_size, image_size, C]``: start, centre and end crops of side
        ``scale_size`` (default ``scale_size_for(image_size)``) each resized to ``image_size``.
    """
    scale_size = scale_size or scale_size_for(image_size)
    frames = resize_short_side(frames, scale_size)
    shape = tf.shape(frames)
    height, width = shape[-3], shape[-2]
    views = []
    for fraction in (0, 1, 2):
        top = (height - scale_size) * fraction // 2
        left = (width - scale_size) * fraction // 2
        crop = frames[..., top : top + scale_size, left : left + scale_size, :]
        views.append(tf.image.resize(crop, [image_size, image_size]))
    return tf.stack(views)
