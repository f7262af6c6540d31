"""`stm-keras bench preprocess`: the plain loop and the Beam job write the same shards."""

import json
import math
import re

import pytest
from click.testing import CliRunner

from stm_keras.benchmarks import machine
from stm_keras.benchmarks import preprocess as bench
from stm_keras.cli.main import app

TINY = [
    "--layout",
    "jester",
    "--videos-per-class",
    "3",
    "--num-classes",
    "2",
    "--video-frames",
    "4",
]
SMALL_FRAMES = ["--height", "32", "--width", "40", "--short-side", "16"]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def test_cli_times_the_loop_and_each_worker_count_and_writes_json(tmp_path):
    output = tmp_path / "figures.json"
    result = CliRunner().invoke(
        app,
        ["bench", "preprocess", *TINY, *SMALL_FRAMES, "--workers", "1", "--output", str(output)],
    )
    assert result.exit_code == 0, result.output
    assert "6 synthetic 'jester' videos, 4 frames of 32x40 each" in result.output
    assert "second run on 2 of them; FFmpeg decode threads per process: 1" in result.output
    number = r"(\d+\.\d\d|n/a)"
    assert re.search(rf"plain single-process loop +\d+\.\d\d +\d+\.\d\d +{number}", result.output)
    assert re.search(rf"Beam DirectRunner, 1 worker +\d+\.\d\d +\d+\.\d\d +{number}", result.output)
    assert f"figures: {output}" in result.output

    figures = json.loads(output.read_text())
    assert (figures["num_videos"], figures["half_videos"]) == (6, 2)
    assert figures["settings"]["workers"] == [1] and figures["settings"]["decode_threads"] == 1
    assert figures["machine"] == machine.machine_info()
    for job in ("loop", "beam1"):
        (run,) = figures[f"{job}_runs"]  # one repeat
        seconds, half = figures[f"{job}_seconds"], run["half_seconds"]
        assert seconds == run["seconds"] and _number(seconds) and seconds > 0
        assert _number(half) and half > 0
        assert figures[f"{job}_videos_per_s"] == pytest.approx(6 / seconds)
        startup, rate = figures[f"{job}_startup_seconds"], figures[f"{job}_steady_videos_per_s"]
        # On a few tiny videos timing noise may leave the two runs inseparable (both None).
        assert (startup is None) == (rate is None)
        if rate is not None:
            assert _number(rate) and rate > 0 and _number(startup) and 0 <= startup <= seconds
            assert rate == pytest.approx(4 / (seconds - half))
            assert figures[f"{job}_steady_videos_per_s_min"] == rate
        assert _number(figures[f"{job}_cpu_seconds"]) and figures[f"{job}_cpu_seconds"] >= 0
        assert figures[f"{job}_steady_cpu_ms_per_video"] == pytest.approx(
            1e3 * (run["cpu_seconds"] - run["half_cpu_seconds"]) / 4
        )
    assert figures["beam1_cpu_seconds"] > 0  # at least the worker's start-up
    assert "beam2_seconds" not in figures
    assert "loop_steady_vs_loop" not in figures and "beam1_steady_vs_loop" in figures


def test_start_up_and_steady_rate_from_two_runs():
    # 100 videos in 12 s and 200 in 20 s: 12.5 videos/s once started, 4 s to start.
    assert bench.split_startup(100, 12.0, 200, 20.0) == pytest.approx((4.0, 12.5))
    # Noise: a start-up below 0 is reported as 0; a larger run that was not slower, as None.
    assert bench.split_startup(100, 9.0, 200, 20.0) == pytest.approx((0.0, 100 / 11))
    assert bench.split_startup(100, 20.0, 200, 20.0) == (None, None)
    assert bench.split_startup(0, 0.0, 200, 20.0) == (None, None)
    # Repeats: the median of each figure; the range of the steady rates shows the noise.
    runs = [
        bench.Run(20.0, 30.0, 12.0, 20.0),  # 4 s, 12.5 videos/s; 100 ms CPU a video
        bench.Run(21.0, 31.0, 11.0, 21.0),  # 1 s, 10 videos/s
        bench.Run(24.0, 36.0, 16.0, 24.0),  # 8 s, 12.5 videos/s
        bench.Run(25.0, 35.0, 25.0, 35.0),  # inseparable
    ]
    job = bench.JobTiming("beam2", 2, 200, 100, runs)
    assert job.seconds == 22.5 and job.cpu_seconds == 33.0
    assert (job.startup_seconds, job.steady_videos_per_second) == pytest.approx((4.0, 12.5))
    assert job.steady_range == pytest.approx((10.0, 12.5))
    assert job.steady_cpu_ms_per_video == pytest.approx(100.0)
    assert job.label == "Beam DirectRunner, 2 workers"
    single = bench.JobTiming("loop", 0, 200, 0, [bench.Run(20.0, 20.0)])
    assert single.steady_videos_per_second is None and single.steady_range is None
    assert single.steady_cpu_ms_per_video is None and single.videos_per_second == 10.0


def test_bad_worker_list_is_a_usage_error():
    result = CliRunner().invoke(app, ["bench", "preprocess", "--workers", "one"])
    assert result.exit_code == 2 and "--workers" in result.output


def test_different_shards_are_reported(tmp_path):
    loop, beam = tmp_path / "loop", tmp_path / "beam"
    loop.mkdir()
    beam.mkdir()
    (loop / "train-00000-of-00001.tfrecord").write_bytes(b"a")
    (beam / "train-00000-of-00001.tfrecord").write_bytes(b"b")
    with pytest.raises(RuntimeError, match="train-00000-of-00001.tfrecord differs"):
        bench._check_same_shards(str(loop), str(beam))
