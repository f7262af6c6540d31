"""`stm-keras bench preprocess`: the plain loop and the Beam job write the same shards."""

import re

import pytest
from click.testing import CliRunner

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


def test_cli_times_the_loop_and_each_worker_count():
    result = CliRunner().invoke(
        app, ["bench", "preprocess", *TINY, *SMALL_FRAMES, "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "6 synthetic 'jester' videos, 4 frames of 32x40 each" in result.output
    assert re.search(r"plain single-process loop: +\d+\.\d\d videos/s", result.output)
    assert re.search(r"Beam DirectRunner, 1 worker\(s\): +\d+\.\d\d videos/s = \d", result.output)


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
