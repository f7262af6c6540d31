"""`stm-keras visualize`: pictures of a trained model and of its training and evaluation."""

from __future__ import annotations

from typing import Any

import click

from stm_keras.cli.common import UsageProblem, maps_errors
from stm_keras.cli.model_options import model_option
from stm_keras.predict import DecodeError
from stm_keras.visualization.confusion import DEFAULT_LISTED_CONFUSIONS
from stm_keras.visualization.features import DEFAULT_BLOCK, UnknownBlockError
from stm_keras.visualization.grad_cam import UnknownClassError


def _video_argument(required: bool = True) -> Any:
    return click.argument(
        "video", required=required, type=click.Path(exists=True), metavar="VIDEO_OR_FRAME_FOLDER"
    )


def _output_option(required: bool = True, note: str = "") -> Any:
    return click.option(
        "--output",
        required=required,
        type=click.Path(dir_okay=False),
        help=f"The PNG to write (its folder is created).{note}",
    )


@click.group("visualize")
def command() -> None:
    """Pictures: feature maps of one block (the paper's Figure 1), Grad-CAM over time, training
    curves and the confusion matrix.

    \b
    Examples:
      stm-keras visualize features --model runs/jester16 clip.mp4 --output features.png
      stm-keras visualize features --model runs/jester16 --list-blocks
      stm-keras visualize cam --model runs/jester16 frames/00042/ --output cam.png
      stm-keras visualize history --model-dir runs/jester16 --output curves.png
      stm-keras visualize confusion --eval-json runs/jester16/eval-validation-3x10.json \\
          --output confusion.png
    """


def _load_classifier(model_path: str) -> Any:
    from stm_keras import model_dir

    try:
        return model_dir.load_classifier(model_path)
    except (FileNotFoundError, ValueError) as error:
        raise UsageProblem(f"--model: {error}") from error


def _read_frames(classifier: Any, video: str) -> Any:
    from stm_keras.predict import read_clip

    return read_clip(video, classifier.preprocessor)


def _require(video: str | None, output: str | None) -> None:
    missing = [
        name
        for name, value in (("VIDEO_OR_FRAME_FOLDER", video), ("--output", output))
        if value is None
    ]
    if missing:
        raise click.UsageError(f"missing {' and '.join(missing)}")


@command.command(
    "features", short_help="Feature maps of one block per frame (the paper's Figure 1)."
)
@maps_errors(usage=(UnknownBlockError,), runtime=(DecodeError,))
@model_option
@_video_argument(required=False)
@_output_option(required=False, note=" Required unless --list-blocks.")
@click.option(
    "--block",
    default=DEFAULT_BLOCK,
    show_default=True,
    help="The block to show (see --list-blocks).",
)
@click.option("--list-blocks", is_flag=True, help="Print the model's blocks and exit.")
def features(
    model_path: str, video: str | None, output: str | None, block: str, list_blocks: bool
) -> None:
    """Feature maps of one block on one clip, as in the paper's Figure 1.

    One column per sampled frame; rows: the input frame, the block's input, CSTM's output
    (spatiotemporal features), CMM's output (motion features) and the block's output, each as
    the mean |activation| over channels, normalized per row. A TSN model has no CSTM or CMM:
    the picture says so and draws the rows it has. The title names the predicted class.

    \b
    Example:
      stm-keras visualize features --model runs/jester16 clip.mp4 --output features.png \\
          --block conv2_block2
    """
    from stm_keras.visualization import features as feature_rows

    classifier = _load_classifier(model_path)
    backbone = classifier.backbone
    if list_blocks:
        for name in backbone.block_names():
            layers = feature_rows.block_feature_layers(backbone, name)
            parts = [
                part
                for part, row in (("CSTM", feature_rows.CSTM_ROW), ("CMM", feature_rows.CMM_ROW))
                if layers[row]
            ]
            click.echo(f"{name}\t{' + '.join(parts) if parts else 'plain ResNet block'}")
        return
    _require(video, output)
    try:
        feature_rows.block_feature_layers(backbone, block)
    except UnknownBlockError as error:
        raise UsageProblem(f"--block: {error}") from error
    rows = feature_rows.compute_feature_rows(classifier, _read_frames(classifier, video), block)
    for note in rows.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(feature_rows.draw_feature_rows(rows, output))


@command.command("cam", short_help="Grad-CAM: one heat map per sampled frame.")
@maps_errors(usage=(UnknownBlockError, UnknownClassError), runtime=(DecodeError,))
@model_option
@_video_argument()
@_output_option()
@click.option(
    "--class",
    "class_name",
    default=None,
    help="The class to explain, by name.  [default: the predicted class]",
)
@click.option(
    "--block",
    default=None,
    help="The block whose output Grad-CAM weighs.  [default: the last block]",
)
def cam(
    model_path: str, video: str, output: str, class_name: str | None, block: str | None
) -> None:
    """Grad-CAM over time: one heat map per sampled frame, over the frame.

    The gradients of the class logit with respect to the last stage's per-frame feature maps,
    averaged over space, weigh those maps; the ReLU of the sum is upsampled to the frame and
    normalized over the clip, so both where and when the evidence lies can be read.

    \b
    Example:
      stm-keras visualize cam --model runs/jester16 clip.mp4 --output cam.png \\
          --class "Swiping Left"
    """
    from stm_keras.visualization import grad_cam

    classifier = _load_classifier(model_path)
    if class_name is not None:
        try:
            grad_cam.class_index(classifier.class_names, class_name)
        except UnknownClassError as error:
            raise UsageProblem(f"--class: {error}") from error
    if block is not None and block not in classifier.backbone.block_names():
        blocks = ", ".join(classifier.backbone.block_names())
        raise UsageProblem(f"--block: no block named {block!r}; blocks: {blocks}")
    frames = _read_frames(classifier, video)
    result = grad_cam.compute_grad_cam(classifier, frames, class_name, block)
    click.echo(grad_cam.draw_grad_cam(result, output))


@command.command("history", short_help="Loss, top-1 and learning rate per epoch.")
@maps_errors(usage=(FileNotFoundError, ValueError))
@click.option(
    "--model-dir",
    required=True,
    type=click.Path(),
    help="The model directory of 'stm-keras fit' (its history.csv is read).",
)
@_output_option()
def history(model_dir: str, output: str) -> None:
    """Training curves: loss, top-1 and learning rate per epoch, train and validation.

    \b
    Example:
      stm-keras visualize history --model-dir runs/jester16 --output curves.png
    """
    from stm_keras.visualization import history as curves

    path = curves.history_path(model_dir)
    columns = curves.read_history_columns(path)
    click.echo(curves.draw_history(columns, output, f"training history: {model_dir}"))


@command.command("confusion", short_help="Confusion matrix of an evaluate report.")
@maps_errors(usage=(ValueError,))
@click.option(
    "--eval-json",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A report of 'stm-keras evaluate' (MODEL_DIR/eval-<split>-<protocol>.json).",
)
@_output_option()
@click.option(
    "--list",
    "listed",
    type=click.IntRange(min=0),
    default=DEFAULT_LISTED_CONFUSIONS,
    show_default=True,
    help="List this many of the largest confusions beside the matrix (0: none).",
)
def confusion(eval_json: str, output: str, listed: int) -> None:
    """The confusion matrix of an evaluation, rows normalized, largest confusions listed.

    Class names label the axes while they fit (up to about 80 classes); the list beside the
    matrix names the largest off-diagonal cells at any class count.

    \b
    Example:
      stm-keras visualize confusion --eval-json runs/sth/eval-validation-3x10.json \\
          --output confusion.png --list 30
    """
    from stm_keras.visualization import confusion as confusion_picture

    matrix, classes = confusion_picture.read_eval_report(eval_json)
    click.echo(confusion_picture.draw_confusion(matrix, classes, output, listed))
