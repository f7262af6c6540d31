"""`stm-keras fit`: train STM (or the TSN baseline) on `stm-keras preprocess` output."""

from __future__ import annotations

import os
from typing import Any

import click

from stm_keras.data import schema


def _int_list(text: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated integers, got '{text}'", param_hint=option
        ) from None


@click.command("fit")
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
    help="Where config, checkpoints, history, logs and model.keras go; rerun to resume.",
)
@click.option(
    "--arch",
    type=click.Choice(["stm", "tsn"]),
    default="stm",
    help="STM network or the TSN-ResNet baseline.",
)
@click.option(
    "--depth",
    type=click.Choice(["18", "34", "50", "101", "152"]),
    default="50",
    help="ResNet depth.",
)
@click.option(
    "--width-multiplier",
    type=float,
    default=1.0,
    help="Channel width factor (small models for CPUs).",
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
    type=click.Path(file_okay=False),
    default=None,
    help=(
        "Model dir of a finished fit (e.g. Kinetics) to start from; layers whose shapes "
        "differ (the classifier) stay freshly initialised."
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
    "--flip/--no-flip",
    default=None,
    help=(
        "Random horizontal flip. Default: on for Kinetics/UCF/HMDB; refused for direction "
        "datasets (Jester, Something-Something)."
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
@click.option(
    "--stm-stages", default="2,3,4,5", help="ResNet stages whose blocks are STM blocks (ablation)."
)
@click.option(
    "--blocks-per-stage",
    type=click.IntRange(min=0),
    default=None,
    help="STM blocks per stage, first blocks first [default: all] (ablation).",
)
@click.option(
    "--fusion",
    type=click.Choice(["sum", "concat"]),
    default="sum",
    help="How CSTM and CMM outputs are combined (ablation).",
)
@click.option(
    "--temporal-conv",
    type=click.Choice(["channelwise", "full"]),
    default="channelwise",
    help="CSTM temporal convolution (ablation).",
)
@click.option(
    "--temporal-init",
    type=click.Choice(["shift", "identity"]),
    default="shift",
    help="CSTM temporal kernel init (ablation).",
)
@click.option("--cstm/--no-cstm", "use_cstm", default=True, help="Use the CSTM branch (ablation).")
@click.option("--cmm/--no-cmm", "use_cmm", default=True, help="Use the CMM branch (ablation).")
@click.option(
    "--verbose",
    type=click.IntRange(0, 2),
    default=1,
    help="Keras verbosity: 1 progress bar, 2 one line per epoch, 0 silent.",
)
def command(**params: Any) -> None:
    """Train STM on preprocessed shards; run the same command again to resume.

    Defaults are the paper's recipe: SGD momentum 0.9, lr 0.01 for 8 GPUs x 8 clips (scaled
    linearly), /10 at epochs 30, 40, 45, 50 epochs, weight decay 5e-4, partial BN, clipping at
    global norm 20. All visible GPUs are used (MirroredStrategy).

    \b
    Examples:
      stm-keras fit --data-dir records/ --model-dir runs/jester16 --frames 16
      stm-keras fit --data-dir records/ --model-dir runs/demo --depth 18 \\
          --width-multiplier 0.25 --image-size 64 --init none --cpu-replicas 2
      stm-keras fit --data-dir ucf/ --model-dir runs/ucf --init-from runs/kinetics \\
          --unfreeze-bn --lr 0.001 --epochs 25 --lr-steps 15
    """
    params["depth"] = int(params["depth"])
    # Recorded in config.json for evaluate: absolute, so it works from any working directory.
    if "://" not in params["data_dir"]:
        params["data_dir"] = os.path.abspath(params["data_dir"])
        info_path = os.path.join(params["data_dir"], schema.DATASET_INFO_FILE)
        if not os.path.isfile(info_path):
            raise click.BadParameter(
                f"{info_path} not found: give the output directory of 'stm-keras preprocess'",
                param_hint="--data-dir",
            )
    params["lr_steps"] = _int_list(params["lr_steps"], "--lr-steps")
    params["stm_stages"] = _int_list(params["stm_stages"], "--stm-stages")
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
            raise click.ClickException(str(error)) from error

    from stm_keras.training import trainer

    options = trainer.FitOptions(**params)
    try:
        trainer.fit(options, log=click.echo)
    except trainer.OptionError as error:
        raise click.UsageError(str(error)) from error
    except (trainer.FitError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from error
