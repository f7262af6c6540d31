"""Your own videos: the folders and csv layouts, segments of long videos, and the stratified split,
with the accounting of the published datasets (every input written or failed with a reason)."""

import dataclasses
import os
import re
import shutil

import numpy as np
import pytest
from PIL import Image
from pipeline_testing import decode_jpeg, decode_video, failures_of, read_records, run_job

from stm_keras.pipelines import datasets
from stm_keras.pipelines.datasets.folders import FolderTree
from stm_keras.pipelines.datasets.own_videos import OwnVideoOptions, stratified_split
from stm_keras.pipelines.items import BadInputError, LayoutError
from stm_keras.pipelines.readers import FrameOptions, read_video_file
from stm_keras.pipelines.synth.layouts import write_video

ALL_SPLITS = ("train", "validation", "test")
# Mean absolute pixel error allowed between a decoded source frame and its stored JPEG.
JPEG_TOLERANCE = 6.0


def _list(layout, data_dir, **options):
    """The listing of an own-video layout (no videos are read)."""
    adapter = datasets.get_adapter(layout).configured(OwnVideoOptions(**options))
    return adapter.load(str(data_dir), ALL_SPLITS, 1)


def _all_failures(output_dir, info):
    return {f["id"]: f for split in info["splits"] for f in failures_of(output_dir, split)}


def _all_records(output_dir, info):
    return {r.video_id: r for split in info["splits"] for r in read_records(output_dir, split)}


def _assert_accounted(info, read, written):
    for stats in info["splits"].values():
        assert stats["num_read"] == stats["num_written"] + stats["num_failed"]
    assert sum(s["num_read"] for s in info["splits"].values()) == read
    assert sum(s["num_written"] for s in info["splits"].values()) == written


def test_folders_mixed_videos_and_frame_folders_with_bad_inputs(folders_data, tmp_path):
    source, videos = folders_data
    raw, out = tmp_path / "raw", tmp_path / "out"
    shutil.copytree(source, raw)
    left, right = raw / "moving_left", raw / "moving_right"
    (left / "corrupt.mp4").write_bytes(bytes(range(256)) * 12)
    (left / "empty_clip").mkdir()
    (left / "notes.txt").write_text("not a video")
    (raw / ".DS_Store").write_bytes(b"")  # hidden: not an input
    png = right / "png_clip"
    png.mkdir()
    for i, jpeg in enumerate(sorted((right / "clip_001").iterdir()), start=1):
        Image.open(jpeg).save(png / f"{i:05d}.png")

    result = run_job("folders", raw, out)

    info = result.info
    _assert_accounted(info, read=len(videos) + 4, written=len(videos) + 1)
    assert info["classes"] == ["moving_left", "moving_right"]
    assert info["direction_sensitive"] is False
    assert info["split_method"] == "stratified"
    assert info["small_classes"] == {"moving_left": 4}  # written videos, under --min-per-class 5
    listed = {v.video_id for v in videos} | {
        "moving_left/corrupt.mp4",
        "moving_left/empty_clip",
        "moving_right/png_clip",
    }
    assert set(info["video_splits"]) == listed
    failures = _all_failures(out, info)
    assert set(failures) == {
        "moving_left/corrupt.mp4",
        "moving_left/empty_clip",
        "moving_left/notes.txt",
    }
    assert failures["moving_left/corrupt.mp4"]["reason"].startswith("cannot decode video")
    assert "empty frame folder" in failures["moving_left/empty_clip"]["reason"]
    assert "unsupported file type '.txt'" in failures["moving_left/notes.txt"]["reason"]
    assert failures["moving_left/notes.txt"]["source"] == str(left / "notes.txt")
    records = _all_records(out, info)
    for video in videos:
        record = records[video.video_id]
        assert record.label_text == video.label == info["classes"][record.label_index]
        assert record.num_frames == video.num_frames
        if video.path.endswith(".mp4"):
            for jpeg, frame in zip(record.frames, decode_video(video.path), strict=True):
                assert np.abs(decode_jpeg(jpeg) - frame).mean() < JPEG_TOLERANCE
        else:
            names = sorted(os.listdir(video.path))
            for jpeg, name in zip(record.frames, names, strict=True):
                with open(os.path.join(video.path, name), "rb") as f:
                    assert jpeg == f.read()  # JPEG frames are copied, not re-encoded
    png_record = records["moving_right/png_clip"]
    for jpeg, name in zip(png_record.frames, sorted(os.listdir(png)), strict=True):
        assert np.abs(decode_jpeg(jpeg) - decode_jpeg((png / name).read_bytes())).mean() < 3.0


def test_split_folders_give_the_splits(folders_data, tmp_path):
    source, videos = folders_data
    raw, out = tmp_path / "raw", tmp_path / "out"
    shutil.copytree(source, raw / "train")
    for label in ("moving_left", "moving_right"):
        os.makedirs(raw / "val" / label)
        os.rename(raw / "train" / label / "clip_000.mp4", raw / "val" / label / "clip_000.mp4")

    result = run_job("folders", raw, out, max_failure_fraction=0.0)

    info = result.info
    assert info["split_method"] == "given"
    assert set(info["splits"]) == {"train", "validation"}  # no test folder, no test split
    assert info["video_splits"]["val/moving_left/clip_000.mp4"] == "validation"
    assert info["video_splits"]["train/moving_left/clip_001"] == "train"
    assert {s: d["num_written"] for s, d in info["splits"].items()} == {
        "train": len(videos) - 2,
        "validation": 2,
    }


def test_csv_segments_labels_by_name_and_index_and_bad_rows(csv_data, tmp_path):
    data_dir, clips = csv_data
    out = tmp_path / "out"
    classes = ["moving_right", "moving_left"]  # not sorted: the file fixes the order
    (tmp_path / "classes.txt").write_text("\n".join(classes) + "\n")
    long_video = sorted({clip.path for clip in clips})[1]
    first_clip = next(c for c in clips if c.path == long_video and c.start == 0)
    absolute = dataclasses.replace(first_clip, video_id=f"{long_video}#0-0.16")
    rows = [
        f"{os.path.relpath(clip.path, data_dir)},"
        f"{clip.label if i % 2 else classes.index(clip.label)},{clip.start},{clip.end}"
        for i, clip in enumerate(clips)
    ]
    bad_rows = {
        "videos/missing.mp4#0-0.16": "videos/missing.mp4,moving_left,0,0.16",
        "videos/long_000.mp4,moving_left": "videos/long_000.mp4,moving_left",
        "../outside.mp4#0-0.16": "../outside.mp4,moving_left,0,0.16",
        "videos/long_000.mp4#0.5-0.2": "videos/long_000.mp4,moving_left,0.5,0.2",
        "videos/long_001.mp4#0.48-9": "videos/long_001.mp4,moving_right,0.48,9",
        "videos/long_000.mp4#0-0.08": "videos/long_000.mp4,7,0,0.08",
        "videos/long_000.mp4#0.08-0.16": "videos/long_000.mp4,jumping,0.08,0.16",
    }
    rows += [f"{long_video},moving_left,0,0.16", *bad_rows.values()]  # an absolute path too
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,label,start,end\n" + "\n".join(rows) + "\n")
    line_of = {row: number for number, row in enumerate(rows, start=2)}

    result = run_job(
        "csv",
        data_dir,
        out,
        own_videos=OwnVideoOptions(
            manifest=str(manifest),
            classes_file=str(tmp_path / "classes.txt"),
            direction_sensitive=True,
        ),
    )

    info = result.info
    _assert_accounted(info, read=len(rows), written=len(clips) + 1)
    assert info["classes"] == classes
    assert info["direction_sensitive"] is True
    records = _all_records(out, info)
    for clip in [*clips, absolute]:
        record = records[clip.video_id]
        assert record.label_text == clip.label
        assert record.label_index == classes.index(clip.label)
        first = round(clip.start * 25)
        source = decode_video(clip.path)[first : first + clip.num_frames]
        assert record.num_frames == len(source) == 4
        for jpeg, frame in zip(record.frames, source, strict=True):
            assert np.abs(decode_jpeg(jpeg) - frame).mean() < JPEG_TOLERANCE
    failures = _all_failures(out, info)
    assert set(failures) == set(bad_rows)
    for video_id, row in bad_rows.items():
        assert str(line_of[row]) in failures[video_id]["source"] + failures[video_id]["reason"]
    reasons = {video_id: failure["reason"] for video_id, failure in failures.items()}
    location = f"{manifest}:{line_of[bad_rows['videos/missing.mp4#0-0.16']]}"
    assert reasons["videos/missing.mp4#0-0.16"].startswith("not found")
    assert reasons["videos/missing.mp4#0-0.16"].endswith(f"(listed at {location})")
    assert reasons["videos/long_000.mp4,moving_left"] == (
        "expected 4 columns (path,label,start,end), got 2"
    )
    assert failures["videos/long_000.mp4,moving_left"]["source"].startswith(f"{manifest}:")
    assert "'../outside.mp4' is outside --data-dir" in reasons["../outside.mp4#0-0.16"]
    assert "start 0.5 s is not before its end 0.2 s" in reasons["videos/long_000.mp4#0.5-0.2"]
    assert "segment end 9 s is beyond the end of" in reasons["videos/long_001.mp4#0.48-9"]
    assert "label 7 is not a line of" in reasons["videos/long_000.mp4#0-0.08"]
    assert "'jumping' is not in" in reasons["videos/long_000.mp4#0.08-0.16"]


def test_two_runs_of_a_manifest_give_identical_bytes(csv_data, tmp_path):
    data_dir, _ = csv_data
    options = OwnVideoOptions(manifest=str(data_dir / "manifest.csv"), direction_sensitive=True)
    outputs = []
    for name in ("a", "b"):
        run_job("csv", data_dir, tmp_path / name, own_videos=options, num_shards=2)
        outputs.append({p.name: p.read_bytes() for p in (tmp_path / name).iterdir()})
    assert outputs[0] == outputs[1]
    assert sorted(outputs[0]) == [
        "dataset_info.json",
        "failures-train.jsonl",
        "failures-validation.jsonl",
        "train-00000-of-00002.tfrecord",
        "train-00001-of-00002.tfrecord",
        "validation-00000-of-00002.tfrecord",
        "validation-00001-of-00002.tfrecord",
    ]


def test_stratified_split_is_per_class_deterministic_and_seeded(tmp_path):
    sizes = {"a": 7, "b": 12, "c": 31, "d": 2, "e": 1}
    rows = [f"clips/{label}_{i}.mp4,{label}" for label, n in sizes.items() for i in range(n)]
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")

    def splits(seed, fraction):
        listing = _list(
            "csv", tmp_path, manifest=str(tmp_path / "manifest.csv"), split_seed=seed,
            val_fraction=fraction,
        )  # fmt: skip
        assert listing.items["test"] == []
        for split in ("train", "validation"):
            chosen = {listing.info["video_splits"][item.video_id] for item in listing.items[split]}
            assert chosen == {split}
        return listing.info["video_splits"]

    for fraction in (0.1, 0.25, 0.5):
        chosen = splits(0, fraction)
        assert len(chosen) == sum(sizes.values())
        for label, n in sizes.items():
            val = sum(chosen[f"clips/{label}_{i}.mp4"] == "validation" for i in range(n))
            assert abs(val - n * fraction) <= 1, (label, fraction, val)
            assert (1 <= val <= n - 1) if n >= 2 else val == 0
    assert splits(0, 0.25) == splits(0, 0.25)
    assert splits(1, 0.25) != splits(0, 0.25)
    assert stratified_split([("x", "a"), ("y", "a")], 0.0, 0) == {"x": "train", "y": "train"}


def test_tsv_with_a_split_column_keeps_the_given_splits(tmp_path):
    rows = ["clips/a.mp4\tcat\ttrain", "frames/b/\tdog\tval", "clips/c.mp4\tcat\tholdout"]
    (tmp_path / "list.tsv").write_text("\n".join(rows) + "\n")

    listing = _list("csv", tmp_path, manifest=str(tmp_path / "list.tsv"))

    assert listing.info == {
        "split_method": "given",
        "video_splits": {"clips/a.mp4": "train", "frames/b": "validation"},
    }
    assert listing.classes == ["cat", "dog"]
    (frames,) = listing.items["validation"]
    assert (frames.kind, frames.sources) == ("frames", (str(tmp_path / "frames/b"),))
    (failure,) = listing.failures["train"]  # no split known: counted in the first split
    assert failure.source == f"{tmp_path / 'list.tsv'}:3"
    assert "unknown split 'holdout'" in failure.reason


@pytest.mark.parametrize(
    ("layout", "setup", "options", "expected"),
    [
        ("folders", ["train/cat/a.mp4", "cat/b.mp4"], {}, "split folders (train) and other"),
        ("folders", ["a.mp4"], {}, "no class folders in"),
        ("folders", ["cat/a.mp4"], {"classes_file": "none.txt"}, "--classes file not found"),
        ("folders", ["cat/a.mp4", "classes.txt=cat\ncat"], {"classes_file": "classes.txt"},
         "class 'cat' is listed twice"),
        ("csv", [], {}, "--dataset csv needs --manifest FILE"),
        ("csv", [], {"manifest": "m.csv"}, "manifest not found"),
        ("csv", ["m.csv=path,lable\na.mp4,cat"], {"manifest": "m.csv"},
         "header path,lable does not name the columns"),
        ("csv", ["m.csv=a.mp4\nb.mp4"], {"manifest": "m.csv"}, "most rows have 1 columns"),
        ("csv", ["m.csv=path,label\n"], {"manifest": "m.csv"}, "lists no videos"),
    ],
)  # fmt: skip
def test_layout_problems_are_usage_errors(tmp_path, layout, setup, options, expected):
    for entry in setup:
        name, _, text = entry.partition("=")
        os.makedirs(os.path.dirname(tmp_path / name), exist_ok=True)
        (tmp_path / name).write_text(text)
    options = {key: str(tmp_path / value) for key, value in options.items()}
    with pytest.raises(LayoutError, match=re.escape(expected)):
        _list(layout, tmp_path, **options)


def test_class_folders_not_in_the_classes_file_fail_per_video(tmp_path):
    for name in ("cat/a.mp4", "cat/b.mp4", "dog/c.mp4"):
        os.makedirs(os.path.dirname(tmp_path / name), exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "classes.txt").write_text("dog\nbird\n")

    listing = _list("folders", tmp_path, classes_file=str(tmp_path / "classes.txt"))

    assert listing.classes == ["dog", "bird"]
    failures = [f for split in listing.failures.values() for f in split]
    assert sorted(f.video_id for f in failures) == ["cat/a.mp4", "cat/b.mp4"]
    assert all("label 'cat' is not in" in f.reason for f in failures)
    assert [i.video_id for items in listing.items.values() for i in items] == ["dog/c.mp4"]


def test_object_store_listing_sees_the_tree_that_scanning_sees(folders_data):
    root, _ = folders_data
    scanned, listed = FolderTree(str(root), objects=False), FolderTree(str(root), objects=True)
    for relative in ("", "moving_left", "moving_right"):
        assert scanned.children(relative) == listed.children(relative)
    assert listed.children("moving_left")[0] == ["clip_001", "clip_003"]


def test_own_video_options_are_refused_for_a_published_dataset(jester_data, tmp_path):
    raw, _ = jester_data
    with pytest.raises(LayoutError, match="apply to --dataset folders or csv"):
        run_job("jester", raw, tmp_path, own_videos=OwnVideoOptions(val_fraction=0.3))


@pytest.mark.parametrize("extension", [".mp4", ".avi"])
def test_a_segment_is_the_frames_of_its_time_range(tmp_path, extension):
    path = str(tmp_path / f"video{extension}")
    frames = np.stack([np.full((16, 16, 3), 8 * i, np.uint8) for i in range(30)])
    write_video(path, frames, 25.0)  # mpeg4 AVIs have a key frame every 12 frames: seeking
    options = FrameOptions()

    whole = read_video_file([path], options)
    assert read_video_file([path], options, 0.4, 0.8).jpegs == whole.jpegs[10:20]
    assert read_video_file([path], options, 0.6, None).jpegs == whole.jpegs[15:]
    assert read_video_file([path], options, None, 0.08).jpegs == whole.jpegs[:2]
    assert read_video_file([path], options, 0.0, 1.2).jpegs == whole.jpegs  # ends at 1.2 s
    with pytest.raises(BadInputError, match=r"segment end 3 s is beyond the end of .* at 1.2 s"):
        read_video_file([path], options, 0.4, 3.0)
    with pytest.raises(BadInputError, match="segment start 2 s is beyond the end"):
        read_video_file([path], options, 2.0, None)
