"""Deterministic sharding, after TFDS's Beam writer.

Every record gets a key that depends only on its split and video id. The shard count comes from
the split's total bytes, shards cover contiguous ranges of sorted keys, records are sorted by key
inside a shard, and each shard is written to a temporary name and then renamed. The same input
therefore gives byte-identical shards whatever the runner's bundle order, and a crash never leaves
a half-written file under a final shard name.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import uuid
from collections.abc import Iterable, Sequence

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
