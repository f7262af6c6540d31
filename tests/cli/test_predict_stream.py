"""`stm-keras predict --stream`: a trained model follows a class change in a video file and in
raw frames on stdin; sources that fail; usage errors.

The model is ``jester_demo_model_dir`` (tests/conftest.py), trained on 16-frame clips of the
demo's Swiping classes; the streams are new clips of those classes drawn by the same generator.
At 16 fps a training-length clip lasts 1 s: a 1-s window with a stride of 16 frames holds
exactly one clip.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from deploy_testing import write_video
from stream_testing import (
    DEMO_CLASSES,
    DEMO_HEIGHT,
    DEMO_VIDEO_FRAMES,
    DEMO_WIDTH,
    SWIPING_LEFT,
    SWIPING_RIGHT,
    PacedPipe,
    class_clips,
)

from stm_keras.cli.main import app

FPS = DEMO_VIDEO_FRAMES  # one clip a second
CLIPS_PER_CLASS = 5  # the class changes at 5 s of 10
WINDOW_OPTIONS = ["--window", "1", "--stride", str(DEMO_VIDEO_FRAMES)]


@pytest.fixture(scope="module")
def change_frames() -> np.ndarray:
    """5 s of Swiping Left clips, then 5 s of Swiping Right clips (160 frames)."""
    return np.concatenate(
        [
            class_clips(SWIPING_LEFT, CLIPS_PER_CLASS, seed=2000),
            class_clips(SWIPING_RIGHT, CLIPS_PER_CLASS, seed=3000),
        ]
    )


@pytest.fixture(scope="module")
def change_video(change_frames, tmp_path_factory) -> str:
    """``change_frames`` as H.264 in MP4 at 16 fps."""
    path = str(tmp_path_factory.mktemp("stream") / "left-then-right.mp4")
    return write_video(path, change_frames, "h264", fps=FPS)


def _stream(model: str, source: str, *options: str, stdin=None):
    """Runs ``predict --stream``; returns the result and its JSON lines."""
    result = CliRunner().invoke(
        app, ["predict", "--model", model, "--stream", source, *options], input=stdin
    )
    return result, [json.loads(line) for line in result.stdout.splitlines()]


def _top_classes(windows: list[dict]) -> list[int]:
    return [window["predictions"][0]["index"] for window in windows]


def test_the_printed_class_follows_a_change_half_way(jester_demo_model_dir, change_video):
    result, windows = _stream(jester_demo_model_dir, change_video, *WINDOW_OPTIONS, "--top-k", "2")
    assert result.exit_code == 0, result.output
    assert [window["window"] for window in windows] == list(range(10))
    assert [window["frames"] for window in windows] == [[16 * m, 16 * m + 16] for m in range(10)]
    assert [(window["start"], window["end"]) for window in windows] == [
        (pytest.approx(m), pytest.approx(m + 1)) for m in range(10)
    ]
    tops = _top_classes(windows)
    top1 = [round(window["predictions"][0]["probability"], 3) for window in windows]
    assert tops[:CLIPS_PER_CLASS] == [SWIPING_LEFT] * CLIPS_PER_CLASS, (tops, top1)
    # The change is at window 5: the top class switches within two windows and stays.
    switch = tops.index(SWIPING_RIGHT)
    assert switch in (5, 6) and tops[switch:] == [SWIPING_RIGHT] * (10 - switch), (tops, top1)
    for window in windows:
        assert len(window["predictions"]) == 2 and len(window["probabilities"]) == 4
        assert sum(window["probabilities"]) == pytest.approx(1.0, abs=1e-4)
        assert all(p["class"] == DEMO_CLASSES[p["index"]] for p in window["predictions"])
        assert window["latency_ms"]["model"] > 0 and window["skipped"] == 0
    summary = result.stderr.splitlines()[-1]
    assert summary.startswith(f"Summary: {change_video}: 10 windows classified (10 printed), ")
    assert "0 skipped; 160 frames decoded, 0 dropped, 0 in no window" in summary
    assert re.search(r"decode [\d.]+ ms per frame, host [\d.]+ ms \+ model [\d.]+ ms", summary)

    # Smoothed over 2 windows, only confident changes: one line per class.
    result, changes = _stream(
        jester_demo_model_dir,
        change_video,
        *WINDOW_OPTIONS,
        *["--smooth", "2", "--threshold", "0.6"],
    )
    assert result.exit_code == 0, result.output
    assert _top_classes(changes) == [SWIPING_LEFT, SWIPING_RIGHT], changes
    assert changes[0]["window"] == 0 and changes[1]["window"] in (5, 6)
    assert "10 windows classified (2 printed)" in result.stderr


def test_raw_frames_on_stdin_ending_inside_a_frame(jester_demo_model_dir, change_frames):
    """Three windows of Swiping Left frames, a stride at a time, then half a frame."""
    stride = DEMO_VIDEO_FRAMES
    left = change_frames[: 3 * stride]
    chunks = [left[i : i + stride].tobytes() for i in range(0, len(left), stride)]
    chunks.append(change_frames[3 * stride].tobytes()[: DEMO_HEIGHT * DEMO_WIDTH])
    with PacedPipe(chunks, pause=0.3) as pipe:
        result, windows = _stream(
            jester_demo_model_dir,
            "-",
            *WINDOW_OPTIONS,
            *["--frame-size", f"{DEMO_WIDTH}x{DEMO_HEIGHT}", "--fps", str(FPS)],
            stdin=pipe.reader,
        )
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1] == (
        "Error: <stdin>: the stream ended inside frame 48 (6912 of 20736 bytes of a 96x72 "
        "rgb24 frame): is the frame size right?"
    )
    # A live source: a window is skipped only if the model lagged; the last one is never lost.
    assert windows and windows[-1]["frames"] == [32, 48]
    assert _top_classes(windows) == [SWIPING_LEFT] * len(windows)
    summary = result.stderr.splitlines()[-2]
    assert summary.startswith(f"Summary: <stdin>: {len(windows)} windows classified")
    assert f"{3 - len(windows)} skipped; 48 frames decoded" in summary


def test_a_file_that_breaks_mid_stream_or_cannot_be_opened(
    jester_demo_model_dir, change_frames, tmp_path
):
    """Observed with FFmpeg 8: an MJPEG AVI cut in half decodes up to the cut, then raises
    InvalidDataError; an MP4 cut in half loses its index (written last) and does not open.
    (A cut Matroska, WebM or MPEG-TS file just ends early, without an error.)"""
    avi = write_video(str(tmp_path / "clip.avi"), change_frames, "mjpeg", fps=FPS)
    data = Path(avi).read_bytes()
    cut_avi = tmp_path / "cut.avi"
    cut_avi.write_bytes(data[: len(data) // 2])
    result, windows = _stream(jester_demo_model_dir, str(cut_avi), *WINDOW_OPTIONS)
    assert result.exit_code == 1, result.output
    match = re.fullmatch(
        rf"Error: {cut_avi}: decoding failed after (\d+) frames \(Invalid data found when "
        r"processing input\)",
        result.stderr.splitlines()[-1],
    )
    assert match, result.stderr
    decoded = int(match[1])
    assert 32 <= decoded < 160
    assert [window["window"] for window in windows] == list(range(decoded // 16))
    assert _top_classes(windows) == [SWIPING_LEFT] * len(windows)
    assert f"{decoded} frames decoded" in result.stderr.splitlines()[-2]

    mp4 = write_video(str(tmp_path / "clip.mp4"), change_frames[:32], "h264", fps=FPS)
    data = Path(mp4).read_bytes()
    cut_mp4 = tmp_path / "cut.mp4"
    cut_mp4.write_bytes(data[: len(data) // 2])
    result, windows = _stream(jester_demo_model_dir, str(cut_mp4))
    assert result.exit_code == 1 and not windows
    assert result.stderr.splitlines()[-1] == (
        f"Error: {cut_mp4}: cannot open (Invalid data found when processing input)"
    )


def test_a_live_source_that_cannot_be_opened(jester_demo_model_dir):
    url = "rtsp://127.0.0.1:1/live"  # nothing listens on port 1
    result, windows = _stream(jester_demo_model_dir, url)
    assert result.exit_code == 1 and not windows
    assert result.stderr.splitlines()[-1].startswith(f"Error: {url}: cannot open (")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--stream", "{video}", "{video}"], "--stream: takes one SOURCE and no VIDEO"),
        (["--stream", "{video}", "--stream", "{video}"], "--stream: takes one SOURCE, got 2"),
        (["--stream", "{missing}"], "--stream: {missing}: no such file or directory"),
        (
            ["--stream", "{missing}", "--input-format", "v4l2"],
            "--stream: {missing}: no such file or directory",
        ),
        (["--stream", "-", "--fps", "30"], "--frame-size: required with '--stream -'"),
        (["--stream", "-", "--frame-size", "64x48"], "--fps: required with '--stream -'"),
        (["--stream", "-", "--frame-size", "64x48", "--fps", "30", "--realtime"], "--realtime:"),
        (["--stream", "{video}", "--frame-size", "64x48"], "--frame-size: only for raw frames"),
        (["--stream", "{video}", "--frame-size", "64"], "'--frame-size': expected WIDTHxHEIGHT"),
        (["--stream", "{video}", "--window", "0.05"], "--window: 0.05 s is shorter than one"),
        (["--stream", "{video}", "--window", "0"], "'--window'"),
        (["--stream", "{video}", "--stride", "0"], "'--stride'"),
        (["--stream", "{video}", "--smooth", "0"], "'--smooth'"),
        (["--stream", "{video}", "--threshold", "1.5"], "'--threshold'"),
        (["--stream", "{video}", "--fps", "-1"], "'--fps'"),
        (["--stream", "{video}", "--input-option", "tcp"], "--input-option: expected KEY=VALUE"),
        (["{video}", "--window", "1"], "--window: only with --stream SOURCE"),
        ([], "give VIDEO_OR_FRAME_FOLDER... to classify, or --stream SOURCE"),
    ],
)
def test_usage_errors_name_the_option(arguments, message, change_video, tmp_path):
    """All caught before the model loads: '--model' names a directory without one."""
    names = {"video": change_video, "missing": str(tmp_path / "missing.mp4")}
    arguments = [argument.format(**names) for argument in arguments]
    result = CliRunner().invoke(app, ["predict", "--model", str(tmp_path), *arguments])
    assert result.exit_code == 2, result.output
    assert message.format(**names) in " ".join(result.stderr.split())
    assert "--model" not in result.stderr.splitlines()[-1]
