"""Deterministic sharding, after TFDS's Beam writer.

Every record gets a key that depends only on its split and video id. The shard count comes from
the split's total bytes, shards cover contiguous ranges of sorted keys, records are sorted by key
inside a shard, and each shard is written to a temporary name and then renamed. The same input
therefore gives byte-identical shards whatever the runner's bundle order, and a crash never leaves
a half-written file under a final shard name.

Encoded records are not shuffled through the runner: each worker appends them to a spill file of
its bundle and only ``(key, file, offset, size)`` references are grouped by shard. The
DirectRunner keeps shuffled data in memory, so this keeps a dataset larger than RAM within bounds.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import uuid
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.tfrecordio import _TFRecordUtil

TARGET_SHARD_BYTES = 128 * 1024 * 1024
MIN_SHARDS = 8
TEMP_PREFIX = ".tmp-"


def record_key(split: str, video_id: str) -> str:
    """A key that orders records pseudo-randomly (so shards mix classes), fixed per video."""
    return hashlib.sha256(f"{split}/{video_id}".encode()).hexdigest()[:32]


def choose_num_shards(num_records: int, total_bytes: int, fixed: int | None = None) -> int:
    """Shards for a split: ``fixed`` if given, else about ``TARGET_SHARD_BYTES`` each.

    At least ``MIN_SHARDS`` when there are that many records, so that many readers (GPUs,
    workers) can read in parallel; never more shards than records.
    """
    if fixed is not None:
        return fixed
    if num_records == 0:
        return 0
    count = math.ceil(total_bytes / TARGET_SHARD_BYTES)
    if num_records >= MIN_SHARDS:
        count = max(count, MIN_SHARDS)
    return max(1, min(count, num_records))


def shard_boundaries(sorted_keys: Sequence[str], num_shards: int) -> list[str]:
    """First keys of shards 1..n-1 when ``sorted_keys`` are cut into ``num_shards`` equal runs."""
    total = len(sorted_keys)
    return [sorted_keys[(i * total) // num_shards] for i in range(1, min(num_shards, total))]


def shard_index(key: str, boundaries: Sequence[str]) -> int:
    """The shard whose key range holds ``key``."""
    return bisect.bisect_right(boundaries, key)


def write_tfrecord_file(path: str, records: Iterable[bytes]) -> None:
    """Writes ``records`` as a TFRecord file at ``path``: a temporary file, then a rename.

    Works on every filesystem Beam supports (local, ``gs://``, ...).
    """
    directory, name = path.rsplit("/", 1) if "/" in path else (".", path)
    temp_path = FileSystems.join(directory, f"{TEMP_PREFIX}{name}-{uuid.uuid4().hex}")
    try:
        with FileSystems.create(temp_path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            for record in records:
                _TFRecordUtil.write_record(f, record)
    except BaseException:
        FileSystems.delete([temp_path])
        raise
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([temp_path], [path])


class SpilledRecord(NamedTuple):
    """Where one encoded record lies in a spill file, and what the summary needs of it."""

    split: str
    key: str
    size: int
    num_frames: int
    path: str
    offset: int


class SpillFile:
    """Appends encoded records to one file (one per bundle) and returns where each lies."""

    def __init__(self, directory: str):
        self.path = FileSystems.join(directory, f"{uuid.uuid4().hex}.spill")
        self._file = FileSystems.create(self.path, compression_type=CompressionTypes.UNCOMPRESSED)
        self._offset = 0

    def append(self, split: str, key: str, serialized: bytes, num_frames: int) -> SpilledRecord:
        self._file.write(serialized)
        record = SpilledRecord(split, key, len(serialized), num_frames, self.path, self._offset)
        self._offset += len(serialized)
        return record

    def close(self) -> None:
        self._file.close()


def read_spilled(records: Iterable[SpilledRecord]) -> dict[str, bytes]:
    """The bytes of ``records`` by key, reading each spill file once in offset order."""
    by_path: dict[str, list[SpilledRecord]] = {}
    for record in records:
        by_path.setdefault(record.path, []).append(record)
    data = {}
    for path, in_file in by_path.items():
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            for record in sorted(in_file, key=lambda r: r.offset):
                f.seek(record.offset)
                data[record.key] = f.read(record.size)
    return data
