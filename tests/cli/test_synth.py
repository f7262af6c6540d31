"""`stm-keras synth`: native layouts, determinism, and classes told apart only by time order."""

import hashlib
import os

import numpy as np
import pytest
from click.testing import CliRunner

from stm_keras.cli.common import RUNTIME_ERROR_EXIT, USAGE_ERROR_EXIT
from stm_keras.cli.main import app
from stm_keras.pipelines.synth.classes import JESTER
from stm_keras.pipelines.synth.motion import Motion, render_clip


def _synth(*args):
    return CliRunner().invoke(app, ["synth", *map(str, args)])


def _digest(directory):
    digest = hashlib.sha256()
    for root, _, files in sorted(os.walk(directory)):
        for name in sorted(files):
            digest.update(name.encode())
            with open(os.path.join(root, name), "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def test_jester_layout_with_real_class_names(tmp_path):
    result = _synth("--layout", "jester", "--output-dir", tmp_path, "--num-classes", "4",
                    "--videos-per-class", "10", "--video-frames", "5")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "wrote 40 'jester' videos" in result.output and "train 32" in result.output
    labels = (tmp_path / "jester-v1-labels.csv").read_text().splitlines()
    assert labels == ["Swiping Left", "Swiping Right", "Swiping Up", "Swiping Down"]
    train = (tmp_path / "jester-v1-train.csv").read_text().splitlines()
    video_id, label = train[0].split(";")
    assert label in labels
    frames = sorted(os.listdir(tmp_path / "20bn-jester-v1" / video_id))
    assert frames == [f"{i:05d}.jpg" for i in range(1, 6)]
    assert all(";" not in line for line in (tmp_path / "jester-v1-test.csv").read_text().split())


@pytest.mark.parametrize("layout", ["jester", "something-v2", "kinetics400", "hmdb51", "csv"])
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, layout):
    common = ["--layout", layout, "--num-classes", "2", "--videos-per-class", "1"]
    common += ["--video-frames", "3"]
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        assert _synth(*common, "--seed", seed, "--output-dir", tmp_path / name).exit_code == 0
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")


def test_folders_layout_mixes_videos_and_frame_folders(tmp_path):
    result = _synth("--layout", "folders", "--output-dir", tmp_path, "--num-classes", "2",
                    "--videos-per-class", "2", "--video-frames", "3")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "wrote 4 'folders' videos" in result.output
    assert sorted(os.listdir(tmp_path)) == ["moving_left", "moving_right"]
    assert sorted(os.listdir(tmp_path / "moving_left")) == ["clip_000.mp4", "clip_001"]
    assert sorted(os.listdir(tmp_path / "moving_left" / "clip_001")) == [
        "00001.jpg",
        "00002.jpg",
        "00003.jpg",
    ]


def test_csv_layout_lists_segments_of_long_videos(tmp_path):
    result = _synth("--layout", "csv", "--output-dir", tmp_path, "--num-classes", "3",
                    "--videos-per-class", "2", "--video-frames", "5")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "wrote 6 'csv' clips as segments of 2 videos" in result.output
    header, *rows = (tmp_path / "manifest.csv").read_text().splitlines()
    assert header == "path,label,start,end"
    assert sorted(os.listdir(tmp_path / "videos")) == ["long_000.mp4", "long_001.mp4"]
    # Five frames at 25 fps are 0.2 s; each long video holds four clips, the last one two.
    segments = [row.split(",") for row in rows]
    assert [(p, s, e) for p, _, s, e in segments[:5]] == [
        ("videos/long_000.mp4", "0", "0.2"),
        ("videos/long_000.mp4", "0.2", "0.4"),
        ("videos/long_000.mp4", "0.4", "0.6"),
        ("videos/long_000.mp4", "0.6", "0.8"),
        ("videos/long_001.mp4", "0", "0.2"),
    ]
    assert sorted(label for _, label, _, _ in segments) == sorted(
        ["moving_left", "moving_right", "shrinking"] * 2
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--num-classes", "500"], "--num-classes 500: the synthetic 'ucf101' layout has 12"),
        (["--height", "72"], "given together; got only --height 72"),
    ],
)
def test_usage_errors_exit_2_and_name_the_value(tmp_path, args, expected):
    result = _synth("--layout", "ucf101", "--output-dir", tmp_path / "out", *args)
    assert result.exit_code == USAGE_ERROR_EXIT, result.output
    assert expected in result.output
    assert "synth --help' for help" in result.output  # click's usage hint
    assert not (tmp_path / "out").exists()


def test_unwritable_output_dir_exits_1_naming_it(tmp_path):
    (tmp_path / "file").write_text("")
    output_dir = tmp_path / "file" / "raw"
    result = _synth("--layout", "jester", "--output-dir", output_dir, "--num-classes", "2",
                    "--videos-per-class", "1", "--video-frames", "2")  # fmt: skip
    assert result.exit_code == RUNTIME_ERROR_EXIT, result.output
    assert f"Error: {output_dir}: Not a directory" in result.output
    assert "Traceback" not in result.output


def test_reverse_class_is_the_time_reversal_of_its_pair():
    forward = render_clip(Motion("disc", "right"), np.random.default_rng(3), 8, 40, 64)
    backward = render_clip(
        Motion("disc", "right", reverse=True), np.random.default_rng(3), 8, 40, 64
    )
    np.testing.assert_array_equal(backward, forward[::-1])


def _centre(frame):
    ys, xs = np.nonzero(frame.mean(axis=-1) > 140)  # the bright shape over a dim background
    return xs.mean(), ys.mean(), len(xs)


def test_jester_pairs_move_in_opposite_directions():
    motions = dict(JESTER)
    rng = np.random.default_rng(0)
    left = render_clip(motions["Swiping Left"], rng, 10, 100, 176)
    right = render_clip(motions["Swiping Right"], rng, 10, 100, 176)
    up = render_clip(motions["Swiping Up"], rng, 10, 100, 176)
    zoom_in = render_clip(motions["Zooming In With Full Hand"], rng, 10, 100, 176)
    assert _centre(left[-1])[0] < _centre(left[0])[0] - 20
    assert _centre(right[-1])[0] > _centre(right[0])[0] + 20
    assert _centre(up[-1])[1] < _centre(up[0])[1] - 10
    assert _centre(zoom_in[-1])[2] > 2 * _centre(zoom_in[0])[2]
    assert len(JESTER) == 27 and len(set(name for name, _ in JESTER)) == 27
