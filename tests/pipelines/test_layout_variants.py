"""Variants of the native layouts that real copies of the datasets use."""

import os
import shutil

from pipeline_testing import read_records, run_job

from stm_keras.pipelines.synth.layouts import write_synthetic


def test_jester_re_release_label_file_names(jester_data, tmp_path):
    source, videos = jester_data
    raw = tmp_path / "raw"
    shutil.copytree(source, raw)
    os.mkdir(raw / "labels")
    for name in ("labels", "train", "validation", "test"):
        os.rename(raw / f"jester-v1-{name}.csv", raw / "labels" / f"{name}.csv")

    result = run_job("jester", raw, tmp_path / "out", max_failure_fraction=0.0)

    assert result.info["classes"][:2] == ["Swiping Left", "Swiping Right"]
    assert {s: d["num_written"] for s, d in result.info["splits"].items()} == {
        "train": 4,
        "validation": 4,
        "test": 4,
    }


def test_kinetics_unlabelled_test_csv_and_flat_folders(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    videos = write_synthetic(
        "kinetics400", str(raw), videos_per_class=3, num_classes=2, num_frames=4
    )
    rows = ["youtube_id,time_start,time_end,split"]
    for video in (v for v in videos if v.split == "test"):
        youtube_id, start, end = video.video_id.rsplit("_", 2)
        rows.append(f"{youtube_id},{int(start)},{int(end)},test")
        os.rename(video.path, raw / "test" / os.path.basename(video.path))
    (raw / "test.csv").write_text("\n".join(rows) + "\n")

    result = run_job("kinetics400", raw, out, splits=("test",), max_failure_fraction=0.0)

    assert result.info["classes"] == ["abseiling", "air drumming"]
    records = read_records(out, "test")
    assert sorted(r.video_id for r in records) == sorted(
        v.video_id for v in videos if v.split == "test"
    )
    assert {(r.label_index, r.label_text) for r in records} == {(-1, "")}


def test_ucf101_and_hmdb51_official_splits_differ(tmp_path):
    for dataset in ("ucf101", "hmdb51"):
        raw = tmp_path / dataset
        write_synthetic(dataset, str(raw), videos_per_class=3, num_classes=2, num_frames=3)
        tests = []
        for split_id in (1, 2):
            out = tmp_path / f"{dataset}-{split_id}"
            run_job(dataset, raw, out, split_id=split_id, splits=("test",))
            tests.append(sorted(r.video_id for r in read_records(out, "test")))
        assert tests[0] and tests[1] and tests[0] != tests[1]
