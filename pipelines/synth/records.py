"""Writes synthetic videos straight as preprocessed shards, without Beam or raw video files.

For tests and benchmarks that need a ``stm-keras preprocess`` output and not the preprocessing
itself: the clips are this package's (``render_clip`` of a layout's classes, see
:mod:`pipelines.synth.motion` and :mod:`pipelines.synth.classes`) and are stored through
:mod:`stm_keras.data.schema` as ``preprocess`` stores them: ``<split>-*.tfrecord`` shards of
JPEG frames and a ``dataset_info.json``.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Sequence

import numpy as np

from stm_keras.data import schema
from stm_keras.pipelines.synth.layouts import LAYOUTS, encode_jpeg
from stm_keras.pipelines.synth.motion import Motion, render_clip

DEFAULT_LAYOUT = "jester"
MIN_SIDE = 16  # as 'stm-keras synth' allows: smaller frames leave the shapes no room to move


def layout_classes(
    num_classes: int,
    layout: str = DEFAULT_LAYOUT,
    classes: Sequence[tuple[str, Motion]] | None = None,
) -> list[tuple[str, Motion]]:
    """The first ``num_classes`` (name, motion) classes of ``classes``, by default of
    ``layout``'s classes (whose order keeps temporal pairs together).

    Raises:
        ValueError: for an unknown layout or more classes than there are.
    """
    if classes is None:
        if layout not in LAYOUTS:
            raise ValueError(f"unknown layout '{layout}', expected one of {sorted(LAYOUTS)}")
        classes = LAYOUTS[layout].classes
    if not 1 <= num_classes <= len(classes):
        raise ValueError(f"num_classes must be 1..{len(classes)}, got {num_classes}")
    return [(str(name), motion) for name, motion in classes[:num_classes]]


def class_names(
    num_classes: int,
    layout: str = DEFAULT_LAYOUT,
    classes: Sequence[tuple[str, Motion]] | None = None,
) -> list[str]:
    """Names of the classes :func:`write_records` writes, in label order."""
    return [name for name, _ in layout_classes(num_classes, layout, classes)]


def write_records(
    output_dir: str,
    num_classes: int = 4,
    videos_per_split: dict[str, int] | None = None,
    num_frames: int | Sequence[int] = 8,
    height: int = 32,
    width: int = 40,
    num_shards: int = 2,
    dataset: str = "synthetic",
    seed: int = 0,
    layout: str = DEFAULT_LAYOUT,
    classes: Sequence[tuple[str, Motion]] | None = None,
) -> dict:
    """Writes ``<split>-*.tfrecord`` shards and ``dataset_info.json`` into ``output_dir``.

    Video ``i`` of a split is ``"<split>-<i>"``, of class ``i % num_classes``, stored in shard
    ``i % num_shards``.

    Args:
        output_dir: str. Created if missing.
        num_classes: int. The first K classes of ``classes`` (names and motions). Defaults to 4.
        videos_per_split: dict of split name to video count. Defaults to 8 train, 4 validation.
        num_frames: int or list of int. Frames per video; a list is cycled over the videos of
            each split so lengths can vary. Defaults to 8.
        height: int. Frame height, at least 16. Defaults to 32.
        width: int. Frame width, at least 16. Defaults to 40.
        num_shards: int. Shards per split. Defaults to 2.
        dataset: str. Dataset name recorded in dataset_info.json (the input pipeline's flip
            policy reads it). Defaults to "synthetic".
        seed: int. The same seed writes the same records. Defaults to 0.
        layout: str. Synthetic layout (``LAYOUTS``) whose classes are drawn and whose frame
            rate is recorded. Defaults to "jester".
        classes: sequence of (name, ``Motion``) or None. Classes to draw instead of the
            layout's, e.g. ones that appearance alone separates. Defaults to None.

    Returns:
        The dataset_info dict that was written: ``dataset``, ``classes``, ``num_classes`` and
        ``splits`` (``{split: {"shards": [...], "num_written": n}}``).
    """
    import tensorflow as tf

    if min(height, width) < MIN_SIDE:
        raise ValueError(f"frames must be at least {MIN_SIDE}x{MIN_SIDE}, got {height}x{width}")
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    videos_per_split = videos_per_split or {"train": 8, "validation": 4}
    lengths = [num_frames] if isinstance(num_frames, int) else [int(n) for n in num_frames]
    if not lengths or min(lengths) < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    classes = layout_classes(num_classes, layout, classes)
    names = [name for name, _ in classes]
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout '{layout}', expected one of {sorted(LAYOUTS)}")
    fps = LAYOUTS[layout].fps
    os.makedirs(output_dir, exist_ok=True)
    splits = {}
    for split, count in videos_per_split.items():
        shards = [schema.shard_name(split, i, num_shards) for i in range(num_shards)]
        writers = [tf.io.TFRecordWriter(os.path.join(output_dir, name)) for name in shards]
        try:
            for index in range(count):
                label = index % num_classes
                # One generator per video: a video does not change when others are added.
                rng = np.random.default_rng([seed, zlib.crc32(split.encode("utf-8")), index])
                length = lengths[index % len(lengths)]
                frames = render_clip(classes[label][1], rng, length, height, width)
                record = schema.VideoRecord(
                    video_id=f"{split}-{index}",
                    frames=[encode_jpeg(frame) for frame in frames],
                    label_index=label,
                    label_text=names[label],
                    height=height,
                    width=width,
                    fps=fps,
                )
                writers[index % num_shards].write(schema.encode(record))
        finally:
            for writer in writers:
                writer.close()
        splits[split] = {"shards": shards, "num_written": count}
    # The keys fit and evaluate read, as 'stm-keras preprocess' writes them.
    info = {"dataset": dataset, "classes": names, "num_classes": num_classes, "splits": splits}
    with open(os.path.join(output_dir, schema.DATASET_INFO_FILE), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
    return info
