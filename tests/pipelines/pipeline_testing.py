"""Helpers for the preprocessing tests: run the Beam job in-process and read its shards back."""

from __future__ import annotations

import io
import os

import numpy as np
import tensorflow as tf
from PIL import Image

from stm_keras.data import schema
from stm_keras.pipelines import preprocess
from stm_keras.pipelines.readers import FrameOptions

# In-process DirectRunner: the default multi-process runner is covered by one test only,
# because every worker process imports TensorFlow.
IN_MEMORY = ("--direct_running_mode=in_memory",)


def run_job(
    dataset: str, data_dir: str, output_dir: str, beam_args=IN_MEMORY, **config
) -> preprocess.PreprocessResult:
    """Runs the preprocess job on the in-process DirectRunner."""
    frames = FrameOptions(
        short_side=config.pop("short_side", 256),
        max_frames=config.pop("max_frames", None),
        jpeg_quality=config.pop("jpeg_quality", 90),
    )
    config.setdefault("max_failure_fraction", 1.0)
    return preprocess.run(
        preprocess.PreprocessConfig(
            dataset, str(data_dir), str(output_dir), frames=frames, **config
        ),
        list(beam_args),
        log=lambda line: None,
    )


def read_records(output_dir: str, split: str) -> list[schema.VideoRecord]:
    """Every record of ``split``, in shard order, via the shared schema."""
    files = schema.split_files(str(output_dir), split)
    return [schema.decode(r.numpy()) for r in tf.data.TFRecordDataset(files)]


def decode_jpeg(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32)


def decode_video(path: str) -> list[np.ndarray]:
    """All frames of a video file as float32 RGB arrays (an independent PyAV decode)."""
    import av

    with av.open(path) as container:
        return [f.to_ndarray(format="rgb24").astype(np.float32) for f in container.decode(video=0)]


def failures_of(output_dir: str, split: str) -> list[dict]:
    import json

    path = os.path.join(str(output_dir), f"failures-{split}.jsonl")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]
