"""Shard count, key ranges and atomic TFRecord writing."""

import os

import pytest
import tensorflow as tf

from stm_keras.pipelines import sharding


def test_shard_count_targets_bytes_with_a_floor_for_parallel_readers():
    mib = 1024 * 1024
    assert sharding.choose_num_shards(0, 0) == 0
    assert sharding.choose_num_shards(5, 10 * mib) == 1
    assert sharding.choose_num_shards(8, 10 * mib) == 8
    assert sharding.choose_num_shards(10_000, 1000 * 128 * mib) == 1000
    assert sharding.choose_num_shards(3, 1000 * 128 * mib) == 3  # never more than records
    assert sharding.choose_num_shards(10, 1, fixed=4) == 4


def test_key_ranges_split_sorted_keys_evenly():
    keys = sorted(sharding.record_key("train", str(i)) for i in range(100))
    boundaries = sharding.shard_boundaries(keys, 8)
    counts = [0] * 8
    for key in keys:
        counts[sharding.shard_index(key, boundaries)] += 1
    assert sum(counts) == 100
    assert max(counts) - min(counts) <= 1
    assert sharding.record_key("train", "1") != sharding.record_key("validation", "1")


def test_tfrecord_file_is_written_atomically_and_readable(tmp_path):
    path = str(tmp_path / "train-00000-of-00001.tfrecord")
    sharding.write_tfrecord_file(path, [b"first", b"", b"third"])
    sharding.write_tfrecord_file(path, [b"again"])  # replaces an earlier file
    assert [r.numpy() for r in tf.data.TFRecordDataset(path)] == [b"again"]
    assert os.listdir(tmp_path) == ["train-00000-of-00001.tfrecord"]


def test_failed_write_leaves_no_file_under_the_final_name(tmp_path):
    path = str(tmp_path / "train-00000-of-00001.tfrecord")

    def records():
        yield b"one"
        raise RuntimeError("worker died")

    with pytest.raises(RuntimeError):
        sharding.write_tfrecord_file(path, records())
    assert os.listdir(tmp_path) == []
