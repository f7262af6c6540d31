"""`stm-keras fit` for fine-tuning: --freeze-stages, the parent record, the flip policy read from
dataset_info.json."""

import json
import os
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from stm_keras import model_dir
from stm_keras.cli.fit import command
from stm_keras.data import schema

TINY = [
    "--depth", "18", "--width-multiplier", "0.125", "--frames", "4", "--image-size", "32",
    "--init", "none",
]  # fmt: skip
SHORT = ["--epochs", "1", "--steps-per-epoch", "2", "--validation-steps", "0", "--verbose", "0"]
SHORT += ["--batch-size", "2", "--seed", "0"]


def _layer_weights(classifier):
    """``{name: [arrays]}`` of the backbone's and the classifier's weighted layers."""
    layers = [*classifier.backbone.layers, *classifier.layers]
    return {layer.name: layer.get_weights() for layer in layers if layer.weights}


def _equal(first, second):
    return len(first) == len(second) and all(
        np.array_equal(a, b) for a, b in zip(first, second, strict=True)
    )


@pytest.fixture(scope="module")
def fine_tuned(tiny_train_records_dir, tiny_model_dir, tmp_path_factory):
    """A run from ``tiny_model_dir`` (3 classes) on 2 classes with the first two stages fixed."""
    run = str(tmp_path_factory.mktemp("fine_tuned"))
    # A relative --init-from: config.json must record it absolute.
    parent = os.path.relpath(tiny_model_dir)
    args = ["--data-dir", tiny_train_records_dir, "--model-dir", run, *TINY, *SHORT]
    args += ["--init-from", parent, "--freeze-stages", "2", "--lr", "2"]
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 0, result.output
    return run, result.output


def test_frozen_stages_keep_the_parents_weights_and_the_rest_trains(fine_tuned, tiny_model_dir):
    run, output = fine_tuned
    parent = _layer_weights(model_dir.load_classifier(tiny_model_dir))
    child = _layer_weights(model_dir.load_classifier(run))
    frozen = [name for name in child if name.startswith(("conv1_", "conv2_block"))]
    # The stem, and stage 2 with its CSTM temporal convs and CMMs.
    assert {"conv1_conv", "conv1_bn", "conv2_block1_cmm", "conv2_block2_1_temporal"} <= set(frozen)
    for name in frozen:
        assert _equal(child[name], parent[name]), name
    for stage in (3, 4, 5):
        convs = [name for name in child if name.startswith(f"conv{stage}_block")]
        changed = [name for name in convs if not _equal(child[name], parent[name])]
        assert changed, f"nothing of stage {stage} trained"
    config = model_dir.load_config(run)
    assert config["freeze_stages"] == 2
    assert config["run"]["partial_bn"] is True  # partial BN combines with frozen stages
    assert "stages 1-2 frozen" in output
    assert "freeze: " in output and "conv1_conv .. conv2_block2_2_bn" in output


def test_config_records_the_parent_and_its_weights_digest(fine_tuned, tiny_model_dir):
    run, _ = fine_tuned
    parent = model_dir.load_config(run)["parent"]
    assert parent == {
        "path": os.path.abspath(tiny_model_dir),
        "preset": os.path.join(os.path.abspath(tiny_model_dir), model_dir.FINAL_PRESET),
        "weights_sha256": model_dir.weights_digest(tiny_model_dir),
    }
    assert len(parent["weights_sha256"]) == 64
    # A run without --init-from has no parent.
    assert "parent" not in model_dir.load_config(tiny_model_dir)


@pytest.mark.parametrize("stages", ["-1", "6"])
def test_freeze_stages_outside_0_to_5_is_a_usage_error(tiny_train_records_dir, tmp_path, stages):
    args = ["--data-dir", tiny_train_records_dir, "--model-dir", str(tmp_path), *TINY]
    result = CliRunner().invoke(command, [*args, "--freeze-stages", stages])
    assert result.exit_code == 2, result.output
    assert "--freeze-stages" in result.output


def test_freezing_random_weights_is_refused(tiny_train_records_dir, tmp_path):
    args = ["--data-dir", tiny_train_records_dir, "--model-dir", str(tmp_path), *TINY]
    result = CliRunner().invoke(command, [*args, "--freeze-stages", "1"])
    assert result.exit_code == 2, result.output
    assert "--freeze-stages" in result.output and "--init none" in result.output


def test_freezing_layers_the_parent_lacks_is_refused(
    tiny_train_records_dir, tiny_model_dir, tmp_path
):
    # ResNet-34 shares the stem and conv2_block1..2 with the parent's ResNet-18, not conv2_block3.
    args = ["--data-dir", tiny_train_records_dir, "--model-dir", str(tmp_path), *TINY, *SHORT]
    args += ["--depth", "34", "--init-from", tiny_model_dir, "--freeze-stages", "2"]
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 1, result.output
    assert "conv2_block3" in result.output and "random" in result.output


def _records_with_info(source, destination, **changes):
    """A copy of the records in ``source`` whose dataset_info.json has ``changes`` (None
    removes a key)."""
    shutil.copytree(source, destination)
    path = os.path.join(destination, schema.DATASET_INFO_FILE)
    with open(path) as f:
        info = json.load(f)
    for key, value in changes.items():
        if value is None:
            info.pop(key, None)
        else:
            info[key] = value
    with open(path, "w") as f:
        json.dump(info, f)
    return str(destination)


@pytest.mark.parametrize(
    "changes",
    [
        {"dataset": "my-gestures", "direction_sensitive": True},
        # Files written before the key existed: the dataset name decides.
        {"dataset": "something-something-v2", "direction_sensitive": None},
    ],
)
def test_flip_on_a_direction_sensitive_dataset_is_refused(
    tiny_train_records_dir, tmp_path, changes
):
    records = _records_with_info(tiny_train_records_dir, tmp_path / "records", **changes)
    args = ["--data-dir", records, "--model-dir", str(tmp_path / "run"), *TINY, "--flip"]
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 2, result.output
    assert f"dataset '{changes['dataset']}'" in result.output and "direction" in result.output


def test_flip_is_on_by_default_when_dataset_info_says_direction_does_not_matter(
    tiny_train_records_dir, tmp_path
):
    # The name alone would refuse it: the recorded entry wins.
    changes = {"dataset": "jester", "direction_sensitive": False}
    records = _records_with_info(tiny_train_records_dir, tmp_path / "records", **changes)
    run = str(tmp_path / "run")
    result = CliRunner().invoke(command, ["--data-dir", records, "--model-dir", run, *TINY, *SHORT])
    assert result.exit_code == 0, result.output
    assert model_dir.load_config(run)["run"]["flip"] is True
    assert model_dir.load_classifier(run).preprocessor.flip is True


def test_init_from_takes_the_parents_architecture_unless_a_flag_says_otherwise(
    tiny_train_records_dir, tiny_model_dir, tmp_path
):
    parent = model_dir.backbone_config(tiny_model_dir)
    assert (parent["depth"], parent["width_multiplier"]) == (18, 0.125)
    run = str(tmp_path / "run")
    # No --depth / --width-multiplier: the parent's; --no-cmm on the command line wins.
    args = ["--data-dir", tiny_train_records_dir, "--model-dir", run, "--frames", "4"]
    args += ["--image-size", "32", "--init-from", tiny_model_dir, "--no-cmm", *SHORT]
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 0, result.output
    backbone = model_dir.load_config(run)["backbone"]
    assert (backbone["depth"], backbone["width_multiplier"]) == (18, 0.125)
    assert backbone["use_cmm"] is False and parent["use_cmm"] is True
