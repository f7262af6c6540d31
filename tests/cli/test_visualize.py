"""`stm-keras visualize`: each picture from the command line, and the usage errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from deploy_testing import CLASSES, FRAMES, video_frames
from picture_testing import assert_picture
from PIL import Image

from stm_keras.cli.main import app


@pytest.fixture(scope="module")
def frame_folder(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("clip")
    for i, frame in enumerate(video_frames(9, 36, 48, seed=21)):
        Image.fromarray(frame).save(folder / f"{i + 1:05d}.jpg")
    return str(folder)


def _run(*args: str):
    return CliRunner().invoke(app, ["visualize", *args])


def test_features_and_cam_pictures(tiny_model_dir, frame_folder, tmp_path):
    output = str(tmp_path / "pictures" / "features.png")
    result = _run("features", "--model", tiny_model_dir, frame_folder, "--output", output)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == output
    assert "zero map" in result.stderr  # the note on CMM's padded last step
    assert_picture(output, min_width=FRAMES * 120, min_height=5 * 120)

    output = str(tmp_path / "cam.png")
    result = _run(
        "cam", "--model", tiny_model_dir, frame_folder, "--output", output, "--class", CLASSES[2]
    )
    assert result.exit_code == 0, result.output
    assert_picture(output, min_width=FRAMES * 120, min_height=2 * 120)


def test_list_blocks_and_unknown_block(tiny_model_dir, frame_folder, tmp_path):
    result = _run("features", "--model", tiny_model_dir, "--list-blocks")
    assert result.exit_code == 0, result.output
    blocks = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert blocks[0] == "conv2_block1" and blocks[-1] == "conv5_block2" and len(blocks) == 8
    assert "CSTM + CMM" in result.stdout

    output = str(tmp_path / "never.png")
    for verb in ("features", "cam"):
        result = _run(
            verb, "--model", tiny_model_dir, frame_folder, "--output", output, "--block", "conv9"
        )
        assert result.exit_code == 2, result.output
        assert "--block: no block named 'conv9'" in result.stderr
        assert ", ".join(blocks) in result.stderr


def test_usage_errors_exit_2_and_name_the_value(tiny_model_dir, frame_folder, tmp_path):
    output = str(tmp_path / "never.png")
    result = _run(
        "cam", "--model", tiny_model_dir, frame_folder, "--output", output, "--class", "Nope"
    )
    assert result.exit_code == 2 and "--class: no class named 'Nope'" in result.stderr
    assert CLASSES[0] in result.stderr
    result = _run("features", "--model", str(tmp_path), frame_folder, "--output", output)
    assert result.exit_code == 2 and "--model:" in result.stderr
    result = _run("features", "--model", tiny_model_dir)
    assert result.exit_code == 2 and "missing VIDEO_OR_FRAME_FOLDER and --output" in result.stderr
    result = _run("history", "--model-dir", str(tmp_path), "--output", output)
    assert result.exit_code == 2 and "history.csv not found" in result.stderr
    bad = tmp_path / "eval.json"
    bad.write_text("{}")
    result = _run("confusion", "--eval-json", str(bad), "--output", output)
    assert result.exit_code == 2 and "not an 'stm-keras evaluate' report" in result.stderr
    assert not (tmp_path / "never.png").exists()


def test_undecodable_video_is_a_failed_run(tiny_model_dir, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    result = _run("cam", "--model", tiny_model_dir, str(broken), "--output", str(tmp_path / "c"))
    assert result.exit_code == 1 and "cannot decode video" in result.stderr


def test_history_and_confusion_pictures(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.csv").write_text(
        "epoch,loss,top1,top5,val_loss,val_top1,val_top5,lr\n"
        + "".join(
            f"{e},{2 - 0.1 * e},{0.1 * e},1,{2.1 - 0.1 * e},{0.09 * e},1,0.1\n" for e in range(9)
        )
    )
    output = str(tmp_path / "curves.png")
    result = _run("history", "--model-dir", str(run), "--output", output)
    assert result.exit_code == 0, result.output
    assert_picture(output, min_width=1000, min_height=300)

    report = tmp_path / "eval-validation-1x1.json"
    matrix = [[5, 1, 0], [2, 3, 1], [0, 0, 6]]
    report.write_text(json.dumps({"confusion_matrix": matrix, "classes": list(CLASSES)}))
    output = str(tmp_path / "confusion.png")
    result = _run("confusion", "--eval-json", str(report), "--output", output, "--list", "5")
    assert result.exit_code == 0, result.output
    assert_picture(output, min_width=400, min_height=100)
