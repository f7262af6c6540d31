"""`stm-keras export`: a SavedModel, LiteRT (.tflite) or ONNX model that takes raw uint8 videos."""

from __future__ import annotations

import os

import click

from stm_keras.cli.common import UsageProblem, maps_errors
from stm_keras.cli.model_options import model_option

# What an earlier export of each format leaves in its directory (it may be replaced).
_EXPORT_FILES = {
    "litert": {"model.tflite", "labels.txt", "preprocessing.json", "quantization.json"},
    "onnx": {"model.onnx", "labels.txt", "preprocessing.json"},
}


def _parse_fixed_input(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[int, int, int] | None:
    if value is None:
        return None
    parts = value.replace("x", ",").split(",")
    try:
        numbers = tuple(int(part) for part in parts)
    except ValueError:
        numbers = ()
    if len(numbers) != 3 or min(numbers) < 1:
        raise click.BadParameter(
            f"'{value}' is not FRAMES,HEIGHT,WIDTH (three positive integers, e.g. 16,240,320)"
        )
    return numbers  # type: ignore[return-value]


def _check_output_dir(output_dir: str, format: str) -> None:
    if not os.path.isdir(output_dir) or not os.listdir(output_dir):
        return
    names = set(os.listdir(output_dir))
    if format == "saved_model":
        if "saved_model.pb" in names:
            return
        what = "holds no SavedModel"
    else:
        if names <= _EXPORT_FILES[format]:
            return
        what = f"holds other files than a {format} export"
    raise click.UsageError(
        f"--output-dir {output_dir} is a non-empty directory that {what}; "
        "choose a new or empty directory"
    )


@click.command("export")
@maps_errors(runtime=(ValueError,))
@model_option
@click.option(
    "--output-dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory to write: the SavedModel itself, or model.tflite / model.onnx with "
    "labels.txt and preprocessing.json (created; an earlier export there is replaced).",
)
@click.option(
    "--format",
    "format",
    type=click.Choice(["saved_model", "litert", "onnx"]),
    default="saved_model",
    show_default=True,
    help="saved_model: TensorFlow; litert: a .tflite file with builtin ops only (LiteRT "
    "interpreter, Android); onnx: a .onnx file (onnxruntime; needs the [onnx] extra).",
)
@click.option(
    "--fixed-input",
    callback=_parse_fixed_input,
    metavar="FRAMES,HEIGHT,WIDTH",
    help="A fixed-shape input of batch 1 (accelerators without dynamic shapes); "
    "saved_model and litert. Default: any batch, frame count and size.",
)
@click.option(
    "--quantize",
    type=click.Choice(["none", "dynamic", "int8"]),
    default="none",
    show_default=True,
    help="litert only. dynamic: int8 weights; int8: int8 weights and activations, "
    "calibrated on --calibration-data.",
)
@click.option(
    "--calibration-data",
    type=click.Path(exists=True, file_okay=False),
    help="A 'stm-keras preprocess' output: int8 calibrates on its train split; with any "
    "--quantize, top-1 of the float and quantized models on its validation split is reported.",
)
@click.option(
    "--calibration-clips",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Clips of the train split used to calibrate int8.",
)
def command(
    model_path: str,
    output_dir: str,
    format: str,
    fixed_input: tuple[int, int, int] | None,
    quantize: str,
    calibration_data: str | None,
    calibration_clips: int,
) -> None:
    """Export a trained model that classifies raw videos, with its preprocessing in the graph.

    Input `video`: uint8 [batch, frames, height, width, 3] RGB, any frame count and size (or
    --fixed-input); frame sampling, resizing, centre crop and normalization happen in the
    graph as in 'evaluate --protocol 1x1'. Outputs `probabilities` (float32 [batch, classes])
    and `features` (float32 [batch, D], the pooled clip feature: 2048 for ResNet-50); the
    SavedModel also gives `top_class`. Class names go to labels.txt (assets/ of a SavedModel,
    beside a .tflite / .onnx file) with preprocessing.json. 'stm-keras predict --model'
    takes every format.

    \b
    Examples:
      stm-keras export --model run/ --output-dir saved_model/
      stm-keras export --model run/ --format litert --output-dir litert/
      stm-keras export --model run/ --format litert --quantize int8 \\
          --calibration-data records/ --output-dir litert-int8/
      stm-keras export --model run/ --format onnx --output-dir onnx/
    """
    if format != "litert" and quantize != "none":
        raise click.UsageError(f"--quantize {quantize} applies to --format litert only")
    if format == "onnx" and fixed_input is not None:
        raise click.UsageError("--fixed-input applies to --format saved_model and litert")
    if quantize == "int8" and calibration_data is None:
        raise click.UsageError(
            "--quantize int8 needs --calibration-data (a 'stm-keras preprocess' output)"
        )
    if calibration_data is not None and quantize == "none":
        raise click.UsageError("--calibration-data applies to --quantize dynamic or int8")
    _check_output_dir(output_dir, format)

    from stm_keras import export

    try:
        path = export.export_model(
            model_path,
            output_dir,
            format=format,
            fixed_input=fixed_input,
            quantize=quantize,
            calibration_data=calibration_data,
            calibration_clips=calibration_clips,
            log=lambda line: click.echo(f"  {line}", err=True),
        )
    except FileNotFoundError as error:
        raise UsageProblem(f"--model: {error}") from error
    preprocessing = export.read_preprocessing(path)
    shape = preprocessing["fixed_input"] or ["frames", "height", "width"]
    outputs = (
        f"{export.PROBABILITIES_KEY} [batch, {preprocessing['num_classes']}], "
        f"{export.FEATURES_KEY} [batch, {preprocessing['feature_dim']}]"
    )
    batch = 1 if preprocessing["fixed_input"] else "batch"
    summary = (
        f"{export.INPUT_KEY} uint8 [{batch}, {', '.join(map(str, shape))}, 3] -> {outputs}; "
        f"{preprocessing['frames']} frames sampled, {preprocessing['image_size']} px"
    )
    if format == "saved_model":
        click.echo(f"SavedModel: {path} (signature {export.SIGNATURE_KEY}: {summary})")
        return
    size_mb = os.path.getsize(path) / 2**20
    click.echo(f"{format}: {path} ({size_mb:.2f} MiB; {summary})")
    if quantize != "none":
        from stm_keras import litert_export

        report = litert_export.read_quantization_report(path) or {}
        line = (
            f"quantized ({quantize}): {report['float_bytes'] / 2**20:.2f} MiB float32 -> "
            f"{report['quantized_bytes'] / 2**20:.2f} MiB ({report['size_ratio']:.2f}x smaller)"
        )
        if "quantized_top1" in report:
            line += (
                f"; top-1 on {report['validation_clips']} validation clips: "
                f"{report['float_top1']:.3f} float32 -> {report['quantized_top1']:.3f} "
                f"({report['top1_change']:+.3f})"
            )
        click.echo(line)
