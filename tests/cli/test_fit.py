"""`stm-keras fit` in process on two logical CPUs (configured by tests/conftest.py)."""

import csv
import dataclasses
import json
import os

import pytest
from click.testing import CliRunner

from stm_keras import model_dir
from stm_keras.cli.fit import command
from stm_keras.cli.model_options import backbone_arguments
from stm_keras.pipelines.synth.classes import JESTER
from stm_keras.pipelines.synth.records import write_records
from stm_keras.training import trainer

# Background only vs a growing disc: appearance alone tells them apart, so the few steps of
# `trained` learn them (temporal pairs such as Swiping Left/Right need far more training).
CLASSES = ["No gesture", "Zooming In With Full Hand"]
TINY = [
    "--depth", "18", "--width-multiplier", "0.125", "--frames", "4", "--image-size", "32",
    "--init", "none",
]  # fmt: skip


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("records"))
    jester = dict(JESTER)
    write_records(
        path,
        num_classes=2,
        videos_per_split={"train": 16, "validation": 4},
        dataset="jester",
        classes=[(name, jester[name]) for name in CLASSES],
    )
    return path


@pytest.fixture(scope="module")
def trained(records, tmp_path_factory):
    run = str(tmp_path_factory.mktemp("run"))
    # A relative --data-dir: config.json must still record where the data is.
    relative_records = os.path.relpath(records)
    args = ["--data-dir", relative_records, "--model-dir", run, *TINY, "--cpu-replicas", "2"]
    args += ["--batch-size", "4", "--epochs", "4", "--lr", "0.4", "--weight-decay", "0"]
    args += ["--dropout", "0", "--lr-steps", "3", "--seed", "1", "--verbose", "2"]
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 0, result.output
    return run, result.output


def _history(run):
    with open(os.path.join(run, "history.csv")) as f:
        return list(csv.DictReader(f))


def test_fit_trains_and_loss_falls(trained):
    run, output = trained
    rows = _history(run)
    assert [int(row["epoch"]) for row in rows] == [0, 1, 2, 3]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert {"top1", "top5", "val_loss", "val_top1", "val_top5", "lr"} <= set(rows[0])
    # lr 0.4 for 64 clips -> 0.05 for 8; divided by 10 from epoch 3 on.
    assert [float(row["lr"]) for row in rows] == pytest.approx([0.05, 0.05, 0.05, 0.005])
    for name in (model_dir.FINAL_PRESET, model_dir.BEST_PRESET):
        assert model_dir.is_preset(os.path.join(run, name)), name
    assert os.listdir(os.path.join(run, "logs", "train"))
    assert not os.path.exists(os.path.join(run, "backup"))
    assert "2 replica(s), batch 4/replica = 8 global" in output


def test_batches_and_config_record_every_option(trained, records):
    run, _ = trained
    config = model_dir.load_config(run)
    assert config["data_dir"] == os.path.realpath(records)
    for field in dataclasses.fields(trainer.FitOptions):
        assert field.name in config, field.name
    option_names = {p.name for p in command.params} - {"no_lr_scaling"} | {"lr_scaling"}
    # The backbone's options are gathered in FitOptions.backbone; overrides come from --recipe.
    backbone_names = {argument.name for argument in backbone_arguments()}
    assert backbone_names <= option_names
    assert option_names - backbone_names | {"backbone", "overrides"} == {
        f.name for f in dataclasses.fields(trainer.FitOptions)
    }
    assert backbone_names <= set(config["backbone"])
    assert config["batch_size"] == 4 and config["cpu_replicas"] == 2
    assert config["run"]["replicas"] == 2 and config["run"]["global_batch"] == 8
    assert config["run"]["steps_per_epoch"] == 2  # 16 videos // 8
    assert config["run"]["learning_rate"] == pytest.approx(0.05)
    assert config["classes"] == CLASSES and config["arch"] == "stm"
    assert config["run"]["num_classes"] == 2 and config["backbone"]["num_segments"] == 4
    assert config["backbone"]["depth"] == 18 and config["backbone"]["width_multiplier"] == 0.125
    assert config["run"]["flip"] is False and config["run"]["partial_bn"] is False
    json.dumps(config)


def test_final_model_loads_and_predicts(trained):
    import numpy as np

    run, _ = trained
    model = model_dir.load_classifier(run)
    assert model.class_names == CLASSES
    logits = model.predict(np.zeros((1, 4, 32, 32, 3), np.float32), verbose=0)
    assert logits.shape == (1, 2)
    # The best epoch's preset loads too.
    best = model_dir.load_classifier(run, which=model_dir.BEST_PRESET)
    assert best.class_names == CLASSES


def test_init_from_previous_run(trained, records, tmp_path):
    source, _ = trained
    args = ["--data-dir", records, "--model-dir", str(tmp_path), *TINY, "--init-from", source]
    args += ["--epochs", "1", "--steps-per-epoch", "1", "--validation-steps", "0"]
    args += ["--batch-size", "2", "--verbose", "0"]
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 0, result.output
    assert "layers copied from" in result.output
    assert model_dir.load_config(str(tmp_path))["run"]["partial_bn"] is True


def test_mixed_precision_on_cpu_uses_bfloat16_and_restores_policy(records, tmp_path):
    import keras

    args = ["--data-dir", records, "--model-dir", str(tmp_path), *TINY, "--mixed-precision"]
    args += ["--epochs", "1", "--steps-per-epoch", "1", "--validation-steps", "0", "--verbose", "0"]
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 0, result.output
    model = model_dir.load_classifier(str(tmp_path))
    assert model.backbone.get_layer("conv1_conv").dtype_policy.name == "mixed_bfloat16"
    assert all(v.dtype == "float32" for v in model.weights)
    assert keras.mixed_precision.dtype_policy().name == "float32"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--flip"], "direction"),
        (["--init", "/no/such/weights.h5"], "--init"),
        (["--init-from", "/no/such/run"], "/no/such/run"),
        (["--lr-steps", "3,x"], "--lr-steps"),
        (["--jit-compile", "--cpu-replicas", "2"], "--jit-compile"),
    ],
)
def test_usage_errors_name_the_option(records, tmp_path, extra, message):
    args = ["--data-dir", records, "--model-dir", str(tmp_path), *TINY, *extra]
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_resume_with_other_model_options_is_refused(trained, records, tmp_path):
    import shutil

    source, _ = trained
    shutil.copy(os.path.join(source, model_dir.CONFIG_FILE), tmp_path)
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "state.json").write_text('{"epoch": 1, "weights": "x.weights.h5"}')
    args = ["--data-dir", records, "--model-dir", str(tmp_path), *TINY, "--cpu-replicas", "2"]
    result = CliRunner().invoke(command, [*args, "--width-multiplier", "0.25"])
    assert result.exit_code == 1, result.output
    assert "interrupted run with a different 'backbone'" in result.output


def test_missing_data_dir_fails_naming_it(tmp_path):
    args = ["--data-dir", str(tmp_path / "nothing"), "--model-dir", str(tmp_path / "run"), *TINY]
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 2  # a usage error, like preprocess's missing --data-dir
    assert str(tmp_path / "nothing" / "dataset_info.json") in result.output
    assert not (tmp_path / "run").exists()
