"""`stm-keras export`: a TensorFlow SavedModel that takes raw uint8 videos."""

from __future__ import annotations

import os

import click

from stm_keras.cli.common import UsageProblem, maps_errors
from stm_keras.cli.model_options import model_option


@click.command("export")
@maps_errors(runtime=(ValueError,))
@model_option
@click.option(
    "--output-dir",
    required=True,
    type=click.Path(file_okay=False),
    help="SavedModel directory to write (created; an earlier export there is replaced).",
)
def command(model_path: str, output_dir: str) -> None:
    """Write a SavedModel whose serving_default signature classifies raw videos.

    Input `video`: uint8 [batch, frames, height, width, 3], any frame count and size; frame
    sampling, resizing, centre crop and normalization happen in the graph as in
    'evaluate --protocol 1x1'. Outputs `probabilities` (float32 [batch, classes]) and
    `top_class` (int64 [batch]); class names are in assets/labels.txt. Loading needs
    TensorFlow only (tf.saved_model.load, saved_model_cli). The `preprocess` signature
    returns the clips the network sees.

    \b
    Example:
      stm-keras export --model run/ --output-dir saved_model/
      saved_model_cli show --dir saved_model/ --all
    """
    output = output_dir
    if (
        os.path.isdir(output)
        and os.listdir(output)
        and not os.path.isfile(os.path.join(output, "saved_model.pb"))
    ):
        raise click.UsageError(
            f"--output-dir {output} is a non-empty directory that holds no SavedModel; "
            "choose a new or empty directory"
        )

    from stm_keras import export

    try:
        export.export_model(model_path, output)
    except FileNotFoundError as error:
        raise UsageProblem(f"--model: {error}") from error
    preprocessing = export.read_preprocessing(output)
    click.echo(
        f"SavedModel: {output} (signature {export.SIGNATURE_KEY}: {export.INPUT_KEY} uint8 "
        f"[batch, frames, height, width, 3] -> {export.PROBABILITIES_KEY} "
        f"[batch, {preprocessing['num_classes']}], {export.TOP_CLASS_KEY}; "
        f"{preprocessing['frames']} frames sampled, {preprocessing['image_size']} px)"
    )
