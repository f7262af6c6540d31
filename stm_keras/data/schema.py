"""The TFRecord schema of preprocessed videos, defined once for the Beam writer and tf.data reader.

Each record is a ``tf.train.SequenceExample`` with the keys TF Model Garden and DMVR use, so
other TF video tooling can read the shards:

- feature list ``image/encoded``: one JPEG per frame, in temporal order;
- context ``clip/label/index`` (int64, ``NO_LABEL`` when the split has no labels),
  ``clip/label/text`` (bytes), ``video/id`` (bytes), ``video/num_frames``, ``image/height``,
  ``image/width`` (int64) and ``video/fps`` (float).

A preprocessed dataset directory holds ``<split>-<i:05d>-of-<n:05d>.tfrecord`` shards and a
``dataset_info.json`` describing classes and splits.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Sequence
from typing import Any

IMAGE_ENCODED = "image/encoded"
LABEL_INDEX = "clip/label/index"
LABEL_TEXT = "clip/label/text"
VIDEO_ID = "video/id"
NUM_FRAMES = "video/num_frames"
HEIGHT = "image/height"
WIDTH = "image/width"
FPS = "video/fps"

NO_LABEL = -1
DATASET_INFO_FILE = "dataset_info.json"
SHARD_SUFFIX = ".tfrecord"
SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class VideoRecord:
    """One preprocessed video: its JPEG frames and metadata.

    Args:
        video_id: str. The dataset's id of the video.
        frames: sequence of bytes. One encoded JPEG per frame, in temporal order.
        label_index: int. Class index, or ``NO_LABEL`` for unlabelled splits.
        label_text: str. Class name ("" for unlabelled splits).
        height: int. Frame height in pixels.
        width: int. Frame width in pixels.
        fps: float. Frames per second of the stored frames.
    """

    video_id: str
    frames: Sequence[bytes]
    label_index: int
    label_text: str
    height: int
    width: int
    fps: float

    @property
    def num_frames(self) -> int:
        return len(self.frames)


def shard_name(split: str, index: int, num_shards: int) -> str:
    """File name of shard ``index`` of ``num_shards`` of ``split``."""
    return f"{split}-{index:05d}-of-{num_shards:05d}{SHARD_SUFFIX}"


def encode(record: VideoRecord) -> bytes:
    """Serializes ``record`` to ``SequenceExample`` bytes, deterministically.

    The message classes are protobuf's, built from ``tensorflow/core/example`` definitions
    (:func:`sequence_example_class`) without importing TensorFlow: the Beam workers that call
    this never need TensorFlow. Same bytes as ``tf.train.SequenceExample`` would write.

    Raises:
        ValueError: for a label index, frame count or size outside int64.
    """
    example = sequence_example_class()()
    context = example.context.feature
    try:
        context[VIDEO_ID].bytes_list.value.append(record.video_id.encode("utf-8"))
        context[LABEL_INDEX].int64_list.value.append(int(record.label_index))
        context[LABEL_TEXT].bytes_list.value.append(record.label_text.encode("utf-8"))
        context[NUM_FRAMES].int64_list.value.append(len(record.frames))
        context[HEIGHT].int64_list.value.append(int(record.height))
        context[WIDTH].int64_list.value.append(int(record.width))
    except ValueError as error:
        raise ValueError(f"video {record.video_id!r}: {error}") from error
    context[FPS].float_list.value.append(float(record.fps))
    frames = example.feature_lists.feature_list[IMAGE_ENCODED]
    for jpeg in record.frames:
        frames.feature.add().bytes_list.value.append(bytes(jpeg))
    return example.SerializeToString(deterministic=True)


@functools.cache
def sequence_example_class() -> type:
    """``tensorflow.SequenceExample`` as a protobuf message class, without TensorFlow.

    Built in a private descriptor pool from the fields of ``tensorflow/core/example/feature.proto``
    and ``example.proto`` (same names, numbers and packing), so the wire format is TF's.
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="stm_keras/sequence_example.proto", package="tensorflow", syntax="proto3"
    )

    def message(name: str, *fields: tuple, parent: Any = None, oneof: str | None = None) -> Any:
        """Adds message ``name`` with ``fields`` (name, type, label, type name) numbered 1..n."""
        spec = (parent.nested_type if parent else proto.message_type).add(name=name)
        if oneof:
            spec.oneof_decl.add(name=oneof)
        for number, (field_name, kind, label, type_name) in enumerate(fields, start=1):
            added = spec.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                added.type_name = f".tensorflow.{type_name}"
            if oneof:
                added.oneof_index = 0
        return spec

    def string_map(container: str, field_name: str, value_type: str) -> None:
        """``message container { map<string, value_type> field_name = 1; }``"""
        entry = f"{container}Entry"
        spec = message(container, (field_name, MESSAGE, REPEATED, f"{container}.{entry}"))
        entry_spec = message(
            entry,
            ("key", field.TYPE_STRING, OPTIONAL, None),
            ("value", MESSAGE, OPTIONAL, value_type),
            parent=spec,
        )
        entry_spec.options.map_entry = True

    REPEATED, OPTIONAL, MESSAGE = field.LABEL_REPEATED, field.LABEL_OPTIONAL, field.TYPE_MESSAGE
    message("BytesList", ("value", field.TYPE_BYTES, REPEATED, None))
    message("FloatList", ("value", field.TYPE_FLOAT, REPEATED, None)).field[0].options.packed = True
    message("Int64List", ("value", field.TYPE_INT64, REPEATED, None)).field[0].options.packed = True
    message(
        "Feature",
        ("bytes_list", MESSAGE, OPTIONAL, "BytesList"),
        ("float_list", MESSAGE, OPTIONAL, "FloatList"),
        ("int64_list", MESSAGE, OPTIONAL, "Int64List"),
        oneof="kind",
    )
    string_map("Features", "feature", "Feature")
    message("FeatureList", ("feature", MESSAGE, REPEATED, "Feature"))
    string_map("FeatureLists", "feature_list", "FeatureList")
    message(
        "SequenceExample",
        ("context", MESSAGE, OPTIONAL, "Features"),
        ("feature_lists", MESSAGE, OPTIONAL, "FeatureLists"),
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.SequenceExample"))


def decode(serialized: bytes) -> VideoRecord:
    """Parses ``SequenceExample`` bytes (written by :func:`encode`) in plain Python."""
    import tensorflow as tf

    example = tf.train.SequenceExample.FromString(serialized)
    context = example.context.feature
    frames = [
        f.bytes_list.value[0] for f in example.feature_lists.feature_list[IMAGE_ENCODED].feature
    ]
    return VideoRecord(
        video_id=context[VIDEO_ID].bytes_list.value[0].decode("utf-8"),
        frames=frames,
        label_index=int(context[LABEL_INDEX].int64_list.value[0]),
        label_text=context[LABEL_TEXT].bytes_list.value[0].decode("utf-8"),
        height=int(context[HEIGHT].int64_list.value[0]),
        width=int(context[WIDTH].int64_list.value[0]),
        fps=float(context[FPS].float_list.value[0]),
    )


def parse(serialized: Any) -> dict[str, Any]:
    """Parses a scalar string tensor of ``SequenceExample`` bytes inside a TF graph.

    Returns:
        A dict with keys ``frames`` (string ``[num_frames]`` of JPEGs, not decoded), ``label``
        (int64), ``label_text`` and ``video_id`` (string), ``num_frames``, ``height``, ``width``
        (int64) and ``fps`` (float32).
    """
    import tensorflow as tf

    context_features = {
        VIDEO_ID: tf.io.FixedLenFeature([], tf.string),
        LABEL_INDEX: tf.io.FixedLenFeature([], tf.int64, default_value=NO_LABEL),
        LABEL_TEXT: tf.io.FixedLenFeature([], tf.string, default_value=""),
        NUM_FRAMES: tf.io.FixedLenFeature([], tf.int64),
        HEIGHT: tf.io.FixedLenFeature([], tf.int64),
        WIDTH: tf.io.FixedLenFeature([], tf.int64),
        FPS: tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
    }
    sequence_features = {IMAGE_ENCODED: tf.io.FixedLenSequenceFeature([], tf.string)}
    context, sequence = tf.io.parse_single_sequence_example(
        serialized, context_features=context_features, sequence_features=sequence_features
    )
    return {
        "frames": sequence[IMAGE_ENCODED],
        "label": context[LABEL_INDEX],
        "label_text": context[LABEL_TEXT],
        "video_id": context[VIDEO_ID],
        "num_frames": context[NUM_FRAMES],
        "height": context[HEIGHT],
        "width": context[WIDTH],
        "fps": context[FPS],
    }


def load_dataset_info(data_dir: str) -> dict[str, Any]:
    """Reads ``dataset_info.json`` of a preprocessed dataset directory.

    Raises:
        FileNotFoundError: naming the missing file, when ``data_dir`` is not a preprocess output.
    """
    path = os.path.join(data_dir, DATASET_INFO_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} not found: --data-dir must be the output directory of 'stm-keras preprocess'."
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def split_files(data_dir: str, split: str, info: dict[str, Any] | None = None) -> list[str]:
    """Full paths of the shards of ``split`` listed in ``dataset_info.json``.

    Raises:
        ValueError: when the split is absent from the dataset or lists no shard.
    """
    info = info if info is not None else load_dataset_info(data_dir)
    splits = info.get("splits", {})
    if split not in splits or not splits[split].get("shards"):
        raise ValueError(
            f"split '{split}' not found in {os.path.join(data_dir, DATASET_INFO_FILE)}; "
            f"available: {sorted(splits)}"
        )
    return [os.path.join(data_dir, name) for name in splits[split]["shards"]]
