"""The tf.data input pipeline on real TFRecord shards written with the shared schema."""

import json

import numpy as np
import pytest
import tensorflow as tf

from stm_keras.data import input_pipeline, sampling, schema, transforms
from stm_keras.models import VideoClassifierPreprocessor
from stm_keras.pipelines.synth.records import class_names, write_records

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def _preprocessor(num_frames, image_size, **kwargs):
    return VideoClassifierPreprocessor(num_segments=num_frames, image_size=image_size, **kwargs)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """12 train and 5 validation videos of 3, 8 or 12 frames (some shorter than T) in 3 shards."""
    path = tmp_path_factory.mktemp("records")
    write_records(
        str(path),
        num_classes=3,
        videos_per_split={"train": 12, "validation": 5},
        num_frames=[3, 8, 12],
        height=30,
        width=40,
        num_shards=3,
        dataset="jester",
    )
    return str(path)


def test_load_split_reads_dataset_info(records, tmp_path):
    split = input_pipeline.load_split(records, "train")
    assert len(split.files) == 3 and split.num_examples == 12
    assert split.classes == class_names(3) and split.dataset == "jester"
    # Without a count the shards are counted.
    info = schema.load_dataset_info(records)
    del info["splits"]["validation"]["num_written"]
    assert input_pipeline.load_split(records, "validation", info).num_examples == 5
    info["splits"]["validation"]["shards"].append("validation-00009-of-00010.tfrecord")
    with pytest.raises(FileNotFoundError, match="validation-00009"):
        input_pipeline.load_split(records, "validation", info)


def _first_record(records, split="validation"):
    return next(iter(tf.data.TFRecordDataset(schema.split_files(records, split))))


@pytest.mark.parametrize("training", [True, False])
def test_decode_clip_eager_and_mapped(records, training):
    serialized = _first_record(records)

    def decode(s):
        return input_pipeline.decode_clip(s, _preprocessor(4, 24), training=training)

    eager = decode(serialized)
    mapped = next(iter(tf.data.Dataset.from_tensors(serialized).map(decode)))
    for clip, label in (eager, mapped):
        assert clip.shape == (4, 24, 24, 3) and clip.dtype == tf.float32
        assert label.dtype == tf.int32 and int(label) == 0
        # ImageNet-normalized: pure white maps to (1 - mean) / std, black to -mean / std.
        assert float(tf.reduce_min(clip)) > -2.2 and float(tf.reduce_max(clip)) < 2.7
    if not training:
        np.testing.assert_allclose(eager[0].numpy(), mapped[0].numpy(), atol=1e-5)


def test_validation_clip_is_single_view_of_segment_middles(records):
    serialized = _first_record(records)
    clip, _ = input_pipeline.decode_clip(serialized, _preprocessor(4, 24), training=False)
    record = schema.decode(serialized.numpy())
    # A 3-frame video for T=4: frames repeat in order.
    assert record.num_frames == 3
    indices = sampling.segment_indices(record.num_frames, 4, training=False).numpy()
    assert indices.tolist() == [0, 1, 1, 2]
    frames = tf.stack([tf.io.decode_jpeg(record.frames[i]) for i in indices])
    resized = transforms.resize_short_side(frames, transforms.scale_size_for(24))
    expected = (transforms.center_crop(resized, 24).numpy() / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(clip.numpy(), expected, atol=1e-5)


def test_training_batches_repeat_and_drop_remainder(records):
    files = schema.split_files(records, "train")
    dataset = input_pipeline.make_dataset(
        files, _preprocessor(8, 16), batch_size=5, training=True, seed=3
    )
    labels = []
    for clips, batch_labels in dataset.take(6):
        assert clips.shape == (5, 8, 16, 16, 3)
        labels += batch_labels.numpy().tolist()
    # 30 clips from 12 videos: the dataset repeats; every class appears.
    assert sorted(set(labels)) == [0, 1, 2]


def test_validation_reads_every_video_once_in_order(records):
    files = schema.split_files(records, "validation")
    dataset = input_pipeline.make_dataset(files, _preprocessor(4, 16), batch_size=2, training=False)
    batches = list(dataset)
    assert [int(b[0].shape[0]) for b in batches] == [2, 2, 1]
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert sorted(labels.tolist()) == [0, 0, 1, 1, 2]
    again = np.concatenate([b[1].numpy() for b in dataset])
    np.testing.assert_array_equal(labels, again)


@pytest.mark.parametrize(("num_files", "num_pipelines"), [(3, 3), (3, 2), (2, 3)])
def test_input_pipelines_read_disjoint_shares(records, num_files, num_pipelines):
    files = schema.split_files(records, "train")[:num_files]
    total = sum(1 for _ in tf.data.TFRecordDataset(files))
    ids = []
    for pipeline in range(num_pipelines):
        context = tf.distribute.InputContext(num_pipelines, pipeline, num_pipelines)
        dataset = input_pipeline.make_dataset(
            files, _preprocessor(2, 8), batch_size=1, training=False, input_context=context
        )
        ids.append(sum(1 for _ in dataset))
        assert ids[-1] > 0
    assert sum(ids) == total


def test_distributed_dataset_splits_global_batch_over_replicas(records):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    files = schema.split_files(records, "train")
    dataset = input_pipeline.distributed_dataset(
        strategy, files, 6, preprocessor=_preprocessor(2, 8), training=True
    )
    clips, labels = next(iter(dataset))
    local = strategy.experimental_local_results(clips)
    assert [tuple(c.shape) for c in local] == [(3, 2, 8, 8, 3)] * 2
    assert sum(int(x.shape[0]) for x in strategy.experimental_local_results(labels)) == 6


def test_make_dataset_rejects_no_files():
    with pytest.raises(ValueError, match="no TFRecord"):
        input_pipeline.make_dataset([], _preprocessor(4, 16), 2, training=True)


def test_synthetic_dataset_info_matches_schema(records):
    with open(f"{records}/{schema.DATASET_INFO_FILE}") as f:
        info = json.load(f)
    assert schema.split_files(records, "train", info)[0].endswith("train-00000-of-00003.tfrecord")
    assert info["dataset"] == "jester" and info["num_classes"] == 3
    assert info["classes"] == class_names(3)
    assert {split: entry["num_written"] for split, entry in info["splits"].items()} == {
        "train": 12,
        "validation": 5,
    }
    decoded = [
        schema.decode(serialized.numpy())
        for serialized in tf.data.TFRecordDataset(schema.split_files(records, "validation", info))
    ]
    assert sorted(record.video_id for record in decoded) == [f"validation-{i}" for i in range(5)]
    for record in decoded:
        assert record.label_text == info["classes"][record.label_index]
        assert (record.height, record.width) == (30, 40)
        assert tf.io.decode_jpeg(record.frames[0]).shape == (30, 40, 3)
