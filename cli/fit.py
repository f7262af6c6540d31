"""`stm-keras fit`: train STM (or the TSN baseline) on `stm-keras preprocess` output."""

from __future__ import annotations

import os
from typing import Any

import click

from stm_keras.cli.common import RuntimeProblem, maps_errors
from stm_keras.cli.model_options import (
    backbone_arguments,
    backbone_options,
    backbone_values,
    parse_int_list,
)
from stm_keras.data import schema
from stm_keras.recipes import recipe_names
from stm_keras.training.trainer import FitError, OptionError


@click.command("fit")
@maps_errors(usage=(OptionError,), runtime=(FitError,))
@click.option(
    "--data-dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Output dir of 'stm-keras preprocess' (shards + dataset_info.json).",
)
@click.option(
    "--model-dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Where config.json, the final/ and best/ presets, history and logs go; rerun to resume.",
)
@click.option(
    "--recipe",
    default=None,
    help="Start from a named recipe or a recipe JSON file; every flag given on the command "
    f"line overrides it. Recipes: {', '.join(recipe_names())}.",
)
@click.option(
    "--arch",
    type=click.Choice(["stm", "tsn"]),
    default="stm",
    help="STM network or the TSN-ResNet baseline (both temporal modules off).",
)
@click.option(
    "--frames",
    type=click.IntRange(min=1),
    default=8,
    help="T: segments (frames) per clip; the paper uses 8 or 16.",
)
@click.option(
    "--image-size", type=click.IntRange(min=8), default=224, help="Crop side fed to the network."
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=8,
    help="Clips per replica; global batch = this x replicas.",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=50,
    help="Total epochs (a resumed run ends at the same count).",
)
@click.option(
    "--lr",
    type=float,
    default=0.01,
    help=(
        "Learning rate for the paper's global batch (64 clips at T<=8, 32 at T=16), "
        "scaled linearly to the actual global batch."
    ),
)
@click.option("--no-lr-scaling", is_flag=True, help="Use --lr as given, without linear scaling.")
@click.option(
    "--lr-steps", default="30,40,45", help="Epochs at which the learning rate is divided by 10."
)
@click.option("--momentum", type=float, default=0.9, help="SGD momentum.")
@click.option(
    "--weight-decay", type=float, default=5e-4, help="L2 weight decay on conv and dense kernels."
)
@click.option(
    "--clip-norm", type=float, default=20.0, help="Global gradient-norm clipping (0: off)."
)
@click.option("--dropout", type=float, default=0.5, help="Dropout before the classifier.")
@click.option(
    "--init",
    default="imagenet",
    help="Backbone init: imagenet, none, or a local ResNet weights file (needs no network).",
)
@click.option(
    "--init-from",
    default=None,
    help=(
        "Preset, preset handle or model dir of a finished fit (e.g. Kinetics) to start "
        "from; layers whose shapes differ (the classifier) stay freshly initialised. "
        "config.json records it (path, sha256 of its weights) under 'parent'."
    ),
)
@click.option(
    "--partial-bn/--unfreeze-bn",
    default=None,
    help=(
        "Freeze all BatchNorm but the first (TSN). Default: on with pretrained init, "
        "off with --init none."
    ),
)
@click.option(
    "--freeze-stages",
    type=click.IntRange(0, 5),
    default=0,
    help=(
        "Keep the first N ResNet stages fixed: 1 the stem (conv1), 2..5 also conv2_x..conv5_x "
        "with their CSTM/CMM. For fine-tuning on few clips; 0 trains every stage."
    ),
)
@click.option(
    "--flip/--no-flip",
    default=None,
    help=(
        "Random horizontal flip. Default: on, unless dataset_info.json marks the dataset "
        "direction_sensitive (Jester, Something-Something), where --flip is refused."
    ),
)
@click.option(
    "--mixed-precision",
    is_flag=True,
    help="float16 compute on GPUs (bfloat16 on CPUs) with float32 weights.",
)
@click.option("--jit-compile", is_flag=True, help="Compile the train step with XLA.")
@click.option(
    "--strategy",
    type=click.Choice(["auto", "mirrored", "multiworker", "one-device"]),
    default="auto",
    help=(
        "auto: MirroredStrategy over all GPUs; multiworker: MultiWorkerMirroredStrategy "
        "from TF_CONFIG."
    ),
)
@click.option(
    "--cpu-replicas",
    type=click.IntRange(min=0),
    default=0,
    help="Without GPUs, split the CPU into N logical devices and mirror over them.",
)
@click.option(
    "--steps-per-epoch",
    type=click.IntRange(min=1),
    default=None,
    help="Steps per epoch [default: train videos // global batch].",
)
@click.option(
    "--validation-steps",
    type=click.IntRange(min=0),
    default=None,
    help="Validation batches per epoch, 0 for none [default: whole validation split].",
)
@click.option(
    "--shuffle-buffer", type=click.IntRange(min=1), default=512, help="Records held for shuffling."
)
@click.option(
    "--seed", type=int, default=None, help="Seed for initialisation, shuffling and augmentation."
)
@backbone_options
@click.option(
    "--verbose",
    type=click.IntRange(0, 2),
    default=1,
    help="Keras verbosity: 1 progress bar, 2 one line per epoch, 0 silent.",
)
@click.pass_context
def command(context: click.Context, **params: Any) -> None:
    """Train STM on preprocessed shards; run the same command again to resume.

    Defaults are the paper's recipe: SGD momentum 0.9, lr 0.01 for 8 GPUs x 8 clips (scaled
    linearly), /10 at epochs 30, 40, 45, 50 epochs, weight decay 5e-4, partial BN, clipping at
    global norm 20. All visible GPUs are used (MirroredStrategy). --recipe NAME starts from a
    named recipe instead; flags given on the command line override it. config.json records
    the recipe and the overrides. The final and best models are written as presets
    (MODEL_DIR/final, MODEL_DIR/best) that evaluate, export and predict load.

    \b
    Examples:
      stm-keras fit --recipe jester-imagenet-16f --data-dir records/ --model-dir runs/jester16
      stm-keras fit --recipe cpu-demo --data-dir records/ --model-dir runs/demo --epochs 4
      stm-keras fit --recipe ucf101-from-kinetics --data-dir ucf/ --model-dir runs/ucf \\
          --init-from runs/kinetics
      stm-keras fit --data-dir clips/ --model-dir runs/mine --init-from runs/kinetics/best \\
          --freeze-stages 3 --epochs 15 --lr 0.001 --lr-steps 10
    """
    from stm_keras import recipes

    recipe_options: dict[str, Any] = {}
    if params["recipe"]:
        try:
            recipe = recipes.load_recipe(params["recipe"])
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--recipe") from error
        params = apply_recipe(context, params, recipe)
        recipe_options = recipe.options
    if params["init_from"]:
        params = inherit_parent_backbone(context, params, recipe_options)
    params["overrides"] = command_line_overrides(context, params) if params["recipe"] else {}
    params["backbone"] = backbone_values(params)
    # Recorded in config.json for evaluate: absolute, so it works from any working directory.
    if "://" not in params["data_dir"]:
        params["data_dir"] = os.path.abspath(params["data_dir"])
        info_path = os.path.join(params["data_dir"], schema.DATASET_INFO_FILE)
        if not os.path.isfile(info_path):
            raise click.BadParameter(
                f"{info_path} not found: give the output directory of 'stm-keras preprocess'",
                param_hint="--data-dir",
            )
    params["lr_steps"] = parse_int_list(params["lr_steps"], "--lr-steps")
    params["lr_scaling"] = not params.pop("no_lr_scaling")
    if params["init"] not in ("imagenet", "none") and not os.path.isfile(params["init"]):
        raise click.BadParameter(
            f"'{params['init']}' is neither imagenet, none nor an existing file",
            param_hint="--init",
        )
    # Logical CPUs must be set before TensorFlow initialises, so nothing TF is imported above.
    if params["cpu_replicas"] > 1:
        from stm_keras.training.strategy import configure_cpu_replicas

        try:
            configure_cpu_replicas(params["cpu_replicas"])
        except RuntimeError as error:
            raise RuntimeProblem(str(error)) from error

    from stm_keras.training import trainer

    trainer.fit(trainer.FitOptions(**params), log=click.echo)


def _from_command_line(context: click.Context, name: str) -> bool:
    return context.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE


def apply_recipe(context: click.Context, params: dict[str, Any], recipe: Any) -> dict[str, Any]:
    """``params`` with the recipe's values wherever the command line did not set the option.

    Raises:
        click.BadParameter: naming the recipe, for an option ``fit`` does not have or a
            required option the command line lacks.
    """
    unknown = sorted(set(recipe.options) - set(params))
    if unknown:
        raise click.BadParameter(
            f"recipe {recipe.name} sets unknown options {unknown}", param_hint="--recipe"
        )
    missing = [name for name in recipe.requires if not params.get(name)]
    if missing:
        flags = ", ".join("--" + name.replace("_", "-") for name in missing)
        raise click.BadParameter(
            f"recipe {recipe.name} needs {flags} ({recipe.description})", param_hint="--recipe"
        )
    merged = dict(params)
    for name, value in recipe.options.items():
        if not _from_command_line(context, name):
            merged[name] = ",".join(map(str, value)) if isinstance(value, list) else value
    return merged


def inherit_parent_backbone(
    context: click.Context, params: dict[str, Any], recipe_options: dict[str, Any]
) -> dict[str, Any]:
    """``params`` with the ``--init-from`` model's backbone options where neither the command
    line nor the recipe sets them, so a fine-tuned model has its parent's architecture."""
    from stm_keras import model_dir

    try:
        parent = model_dir.backbone_config(params["init_from"])
    except (FileNotFoundError, ValueError) as error:
        raise click.BadParameter(str(error), param_hint="--init-from") from error
    merged = dict(params)
    for argument in backbone_arguments():
        name = argument.name
        if name in parent and name not in recipe_options and not _from_command_line(context, name):
            value = parent[name]
            merged[name] = ",".join(map(str, value)) if isinstance(value, list) else value
    return merged


def command_line_overrides(context: click.Context, params: dict[str, Any]) -> dict[str, Any]:
    """The options given on the command line (other than where data and model go)."""
    ignored = ("recipe", "data_dir", "model_dir")
    return {
        name: value
        for name, value in params.items()
        if name not in ignored and name in context.params and _from_command_line(context, name)
    }
