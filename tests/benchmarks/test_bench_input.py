"""`stm-keras bench input`: synthetic shards from the one synthetic generator, and the report."""

import json
import math
import re

import pytest
import tensorflow as tf
from click.testing import CliRunner

from stm_keras.benchmarks import input_pipeline as bench
from stm_keras.benchmarks import machine
from stm_keras.cli.main import app
from stm_keras.data import schema
from stm_keras.pipelines.synth import records


def test_synthetic_shards_are_jester_videos_at_the_stored_size(tmp_path):
    files = bench.write_synthetic_shards(str(tmp_path), height=24, width=32, num_videos=6)
    assert len(files) == bench.NUM_SHARDS
    videos = [schema.decode(r.numpy()) for r in tf.data.TFRecordDataset(files)]
    assert len(videos) == 6
    names = records.class_names(bench.NUM_CLASSES)
    for video in videos:
        assert (video.height, video.width, video.num_frames) == (24, 32, bench.VIDEO_FRAMES)
        assert video.label_text == names[video.label_index]
        assert tf.io.decode_jpeg(video.frames[0]).shape == (24, 32, 3)


def test_measures_a_preprocessed_split(tmp_path):
    records.write_records(str(tmp_path), num_classes=3, videos_per_split={"train": 4})
    (result,) = bench.measure_input_pipeline(
        ("demo",), data_dir=str(tmp_path), batch_size=2, steps=1, warmup=0
    )
    assert result.config == "demo" and result.batch_size == 2
    assert result.pipeline_clips_per_s > 0 and result.step_clips_per_s > 0
    assert result.ratio == pytest.approx(result.pipeline_clips_per_s / result.step_clips_per_s)


def test_unknown_configuration_is_refused_before_any_work():
    with pytest.raises(ValueError, match="unknown configuration 'huge'"):
        bench.measure_input_pipeline(("demo", "huge"))


def test_cli_reports_pipeline_and_step_throughput(tmp_path):
    output = tmp_path / "figures.json"
    options = ["--config", "demo", "--batch-size", "2", "--steps", "1", "--warmup", "0"]
    result = CliRunner().invoke(app, ["bench", "input", *options, "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert f"figures: {output}" in result.output
    figures = json.loads(output.read_text())
    pipeline, step = figures["demo_pipeline_clips_per_s"], figures["demo_step_clips_per_s"]
    assert math.isfinite(pipeline) and pipeline > 0 and math.isfinite(step) and step > 0
    assert figures["demo_pipeline_over_step"] == pytest.approx(pipeline / step)
    assert not any(key.startswith("paper_") for key in figures)
    settings = figures["settings"]
    assert (settings["batch_size"], settings["steps"], settings["warmup"]) == (2, 1, 0)
    assert settings["configs"]["demo"]["image_size"] == 64 and settings["data_dir"] is None
    assert figures["machine"] == machine.machine_info()
    assert re.search(
        r"demo  \(ResNet18 x0\.25, T=8, 64px, batch 2\): pipeline +\d+\.\d clips/s, "
        r"train step +\d+\.\d clips/s, pipeline/step = \d+\.\d\d",
        result.output,
    ), result.output
