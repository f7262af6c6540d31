"""Training-time augmentation as TSN/STM train: multi-scale corner cropping and optional flip.

One crop window is drawn per clip and applied to all of its frames, so motion between frames is
not distorted. Windows are computed from the stored frame size, so the JPEGs can be decoded
straight into the window (``tf.image.decode_and_crop_jpeg``) instead of decoding whole frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

# TSN's GroupMultiScaleCrop: crop sides as fractions of the short side; width and height are
# drawn independently with index distance at most MAX_DISTORT (so aspect ratios stay moderate).
CROP_SCALES = (1.0, 0.875, 0.75, 0.66)
MAX_DISTORT = 1

# The key of dataset_info.json that says whether a mirrored clip can have another label.
DIRECTION_SENSITIVE_KEY = "direction_sensitive"

# dataset_info.json files written before DIRECTION_SENSITIVE_KEY existed name the dataset only:
# these names have labels that name a direction ("Swiping Left").
DIRECTION_DATASETS = frozenset(
    {"jester", "something-something-v1", "something-something-v2", "sthv1", "sthv2", "ssv1", "ssv2"}
)

DatasetInfo = Mapping[str, Any] | str | None


def dataset_name(dataset: DatasetInfo) -> str:
    """The dataset's name: ``dataset`` itself, or the ``dataset`` entry of a dataset_info."""
    if isinstance(dataset, Mapping):
        return str(dataset.get("dataset") or "")
    return dataset or ""


def direction_sensitive(dataset: DatasetInfo) -> bool:
    """Whether horizontal flipping can change the label of a clip of ``dataset``.

    The one place of the flip policy. A dataset_info dict answers with its
    ``direction_sensitive`` entry; one written before that entry existed, or a bare dataset
    name, by the name (``DIRECTION_DATASETS`` and every Something-Something spelling).

    Args:
        dataset: dict, str or None. The contents of ``dataset_info.json`` or a dataset name.

    Raises:
        ValueError: when ``direction_sensitive`` is there but not a boolean.
    """
    if isinstance(dataset, Mapping) and dataset.get(DIRECTION_SENSITIVE_KEY) is not None:
        recorded = dataset[DIRECTION_SENSITIVE_KEY]
        if not isinstance(recorded, bool):
            raise ValueError(
                f"dataset_info.json: '{DIRECTION_SENSITIVE_KEY}' must be true or false, "
                f"got {recorded!r}"
            )
        return recorded
    name = dataset_name(dataset).lower().replace("_", "-")
    return name in DIRECTION_DATASETS or name.startswith("something")


def flip_allowed(dataset: DatasetInfo) -> bool:
    """Whether horizontal flipping keeps labels valid for ``dataset`` (a dataset_info or name)."""
    return not direction_sensitive(dataset)


def default_flip(dataset: DatasetInfo) -> bool:
    """Flip on by default when mirroring keeps labels valid, off for direction datasets.

    Off, too, when nothing is known: neither a ``direction_sensitive`` entry nor a name.
    """
    known = isinstance(dataset, Mapping) and dataset.get(DIRECTION_SENSITIVE_KEY) is not None
    return (known or bool(dataset_name(dataset))) and flip_allowed(dataset)


def check_flip(dataset: DatasetInfo, flip: bool) -> None:
    """Refuses horizontal flipping for datasets whose labels depend on direction.

    Raises:
        ValueError: naming the dataset, when ``flip`` is requested for a direction dataset.
    """
    if flip and direction_sensitive(dataset):
        raise ValueError(
            f"horizontal flip is refused for dataset '{dataset_name(dataset)}': its labels depend "
            "on direction (a flipped 'Swiping Left' is 'Swiping Right')."
        )


def _crop_size_pairs() -> tf.Tensor:
    pairs = [
        (i, j)
        for i in range(len(CROP_SCALES))
        for j in range(len(CROP_SCALES))
        if abs(i - j) <= MAX_DISTORT
    ]
    return tf.constant(pairs, tf.int32)


def multi_scale_crop_window(
    height: tf.Tensor | int, width: tf.Tensor | int, seed: int | None = None
) -> tf.Tensor:
    """Draws one TSN multi-scale corner crop window for a ``height``×``width`` frame.

    The crop height and width are ``int(short_side * s)`` for scales ``s`` of ``CROP_SCALES``
    picked independently with ``|i - j| <= MAX_DISTORT``; the window sits at one of the four
    corners or the centre, as TSN's ``fix_crop``.

    Args:
        height: int scalar (tensor). Frame height.
        width: int scalar (tensor). Frame width.
        seed: int. Op seed. Defaults to None.

    Returns:
        int32 ``[4]``: ``[top, left, crop_height, crop_width]``, inside the frame.
    """
    height = tf.cast(height, tf.int32)
    width = tf.cast(width, tf.int32)
    short_side = tf.cast(tf.minimum(height, width), tf.float32)
    sizes = tf.maximum(tf.cast(short_side * tf.constant(CROP_SCALES), tf.int32), 1)
    pairs = _crop_size_pairs()
    draw = tf.random.uniform([2], 0, 2**31 - 1, dtype=tf.int32, seed=seed)
    pair = pairs[draw[0] % tf.shape(pairs)[0]]
    crop_height, crop_width = sizes[pair[0]], sizes[pair[1]]
    # Offsets in quarters of the free space: four corners and the centre.
    height_step = (height - crop_height) // 4
    width_step = (width - crop_width) // 4
    positions = tf.constant([[0, 0], [0, 4], [4, 0], [4, 4], [2, 2]], tf.int32)
    position = positions[draw[1] % 5]
    return tf.stack([position[0] * height_step, position[1] * width_step, crop_height, crop_width])


def decode_and_crop(jpegs: tf.Tensor, window: tf.Tensor) -> tf.Tensor:
    """Decodes ``[T]`` JPEG strings, keeping only ``window`` (``[top, left, h, w]``) of each.

    Returns:
        uint8 ``[T, h, w, 3]``.
    """
    return tf.map_fn(
        lambda jpeg: tf.image.decode_and_crop_jpeg(jpeg, window, channels=3),
        jpegs,
        fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
    )


def train_view(
    jpegs: tf.Tensor,
    height: tf.Tensor | int,
    width: tf.Tensor | int,
    image_size: int,
    flip: bool = False,
    seed: int | None = None,
) -> tf.Tensor:
    """Training view of a clip: a multi-scale corner crop resized to ``image_size``, maybe flipped.

    Args:
        jpegs: string ``[T]``. The clip's sampled frames, still encoded.
        height: int scalar (tensor). Stored frame height.
        width: int scalar (tensor). Stored frame width.
        image_size: int. Output side.
        flip: bool. Mirror the whole clip with probability 0.5. Defaults to False.
        seed: int. Op seed. Defaults to None.

    Returns:
        float32 ``[T, image_size, image_size, 3]`` in the 0..255 range (not normalized).
    """
    window = multi_scale_crop_window(height, width, seed=seed)
    frames = tf.image.resize(decode_and_crop(jpegs, window), [image_size, image_size])
    if flip:
        # Another op seed than the crop's: equal op seeds would draw correlated numbers.
        mirror = tf.random.uniform([], seed=None if seed is None else seed + 1) < 0.5
        frames = tf.cond(mirror, lambda: tf.reverse(frames, axis=[-2]), lambda: frames)
    return frames
