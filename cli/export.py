"""`stm-keras export`: a TensorFlow SavedModel that takes raw uint8 videos."""

from __future__ import annotations

import os

import click

from cli.common import load_model_config, trained_model_dir_option


@click.command("export")
@trained_model_dir_option
@click.option(
    "--output",
    required=True,
    type=click.Path(file_okay=False),
    help="SavedModel directory to write (created; an earlier export there is replaced).",
)
def command(model_dir: str, output: str) -> None:
    """Write a SavedModel whose serving_default signature classifies raw videos.

    Input `video`: uint8 [batch, frames, height, width, 3], any frame count and size; frame
    sampling, resizing, centre crop and normalization happen in the graph as in
    'evaluate --protocol 1x1'. Outputs `probabilities` (float32 [batch, classes]) and
    `top_class` (int64 [batch]); class names are in assets/labels.txt. Loading needs
    TensorFlow only (tf.saved_model.load, saved_model_cli).

    \b
    Example:
      stm-keras export --model-dir run/ --output saved_model/
      saved_model_cli show --dir saved_model/ --all
    """
    if (
        os.path.isdir(output)
        and os.listdir(output)
        and not os.path.isfile(os.path.join(output, "saved_model.pb"))
    ):
        raise click.UsageError(
            f"--output {output} is a non-empty directory that holds no SavedModel; "
            "choose a new or empty directory"
        )
    config = load_model_config(model_dir)

    from stm_keras import export

    try:
        export.export_model_dir(model_dir, output)
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(
        f"SavedModel: {output} (signature {export.SIGNATURE_KEY}: {export.INPUT_KEY} uint8 "
        f"[batch, frames, height, width, 3] -> {export.PROBABILITIES_KEY} "
        f"[batch, {len(config['classes'])}], {export.TOP_CLASS_KEY}; "
        f"{config['frames']} frames sampled, {config['image_size']} px)"
    )
