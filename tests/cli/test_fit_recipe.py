"""`stm-keras fit --recipe`: recipes as data, command-line overrides, the options generated from
STMBackbone's signature."""

from __future__ import annotations

import inspect
import json
import os

import pytest
from click.testing import CliRunner

from stm_keras import recipes
from stm_keras.cli import fit as fit_cli
from stm_keras.cli import model_options
from stm_keras.models import STMBackbone

PAPER_RECIPES = {
    "jester-imagenet-8f",
    "jester-imagenet-16f",
    "something-imagenet-8f",
    "something-imagenet-16f",
    "kinetics400-imagenet-8f",
    "kinetics400-imagenet-16f",
    "ucf101-from-kinetics",
    "hmdb51-from-kinetics",
    "cpu-demo",
}


def test_every_paper_recipe_ships_and_sets_only_fit_options() -> None:
    assert set(recipes.recipe_names()) >= PAPER_RECIPES
    fit_options = {param.name for param in fit_cli.command.params}
    for name in recipes.recipe_names():
        recipe = recipes.load_recipe(name)
        assert recipe.description, name
        assert set(recipe.options) <= fit_options, (name, set(recipe.options) - fit_options)
        assert set(recipe.requires) <= fit_options, name


def test_recipes_hold_the_papers_numbers() -> None:
    jester = recipes.load_recipe("jester-imagenet-16f").options
    assert (jester["frames"], jester["batch_size"], jester["lr"]) == (16, 4, 0.01)
    assert jester["lr_steps"] == [30, 40, 45] and jester["epochs"] == 50
    assert jester["flip"] is False
    ucf = recipes.load_recipe("ucf101-from-kinetics")
    assert (ucf.options["lr"], ucf.options["epochs"], ucf.options["lr_steps"]) == (0.001, 25, [15])
    assert ucf.options["partial_bn"] is False and ucf.requires == ("init_from",)


def test_unknown_recipe_names_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown recipe 'nope'.*cpu-demo"):
        recipes.load_recipe("nope")


def test_a_recipe_file_by_path(tmp_path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"description": "mine", "options": {"frames": 4}}))
    assert recipes.load_recipe(str(path)).options == {"frames": 4}
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        recipes.load_recipe(str(path))


def test_cli_model_options_are_the_backbone_signature() -> None:
    signature = inspect.signature(STMBackbone.__init__).parameters
    generated = {argument.name: argument.default for argument in model_options.backbone_arguments()}
    expected = {
        name: parameter.default
        for name, parameter in signature.items()
        if name not in model_options.NOT_OPTIONS
    }
    assert generated == expected
    fit_params = {param.name for param in fit_cli.command.params}
    assert set(expected) <= fit_params
    help_text = CliRunner().invoke(fit_cli.command, ["--help"]).output
    assert "--no-cmm" in help_text and "--temporal-conv" in help_text


def test_fine_tuning_recipe_requires_init_from(tiny_train_records_dir: str, tmp_path) -> None:
    result = CliRunner().invoke(
        fit_cli.command,
        ["--recipe", "ucf101-from-kinetics", "--data-dir", tiny_train_records_dir]
        + ["--model-dir", str(tmp_path / "run")],
    )
    assert result.exit_code == 2
    assert "--init-from" in result.output


def test_fit_records_recipe_and_overrides(tiny_train_records_dir: str, tmp_path) -> None:
    run = tmp_path / "run"
    result = CliRunner().invoke(
        fit_cli.command,
        ["--recipe", "cpu-demo", "--data-dir", tiny_train_records_dir, "--model-dir", str(run)]
        + ["--epochs", "1", "--steps-per-epoch", "1", "--validation-steps", "1"]
        + ["--width-multiplier", "0.125", "--image-size", "32", "--cpu-replicas", "0"]
        + ["--verbose", "0"],
    )
    assert result.exit_code == 0, result.output
    with open(run / "config.json", encoding="utf-8") as f:
        config = json.load(f)
    demo = recipes.load_recipe("cpu-demo").options
    assert config["recipe"] == "cpu-demo"
    assert config["overrides"] == {
        "epochs": 1,
        "steps_per_epoch": 1,
        "validation_steps": 1,
        "width_multiplier": 0.125,
        "image_size": 32,
        "cpu_replicas": 0,
        "verbose": 0,
    }
    # Recipe values where no flag was given, the flags' values where one was.
    assert config["lr"] == demo["lr"] and config["lr_steps"] == demo["lr_steps"]
    assert config["seed"] == demo["seed"] and config["init"] == demo["init"]
    assert config["epochs"] == 1 and config["image_size"] == 32
    assert config["backbone"]["depth"] == demo["depth"]
    assert config["backbone"]["width_multiplier"] == 0.125
    assert os.path.isfile(run / "final" / "task.json")
