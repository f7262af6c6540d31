"""`stm-keras preprocess`: exit codes 0 / 1 / 2 and messages that name the problem."""

import json
import os
import shutil

import pytest
from click.testing import CliRunner

from stm_keras.cli.common import RUNTIME_ERROR_EXIT, USAGE_ERROR_EXIT
from stm_keras.cli.main import app
from stm_keras.pipelines.synth.layouts import write_synthetic

IN_MEMORY = "--direct_running_mode=in_memory"


@pytest.fixture(scope="module")
def raw_jester(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    write_synthetic("jester", str(root), videos_per_class=3, num_classes=2, num_frames=4)
    return root


@pytest.fixture(scope="module")
def raw_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("folders")
    write_synthetic("folders", str(root), videos_per_class=3, num_classes=2, num_frames=3)
    return root


def _preprocess(*args):
    return CliRunner().invoke(app, ["preprocess", *map(str, args)])


def test_writes_shards_and_passes_beam_flags_through(raw_jester, tmp_path):
    result = _preprocess(
        "--dataset", "jester", "--data-dir", raw_jester, "--output-dir", tmp_path,
        "--splits", "train,validation", "--num-shards", "2", IN_MEMORY,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert set(info["splits"]) == {"train", "validation"}
    assert info["splits"]["train"]["shards"] == [
        "train-00000-of-00002.tfrecord",
        "train-00001-of-00002.tfrecord",
    ]
    assert "train: read 2 = written 2 + failed 0" in result.output
    assert "videos=4, frames=16" in result.output


def test_too_many_failures_exit_1_after_writing_everything_else(raw_jester, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(raw_jester, raw)
    with open(raw / "jester-v1-validation.csv", "a") as f:
        f.write("404;Swiping Left\n")
    out = tmp_path / "out"
    result = _preprocess(
        "--dataset", "jester", "--data-dir", raw, "--output-dir", out,
        "--max-failure-fraction", "0.2", IN_MEMORY,
    )  # fmt: skip
    assert result.exit_code == RUNTIME_ERROR_EXIT, result.output
    assert "Error: split 'validation': 1 of 3 inputs failed" in result.output
    assert str(out / "failures-validation.jsonl") in result.output
    failure = json.loads((out / "failures-validation.jsonl").read_text())
    assert failure["id"] == "404"
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["splits"]["validation"]["num_written"] == 2


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--dataset", "imagenet"], "unknown dataset 'imagenet'"),
        (
            ["--dataset", "jester", "--data-dir", "/no/such/dir"],
            "directory not found: /no/such/dir",
        ),
        (["--dataset", "ucf101"], "ucfTrainTestlist/classInd.txt"),
        (["--dataset", "jester", "--splits", "training"], "unknown split(s) training"),
        (["--dataset", "jester", "stray"], "unexpected argument 'stray'"),
        (
            ["--dataset", "jester", "--manifest", "clips.csv"],
            "--manifest applies to --dataset folders or csv only, not to 'jester'",
        ),
        (
            ["--dataset", "ucf101", "--direction-sensitive", "no"],
            "--direction-sensitive applies to --dataset folders or csv only",
        ),
        (["--dataset", "csv"], "--dataset csv needs --manifest FILE"),
        (["--dataset", "csv", "--manifest", "/no/such.csv"], "manifest not found: /no/such.csv"),
        (["--dataset", "folders", "--val-fraction", "1"], "1.0 is not in the range 0.0<=x<1.0"),
    ],
)
def test_usage_errors_exit_2_and_name_the_problem(raw_jester, tmp_path, args, expected):
    defaults = {"--data-dir": str(raw_jester), "--output-dir": str(tmp_path / "out")}
    for flag, value in defaults.items():
        if flag not in args:
            args = [*args, flag, value]
    result = _preprocess(*args)
    assert result.exit_code == USAGE_ERROR_EXIT, result.output
    assert expected in result.output
    assert "preprocess --help' for help" in result.output  # click's usage hint
    assert not os.path.exists(tmp_path / "out")


def test_folders_record_the_direction_and_fail_above_the_threshold(raw_folders, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(raw_folders, raw)
    (raw / "moving_left" / "notes.txt").write_text("not a video")
    out = tmp_path / "out"
    result = _preprocess("--dataset", "folders", "--data-dir", raw, "--output-dir", out,
                         "--max-failure-fraction", "0.1", IN_MEMORY)  # fmt: skip
    assert result.exit_code == RUNTIME_ERROR_EXIT, result.output
    assert "note: --direction-sensitive not given: recording 'no'" in result.output
    assert "Error: split 'train': 1 of 5 inputs failed" in result.output
    (failure,) = [json.loads(line) for line in (out / "failures-train.jsonl").open()]
    assert failure["id"] == "moving_left/notes.txt"
    assert "unsupported file type '.txt'" in failure["reason"]
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["direction_sensitive"] is False
    assert info["splits"]["validation"]["num_written"] == 2

    result = _preprocess("--dataset", "folders", "--data-dir", raw_folders, "--output-dir", out,
                         "--direction-sensitive", "yes", "--split-seed", "3", "--overwrite",
                         IN_MEMORY)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "note: --direction-sensitive" not in result.output
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["direction_sensitive"] is True
    assert info["options"]["split_seed"] == 3
    assert set(info["video_splits"].values()) == {"train", "validation"}


def test_class_folders_without_videos_are_a_usage_error(tmp_path):
    os.makedirs(tmp_path / "raw" / "waving")
    result = _preprocess("--dataset", "folders", "--data-dir", tmp_path / "raw",
                         "--output-dir", tmp_path / "out")  # fmt: skip
    assert result.exit_code == USAGE_ERROR_EXIT, result.output
    assert f"no videos in {tmp_path / 'raw'}" in result.output
    assert not (tmp_path / "out").exists()


def test_a_split_the_data_lacks_is_a_usage_error(raw_folders, tmp_path):
    result = _preprocess("--dataset", "folders", "--data-dir", raw_folders,
                         "--output-dir", tmp_path / "out", "--splits", "test")  # fmt: skip
    assert result.exit_code == USAGE_ERROR_EXIT, result.output
    assert f"no test videos in {raw_folders}; it has train, validation" in result.output
    assert not (tmp_path / "out").exists()


def test_unwritable_output_dir_exits_1_naming_it(raw_jester, tmp_path):
    (tmp_path / "file").write_text("")
    output_dir = tmp_path / "file" / "out"
    result = _preprocess("--dataset", "jester", "--data-dir", raw_jester,
                         "--output-dir", output_dir, IN_MEMORY)  # fmt: skip
    assert result.exit_code == RUNTIME_ERROR_EXIT, result.output
    assert f"Not a directory: '{output_dir}'" in result.output
    assert "Traceback" not in result.output


def test_missing_annotation_file_names_path_and_layout(raw_jester, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(raw_jester, raw)
    os.remove(raw / "jester-v1-test.csv")
    result = _preprocess("--dataset", "jester", "--data-dir", raw, "--output-dir", tmp_path / "o")
    assert result.exit_code == 2
    assert f"{raw}/jester-v1-test.csv and {raw}/labels/test.csv" in result.output
    assert "jester-v1-test.csv          <id> per line" in result.output


def test_non_empty_output_dir_needs_overwrite(raw_jester, tmp_path):
    (tmp_path / "old.tfrecord").write_bytes(b"")
    args = ["--dataset", "jester", "--data-dir", raw_jester, "--output-dir", tmp_path]
    result = _preprocess(*args, "--splits", "test", IN_MEMORY)
    assert result.exit_code == 2
    assert "pass --overwrite" in result.output
    result = _preprocess(*args, "--splits", "test", "--overwrite", IN_MEMORY)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "old.tfrecord").exists()


def test_decode_threads_change_nothing_in_the_output(raw_folders, tmp_path):
    """One FFmpeg thread per video (for many workers on few cores) decodes the same frames."""
    outputs = {}
    for threads in ("0", "1"):
        out = tmp_path / f"threads{threads}"
        result = _preprocess(
            "--dataset", "folders", "--data-dir", raw_folders, "--output-dir", out,
            "--decode-threads", threads, "--max-failure-fraction", "1", IN_MEMORY,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        outputs[threads] = {
            name: (out / name).read_bytes()
            for name in sorted(os.listdir(out))
            if ".tfrecord" in name
        }
    assert outputs["0"] and outputs["0"] == outputs["1"]
    result = _preprocess(
        "--dataset", "folders", "--data-dir", raw_folders, "--decode-threads", "-1"
    )
    assert result.exit_code == USAGE_ERROR_EXIT and "--decode-threads" in result.output
