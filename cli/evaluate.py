"""`stm-keras evaluate`: video-level accuracy of a trained model, as the paper measures it."""

from __future__ import annotations

import os
import time

import click

from stm_keras.cli.common import RuntimeProblem, UsageProblem, maps_errors
from stm_keras.cli.model_options import model_option

PROTOCOL_NAMES = ("1x1", "3x10")
PROGRESS_INTERVAL_S = 10.0


def _expected_videos(info: dict, split: str) -> int | None:
    split_info = info.get("splits", {}).get(split, {})
    # preprocess records "num_written"; synthetic datasets "num_examples".
    for key in ("num_written", "num_examples"):
        if isinstance(split_info.get(key), int):
            return split_info[key]
    return None


class _Progress:
    """Prints a progress line to stderr at most every PROGRESS_INTERVAL_S seconds."""

    def __init__(self, total_videos: int | None) -> None:
        self.total = total_videos
        self.start = time.monotonic()
        self.last = self.start

    def __call__(self, videos: int, views: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_INTERVAL_S:
            return
        self.last = now
        of_total = f"/{self.total}" if self.total else ""
        rate = views / (now - self.start)
        click.echo(f"  {videos}{of_total} videos, {views} views ({rate:.1f} views/s)", err=True)


@click.command("evaluate")
@maps_errors(usage=(FileNotFoundError,))
@model_option
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Output directory of 'stm-keras preprocess'.  [default: the data_dir a model "
    "directory's config.json records]",
)
@click.option("--split", default="validation", help="Split of the dataset to evaluate.")
@click.option(
    "--protocol",
    type=click.Choice(PROTOCOL_NAMES),
    default="3x10",
    help="1x1: one centre crop of one clip (fast). 3x10: the paper's 3 crops x 10 clips, "
    "softmax averaged over the 30 views.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, help="Views per model call.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Report JSON; the confusion-matrix PNG is written beside it.  "
    "[default: eval-SPLIT-PROTOCOL.json in the model directory, or here for a handle]",
)
def command(
    model_path: str,
    data_dir: str | None,
    split: str,
    protocol: str,
    batch_size: int,
    output: str | None,
) -> None:
    """Report top-1, top-5, mean class and per-class accuracy and a confusion matrix.

    Protocol 3x10 resizes the short side to round(image_size * 256 / 224) (256 for a 224-px
    model), takes three squares of that side covering the frame, each resized to image_size,
    from 10 clips evenly spaced over the video, and averages the softmax of the 30 views.

    \b
    Examples:
      stm-keras evaluate --model run/ --protocol 3x10
      stm-keras evaluate --model run/best --data-dir records/ --split validation
    """
    from stm_keras import model_dir as model_dir_lib
    from stm_keras.data import schema

    # A preset holds a config.json too (its backbone's): only a fit model directory records data.
    is_model_dir = not model_dir_lib.is_preset(model_path) and os.path.isfile(
        os.path.join(model_path, model_dir_lib.CONFIG_FILE)
    )
    if data_dir is None:
        config = model_dir_lib.load_config(model_path) if is_model_dir else {}
        data_dir = config.get("data_dir")
        if not data_dir:
            raise click.UsageError(
                f"--data-dir is required: {model_path} is not a model directory whose "
                "config.json records one"
            )
    try:
        info = schema.load_dataset_info(data_dir)
        files = schema.split_files(data_dir, split, info)
        model = model_dir_lib.load_classifier(model_path)
    except ValueError as error:
        raise UsageProblem(str(error)) from error
    class_names = list(model.class_names or [])
    dataset_classes = info.get("classes")
    if dataset_classes is not None and list(dataset_classes) != class_names:
        raise RuntimeProblem(
            f"the classes of {data_dir} differ from those the model {model_path} was trained on"
        )

    from stm_keras.evaluation import evaluate as evaluate_lib
    from stm_keras.models import PROTOCOLS

    start = time.monotonic()
    click.echo(
        f"Evaluating {model_path} on {data_dir} ({split}, protocol {protocol}, "
        f"views per video: {PROTOCOLS[protocol].num_views})",
        err=True,
    )
    try:
        result = evaluate_lib.evaluate(
            model,
            files,
            protocol=PROTOCOLS[protocol],
            batch_size=batch_size,
            progress=_Progress(_expected_videos(info, split)),
        )
    except ValueError as error:
        raise RuntimeProblem(f"{data_dir} ({split}): {error}") from error

    report = {
        "model": model_path if "://" in model_path else os.path.abspath(model_path),
        "data_dir": os.path.abspath(data_dir),
        "split": split,
        "protocol": protocol,
        "views_per_video": PROTOCOLS[protocol].num_views,
        **result.metrics,
    }
    report_dir = model_path if os.path.isdir(model_path) else "."
    output = output or os.path.join(report_dir, f"eval-{split}-{protocol}.json")
    json_path, png_path = evaluate_lib.save_report(report, output)
    metrics = result.metrics
    seconds = time.monotonic() - start
    views = metrics["num_videos"] * PROTOCOLS[protocol].num_views
    click.echo(f"  {views} views in {seconds:.1f} s ({views / seconds:.1f} views/s)", err=True)
    click.echo(
        f"{split} ({metrics['num_videos']} videos, {protocol}): "
        f"top-1 {100 * metrics['top1']:.2f}%  top-5 {100 * metrics['top5']:.2f}%  "
        f"mean class accuracy {100 * metrics['mean_class_accuracy']:.2f}%"
    )
    click.echo(f"report: {json_path}")
    click.echo(f"confusion matrix: {png_path}")
