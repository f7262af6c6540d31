"""Your own videos, end to end: a folder of clips → preprocess → fine-tune a trained STM →
evaluate → predict, with the bad inputs accounted for and fine-tuning beating training from
scratch."""

from __future__ import annotations

import csv
import json
import os

import pytest
from click.testing import CliRunner

from stm_keras.cli.main import app
from stm_keras.pipelines.synth.classes import JESTER
from stm_keras.pipelines.synth.records import write_records

IN_MEMORY = "--direct_running_mode=in_memory"
# The demo's recipe, small: 32-pixel crops of 48x64 videos, one CPU replica, no dropout.
SMALL = ["--recipe", "cpu-demo", "--image-size", "32", "--cpu-replicas", "0", "--dropout", "0"]
SMALL += ["--verbose", "2"]
BAD_INPUTS = {
    "moving_left/broken.mp4": "cannot decode video",
    "moving_left/notes.xyz": "unsupported file type",
    "moving_right/empty_clip": "empty frame folder",
}


def _run(*args: object) -> str:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result.output


def _last_validation_top1(model_dir: str) -> float:
    with open(os.path.join(model_dir, "history.csv"), encoding="utf-8") as f:
        return float(list(csv.DictReader(f))[-1]["val_top1"])


@pytest.mark.slow
def test_a_folder_of_videos_to_a_fine_tuned_model(tmp_path):
    raw, records = tmp_path / "raw", tmp_path / "records"
    _run("synth", "--layout", "folders", "--output-dir", raw, "--num-classes", 2,
         "--videos-per-class", 16, "--video-frames", 8, "--height", 48, "--width", 64)  # fmt: skip
    # Mixed mp4 files and frame folders, plus a corrupt file, an empty folder and a file of
    # an extension no reader takes.
    (raw / "moving_left" / "broken.mp4").write_bytes(b"not a video")
    (raw / "moving_left" / "notes.xyz").write_text("not a video either")
    (raw / "moving_right" / "empty_clip").mkdir()
    kinds = {path.suffix for path in (raw / "moving_left").iterdir()}
    assert ".mp4" in kinds and "" in kinds  # video files and frame folders

    output = _run(
        "preprocess", "--dataset", "folders", "--data-dir", raw, "--output-dir", records,
        "--val-fraction", "0.25", "--direction-sensitive", "yes",
        "--max-failure-fraction", "0.2", IN_MEMORY,
    )  # fmt: skip
    info = json.loads((records / "dataset_info.json").read_text())
    assert info["classes"] == ["moving_left", "moving_right"]
    assert info["direction_sensitive"] is True
    failures = {}
    for split, entry in info["splits"].items():
        assert entry["num_read"] == entry["num_written"] + entry["num_failed"], output
        failures_file = records / f"failures-{split}.jsonl"
        if failures_file.exists():
            for line in failures_file.read_text().splitlines():
                failure = json.loads(line)
                failures[failure["id"]] = failure["reason"]
    assert set(failures) == set(BAD_INPUTS)
    for video_id, reason in BAD_INPUTS.items():
        assert reason in failures[video_id]

    # The parent: an STM trained on another synthetic dataset (four Jester swipes), whose
    # 4-way head cannot be reused; only its backbone carries over.
    parent_records, parent = tmp_path / "parent_records", tmp_path / "parent"
    write_records(
        str(parent_records),
        num_classes=4,
        videos_per_split={"train": 96, "validation": 16},
        dataset="jester",
        height=48,
        width=64,
        classes=JESTER[:4],
        seed=1,
    )
    _run("fit", "--data-dir", parent_records, "--model-dir", parent, *SMALL,
         "--epochs", 30, "--lr-steps", "20,26")  # fmt: skip
    assert _last_validation_top1(str(parent)) >= 0.75

    fine_tuned, scratch = tmp_path / "fine_tuned", tmp_path / "scratch"
    same = ["--data-dir", records, *SMALL, "--epochs", 2, "--lr-steps", 9, "--seed", 0]
    output = _run("fit", *same, "--model-dir", fine_tuned, "--init-from", parent)
    assert "kept fresh (other shapes): classifier" in output
    _run("fit", *same, "--model-dir", scratch, "--init", "none")
    config = json.loads((fine_tuned / "config.json").read_text())
    assert config["parent"]["path"] == str(parent)
    assert config["backbone"]["depth"] == 18  # the parent's architecture, from the recipe
    assert _last_validation_top1(str(fine_tuned)) > _last_validation_top1(str(scratch))

    report = tmp_path / "eval.json"
    _run("evaluate", "--model", fine_tuned, "--protocol", "1x1", "--output", report)
    assert (
        json.loads(report.read_text())["num_videos"] == info["splits"]["validation"]["num_written"]
    )
    clip = next(path for path in sorted((raw / "moving_right").iterdir()) if path.suffix == ".mp4")
    output = _run("predict", "--model", fine_tuned, clip, "--top-k", 1, "--json")
    prediction = json.loads(output.strip().splitlines()[-1])
    assert prediction["predictions"][0]["class"] == "moving_right"
