"""End to end on the DirectRunner, every dataset: synth -> preprocess -> read every record back."""

import os

import numpy as np
import pytest
from pipeline_testing import decode_jpeg, decode_video, read_records, run_job

from stm_keras.pipelines.readers import evenly_spaced
from stm_keras.pipelines.synth.layouts import write_synthetic

FRAME_FOLDER_DATASETS = ("jester", "something-v1")
VIDEO_DATASETS = ("something-v2", "kinetics400", "ucf101", "hmdb51")
DIRECTION_SENSITIVE = ("jester", "something-v1", "something-v2")
NUM_FRAMES = 6
# Mean absolute pixel error allowed between a decoded source video frame and its stored JPEG
# (JPEG at quality 90 of these noisy frames costs about 4.5; a neighbouring frame differs by 17).
JPEG_TOLERANCE = 6.0


@pytest.mark.parametrize("dataset", FRAME_FOLDER_DATASETS + VIDEO_DATASETS)
def test_every_record_matches_what_synth_wrote(dataset, tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    videos = write_synthetic(dataset, str(raw), videos_per_class=3, num_classes=2, num_frames=6)
    result = run_job(dataset, raw, out, max_failure_fraction=0.0)

    assert result.failed_splits == []
    info = result.info
    assert info["dataset"] == dataset
    assert len(info["classes"]) == 2
    # Flipping swaps Jester's and Something-Something's left/right classes.
    assert info["direction_sensitive"] is (dataset in DIRECTION_SENSITIVE)
    by_split = {}
    for video in videos:
        by_split.setdefault(video.split, {})[video.video_id] = video
    assert set(info["splits"]) == set(by_split)
    for split, expected in by_split.items():
        stats = info["splits"][split]
        assert stats["num_read"] == stats["num_written"] == len(expected)
        assert stats["num_failed"] == 0
        records = read_records(out, split)
        assert sorted(r.video_id for r in records) == sorted(expected)
        assert stats["num_frames"] == sum(r.num_frames for r in records)
        for record in records:
            video = expected[record.video_id]
            if split == "test" and dataset in ("jester", "something-v1", "something-v2"):
                assert (record.label_index, record.label_text) == (-1, "")
            else:
                assert record.label_text == video.label
                assert info["classes"][record.label_index] == video.label
            assert record.num_frames == NUM_FRAMES
            if dataset in FRAME_FOLDER_DATASETS:
                for i, jpeg in enumerate(record.frames):
                    with open(os.path.join(video.path, f"{i + 1:05d}.jpg"), "rb") as f:
                        assert jpeg == f.read()
            else:
                source = decode_video(video.path)
                assert len(source) == NUM_FRAMES
                for jpeg, frame in zip(record.frames, source, strict=True):
                    stored = decode_jpeg(jpeg)
                    assert stored.shape == frame.shape == (record.height, record.width, 3)
                    assert np.abs(stored - frame).mean() < JPEG_TOLERANCE


def test_large_frames_are_resized_and_long_videos_subsampled(jester_data, tmp_path):
    raw, videos = jester_data
    result = run_job("jester", raw, tmp_path, splits=("validation",), short_side=50, max_frames=4)

    records = read_records(tmp_path, "validation")
    assert len(records) == result.info["splits"]["validation"]["num_written"] == 4
    by_id = {v.video_id: v for v in videos}
    for record in records:
        # Jester frames are 100x176: the short side goes to 50, the aspect ratio stays.
        assert (record.height, record.width) == (50, 88)
        assert record.num_frames == 4
        assert record.fps == pytest.approx(12.0 * 4 / 6)
        for jpeg, index in zip(record.frames, evenly_spaced(6, 4), strict=True):
            path = os.path.join(by_id[record.video_id].path, f"{index + 1:05d}.jpg")
            with open(path, "rb") as f:
                source = decode_jpeg(f.read())
            small = source.reshape(50, 2, 88, 2, 3).mean(axis=(1, 3))
            stored = decode_jpeg(jpeg)
            assert stored.shape == (50, 88, 3)
            assert np.abs(stored - small).mean() < 6.0


def test_records_parse_in_the_tf_graph(jester_data, tmp_path):
    import tensorflow as tf

    from stm_keras.data import schema

    raw, _ = jester_data
    run_job("jester", raw, tmp_path, splits=("train",))
    dataset = tf.data.TFRecordDataset(schema.split_files(str(tmp_path), "train")).map(schema.parse)
    parsed = list(dataset)
    assert len(parsed) == 4
    assert all(int(p["num_frames"]) == p["frames"].shape[0] == NUM_FRAMES for p in parsed)
    assert {int(p["height"]) for p in parsed} == {100}


def test_videos_are_resized_and_subsampled(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    videos = write_synthetic("ucf101", str(raw), videos_per_class=3, num_classes=1, num_frames=6)
    run_job("ucf101", raw, out, splits=("test",), short_side=24, max_frames=4)

    (record,) = read_records(out, "test")
    (video,) = [v for v in videos if v.video_id == record.video_id]
    # 48x64 videos: the short side goes to 24, the aspect ratio stays.
    assert (record.height, record.width, record.num_frames) == (24, 32, 4)
    assert record.fps == pytest.approx(25.0 * 4 / 6)
    source = decode_video(video.path)
    for jpeg, index in zip(record.frames, evenly_spaced(6, 4), strict=True):
        small = source[index].reshape(24, 2, 32, 2, 3).mean(axis=(1, 3))
        assert np.abs(decode_jpeg(jpeg) - small).mean() < JPEG_TOLERANCE
