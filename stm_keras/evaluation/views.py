"""The test-time views of a video, shared by ``evaluate``, the exported SavedModel and ``predict``.

Protocol ``1x1`` is one clip (the middle frame of each of ``T`` segments) with one centre crop;
``3x10`` is the paper's test protocol: 10 clips evenly spaced over the video times three crops
covering the frame, 30 views whose softmax scores are averaged. Frame sampling comes from
:mod:`stm_keras.data.sampling`, crops from :mod:`stm_keras.data.transforms`.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from stm_keras.data import sampling, transforms


@dataclasses.dataclass(frozen=True)
class Protocol:
    """A test protocol: ``num_crops`` spatial views of each of ``num_clips`` temporal clips."""

    name: str
    num_clips: int
    num_crops: int

    @property
    def num_views(self) -> int:
        return self.num_clips * self.num_crops


PROTOCOLS = {
    "1x1": Protocol("1x1", num_clips=1, num_crops=1),
    "3x10": Protocol("3x10", num_clips=10, num_crops=3),
}


def record_views(
    jpeg_frames: tf.Tensor, num_segments: int, image_size: int, protocol: Protocol
) -> tf.Tensor:
    """Decodes and crops the views of one preprocessed video (usable in ``tf.data.Dataset.map``).

    Only the frames some view uses are decoded, each once, however many clips share it.

    Args:
        jpeg_frames: string tensor ``[num_frames]``. One JPEG per frame (``schema.parse``).
        num_segments: int. ``T``, frames per clip.
        image_size: int. Side of the model's square input.
        protocol: Protocol. Which views to take.

    Returns:
        float32 ``[num_views, T, image_size, image_size, 3]``, ImageNet-normalized, crop-major
        (all clips of the first crop, then all clips of the second, ...).
    """
    indices = sampling.multi_clip_indices(
        tf.shape(jpeg_frames)[0], num_segments, protocol.num_clips
    )
    unique_indices, position = tf.unique(tf.reshape(indices, [-1]))
    decoded = tf.map_fn(
        lambda jpeg: tf.io.decode_jpeg(jpeg, channels=3),
        tf.gather(jpeg_frames, unique_indices),
        fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
    )
    # Spatial transforms act on each frame alone, so cropping the distinct frames once and then
    # gathering them into clips equals cropping every clip.
    if protocol.num_crops == 1:
        crops = transforms.single_view(decoded, image_size)[tf.newaxis]
    else:
        crops = transforms.three_crop_views(decoded, image_size)
    views = tf.gather(crops, position, axis=1)
    views = tf.reshape(views, [protocol.num_views, num_segments, image_size, image_size, 3])
    return sampling.normalize(views)


def serving_clips(video: tf.Tensor, num_segments: int, image_size: int) -> tf.Tensor:
    """The ``1x1`` view of a batch of raw videos, as the exported model computes it.

    Args:
        video: uint8 ``[batch, frames, height, width, 3]``, any frame count ≥ 1 and any size.
        num_segments: int. ``T``, frames the model takes.
        image_size: int. Side of the model's square input.

    Returns:
        float32 ``[batch, T, image_size, image_size, 3]``, ImageNet-normalized.
    """
    indices = sampling.segment_indices(tf.shape(video)[1], num_segments, training=False)
    clips = tf.gather(video, indices, axis=1)
    shape = tf.shape(clips)
    # tf.image.resize takes at most one batch dimension: fold clips into it and back.
    frames = tf.reshape(clips, tf.concat([[-1], shape[2:]], axis=0))
    frames = transforms.single_view(frames, image_size)
    clips = tf.reshape(frames, [shape[0], num_segments, image_size, image_size, 3])
    return sampling.normalize(clips)
