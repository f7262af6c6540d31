"""TSN segment sampling as TF ops usable eagerly and in tf.data (``VideoClassifierPreprocessor``).

A video of ``n`` frames is split into ``T`` equal segments; training takes one random frame from
each segment, evaluation the middle frame of each. Videos shorter than ``T`` frames repeat frames
in order. Indices are sampled first so that only the chosen JPEGs are decoded.
"""

from __future__ import annotations

import tensorflow as tf


def _segment_bounds(num_frames: tf.Tensor, num_segments: int) -> tuple[tf.Tensor, tf.Tensor]:
    n = tf.cast(num_frames, tf.int64)
    i = tf.range(num_segments, dtype=tf.int64)
    start = (i * n) // num_segments
    end = tf.maximum(((i + 1) * n) // num_segments, start + 1)
    return start, end


def segment_indices(
    num_frames: tf.Tensor | int,
    num_segments: int,
    training: bool,
    seed: int | None = None,
) -> tf.Tensor:
    """Frame indices of one clip: one per segment.

    Args:
        num_frames: int scalar (tensor). Frames in the video, at least 1.
        num_segments: int. ``T``, the number of frames to sample.
        training: bool. Random frame per segment when True, the middle frame otherwise.
        seed: int. Op seed for the random offsets. Defaults to None.

    Returns:
        int32 tensor ``[num_segments]``, non-decreasing, each in ``[0, num_frames)``.
    """
    if not training:
        return multi_clip_indices(num_frames, num_segments, num_clips=1)[0]
    start, end = _segment_bounds(num_frames, num_segments)
    offset = tf.random.uniform([num_segments], 0, 1, seed=seed)
    length = tf.cast(end - start, tf.float32)
    pick = start + tf.minimum(tf.cast(offset * length, tf.int64), end - start - 1)
    return tf.cast(pick, tf.int32)


def multi_clip_indices(num_frames: tf.Tensor | int, num_segments: int, num_clips: int) -> tf.Tensor:
    """Frame indices of ``num_clips`` clips evenly spaced over the video (the test protocol).

    Clip ``k`` takes, from each of the ``T`` segments, the frame at fraction
    ``(k + 0.5) / num_clips`` of the segment; one clip is the middle frame of each segment.

    Returns:
        int32 tensor ``[num_clips, num_segments]``.
    """
    # Exact integer arithmetic, floor(((2 C i + 2 k + 1) n) / (2 C T)): the same indices as
    # the real-valued formula, computed with int32 ops that LiteRT runs as builtins (float64
    # needs TF fallback ops). Single clips (C = 1, serving, 1x1) match the float64 formula of
    # stm-keras 0.2 everywhere; for 3 or 10 clips float64 rounded some exact integer positions
    # one frame down, which this no longer does. int32 holds 2 C T n for n < 2**31 / (2 C T)
    # frames: over three million at T = 32, C = 10.
    n = tf.cast(num_frames, tf.int32)
    i = tf.range(num_segments, dtype=tf.int32)[tf.newaxis, :]
    k = tf.range(num_clips, dtype=tf.int32)[:, tf.newaxis]
    numerator = (2 * num_clips * i + 2 * k + 1) * n
    index = numerator // (2 * num_clips * num_segments)
    return tf.minimum(index, tf.maximum(n - 1, 0))
