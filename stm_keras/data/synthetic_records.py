"""Writes small preprocessed datasets (shards + dataset_info.json) without Beam or raw videos.

For tests and the input benchmark: each video is a class-tinted background with a square that
moves in a class-dependent direction, so both appearance and motion separate the classes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np

from stm_keras.data import schema

DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0))


def synthetic_frames(
    label: int,
    num_frames: int,
    height: int,
    width: int,
    rng: np.random.Generator,
    noise: int = 0,
) -> list[np.ndarray]:
    """uint8 ``[height, width, 3]`` frames of one synthetic video of class ``label``.

    ``noise`` > 0 adds uniform pixel noise of that amplitude, which makes JPEGs as large (and
    as slow to decode) as natural video frames.
    """
    tint = np.array([(label * 67) % 256, (label * 139 + 60) % 256, (label * 29 + 120) % 256])
    side = max(2, min(height, width) // 4)
    dy, dx = DIRECTIONS[label % len(DIRECTIONS)]
    y0 = int(rng.integers(0, height - side + 1))
    x0 = int(rng.integers(0, width - side + 1))
    frames = []
    for t in range(num_frames):
        frame = np.empty((height, width, 3), np.uint8)
        frame[:] = tint
        y = (y0 + dy * t * max(1, height // num_frames)) % (height - side + 1)
        x = (x0 + dx * t * max(1, width // num_frames)) % (width - side + 1)
        frame[y : y + side, x : x + side] = 255
        if noise:
            jitter = rng.integers(-noise, noise + 1, frame.shape)
            frame = np.clip(frame.astype(np.int16) + jitter, 0, 255).astype(np.uint8)
        frames.append(frame)
    return frames


def write_dataset(
    output_dir: str,
    num_classes: int = 4,
    videos_per_split: dict[str, int] | None = None,
    num_frames: int | Sequence[int] = 8,
    height: int = 32,
    width: int = 40,
    num_shards: int = 2,
    dataset: str = "synthetic",
    seed: int = 0,
    noise: int = 0,
) -> dict:
    """Writes ``<split>-*.tfrecord`` shards and ``dataset_info.json`` into ``output_dir``.

    Args:
        output_dir: str. Created if missing.
        num_classes: int. Labels cycle over the videos of each split. Defaults to 4.
        videos_per_split: dict of split name to video count. Defaults to 8 train, 4 validation.
        num_frames: int or list of int. Frames per video; a list is cycled over the videos so
            lengths can vary. Defaults to 8.
        height: int. Frame height. Defaults to 32.
        width: int. Frame width. Defaults to 40.
        num_shards: int. Shards per split. Defaults to 2.
        dataset: str. Dataset name recorded in dataset_info.json. Defaults to "synthetic".
        seed: int. Seed of the square positions. Defaults to 0.
        noise: int. Pixel noise amplitude (see :func:`synthetic_frames`). Defaults to 0.

    Returns:
        The dataset_info dict that was written.
    """
    import tensorflow as tf

    videos_per_split = videos_per_split or {"train": 8, "validation": 4}
    lengths = [num_frames] if isinstance(num_frames, int) else list(num_frames)
    classes = [f"class {k}" for k in range(num_classes)]
    rng = np.random.default_rng(seed)
    os.makedirs(output_dir, exist_ok=True)
    splits = {}
    for split, count in videos_per_split.items():
        shards = [schema.shard_name(split, i, num_shards) for i in range(num_shards)]
        writers = [tf.io.TFRecordWriter(os.path.join(output_dir, name)) for name in shards]
        for index in range(count):
            label = index % num_classes
            length = lengths[index % len(lengths)]
            frames = synthetic_frames(label, length, height, width, rng, noise)
            record = schema.VideoRecord(
                video_id=f"{split}-{index}",
                frames=[tf.io.encode_jpeg(frame, quality=90).numpy() for frame in frames],
                label_index=label,
                label_text=classes[label],
                height=height,
                width=width,
                fps=12.0,
            )
            writers[index % num_shards].write(schema.encode(record))
        for writer in writers:
            writer.close()
        splits[split] = {"shards": shards, "num_written": count}
    # The keys fit reads, as 'stm-keras preprocess' writes them.
    info = {"dataset": dataset, "classes": classes, "num_classes": num_classes, "splits": splits}
    with open(os.path.join(output_dir, schema.DATASET_INFO_FILE), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
    return info
