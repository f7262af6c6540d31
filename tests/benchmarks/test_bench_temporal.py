"""`stm-keras bench temporal`: every row trained on the same data, figures as JSON, repeatable."""

import dataclasses
import json
import math

import pytest
from click.testing import CliRunner

from stm_keras.benchmarks import temporal
from stm_keras.cli.main import app

TINY = ["--epochs", "1", "--train-videos", "8", "--validation-videos", "4"]


def test_cli_writes_each_variants_figures_as_json(tmp_path):
    output = tmp_path / "temporal.json"
    result = CliRunner().invoke(
        app,
        ["bench", "temporal", "--variants", "stm,tsn,cmm_only", *TINY, "--output", str(output)],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(output.read_text())
    assert list(report["top1"]) == ["stm", "tsn", "cmm_only"]
    for name in report["top1"]:
        assert 0.0 <= report["top1"][name] <= 1.0
        assert math.isfinite(report["val_loss"][name]) and report["val_loss"][name] > 0
        assert report["seconds"][name] > 0
    assert report["epochs"] == 1
    assert set(report["checks"]) == {"stm >= 0.95", "tsn <= 0.6", "cmm_only > tsn"}
    settings = report["settings"]
    assert settings["train_videos"] == 8 and settings["validation_videos"] == 4
    assert settings["classes"] == ["Swiping Left", "Swiping Right", "Swiping Up", "Swiping Down"]
    assert settings["depth"] == 18 and settings["frames"] == 8 and settings["image_size"] == 64
    assert report["machine"]["cpu_count"] >= 1
    assert "cmm_only" in result.output and f"figures: {output}" in result.output


def test_variants_differ_only_in_their_temporal_modules():
    from stm_keras.models import STMBackbone

    def block_layers(variant):
        backbone = STMBackbone(
            **temporal.NETWORK, **temporal.VARIANTS[variant], num_segments=temporal.FRAMES
        )
        return {layer.__class__.__name__ for layer in backbone.layers}, backbone

    stm_kinds, _ = block_layers("stm")
    tsn_kinds, tsn = block_layers("tsn")
    assert {"CMM", "ChannelwiseTemporalConv"} <= stm_kinds
    assert not {"CMM", "ChannelwiseTemporalConv"} & tsn_kinds and tsn.is_tsn
    assert "CMM" not in block_layers("cstm_only")[0]
    assert "ChannelwiseTemporalConv" not in block_layers("cmm_only")[0]
    _, concat = block_layers("stm_concat")
    assert concat.fusion == "concat" and concat.get_layer("conv2_block1_fuse_conv")
    _, full = block_layers("stm_full_temporal")
    assert full.get_layer("conv2_block1_1_temporal").mode == "full"


def test_same_seed_gives_the_same_figures(tmp_path):
    """Op determinism and seeded input order: a second run repeats the first exactly."""
    kwargs = dict(variants=["stm"], epochs=1, lr_steps=(), train_videos=8, validation_videos=4)
    first = temporal.measure_temporal(**kwargs, work_dir=str(tmp_path))
    second = temporal.measure_temporal(**kwargs, work_dir=str(tmp_path))
    assert first.val_loss == second.val_loss and first.top1 == second.top1
    other_seed = temporal.measure_temporal(**kwargs, seed=1, work_dir=str(tmp_path))
    assert other_seed.val_loss != first.val_loss


def test_op_determinism_is_restored_afterwards():
    from tensorflow.python.framework import config

    before = config.is_op_determinism_enabled()
    with temporal._op_determinism():
        assert config.is_op_determinism_enabled()
    assert config.is_op_determinism_enabled() == before


def test_checks_state_the_issues_expectations():
    passing = temporal.TemporalBench(
        top1={"stm": 0.97, "tsn": 0.5, "cstm_only": 0.9, "cmm_only": 0.6},
        val_loss={},
        seconds={},
        epochs=1,
        settings={},
    )
    assert all(passing.checks().values()) and len(passing.checks()) == 4
    failing = dataclasses.replace(passing, top1={"stm": 0.9, "tsn": 0.7, "cmm_only": 0.7})
    assert failing.checks() == {"stm >= 0.95": False, "tsn <= 0.6": False, "cmm_only > tsn": False}


def test_unknown_variant_is_a_usage_error():
    result = CliRunner().invoke(app, ["bench", "temporal", "--variants", "stm,i3d"])
    assert result.exit_code == 2 and "--variants" in result.output and "i3d" in result.output
    with pytest.raises(ValueError, match="i3d"):
        temporal.measure_temporal(["i3d"])
