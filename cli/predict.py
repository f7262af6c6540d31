"""`stm-keras predict`: top-k classes of videos and frame folders."""

from __future__ import annotations

import json

import click

from stm_keras.cli.common import RuntimeProblem, UsageProblem, maps_errors


@click.command("predict")
@maps_errors()
@click.option(
    "--model",
    "model_path",
    required=True,
    help="SavedModel from 'stm-keras export', a preset (directory or hf:// / kaggle:// "
    "handle) or a 'stm-keras fit' model directory.",
)
@click.argument("inputs", nargs=-1, required=True, metavar="VIDEO_OR_FRAME_FOLDER...")
@click.option("--top-k", type=click.IntRange(min=1), default=5, help="Classes to print per input.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per input instead.")
def command(model_path: str, inputs: tuple[str, ...], top_k: int, as_json: bool) -> None:
    """Classify each video file (any container PyAV reads) or folder of frame images.

    T frames are sampled as evaluation samples them (the middle frame of each of T equal
    segments); only those frames are kept. An input that cannot be decoded is reported on
    stderr, the others are still classified, and the exit status is 1.

    \b
    Example:
      stm-keras predict --model saved_model/ clip.mp4 frames/00042/ --top-k 3
    """
    from stm_keras import predict

    try:
        predictor = predict.load_predictor(model_path)
    except (FileNotFoundError, ValueError) as error:
        raise UsageProblem(f"--model: {error}") from error

    top_k = min(top_k, len(predictor.class_names))
    failed = []
    for path in inputs:
        try:
            probabilities = predictor(predictor.read_clip(path))
        except predict.DecodeError as error:
            failed.append(path)
            click.echo(f"Error: {error}", err=True)
            if as_json:
                click.echo(json.dumps({"input": path, "error": str(error)}))
            continue
        # Stable sort: equal probabilities keep class-index order, as argmax does.
        ranked = sorted(range(len(probabilities)), key=lambda i: -probabilities[i])[:top_k]
        predictions = [
            {
                "class": predictor.class_names[i],
                "index": i,
                "probability": float(probabilities[i]),
            }
            for i in ranked
        ]
        if as_json:
            click.echo(json.dumps({"input": path, "predictions": predictions}))
        else:
            click.echo(path)
            for prediction in predictions:
                click.echo(f"  {prediction['probability']:.4f}  {prediction['class']}")
    if failed:
        raise RuntimeProblem(f"{len(failed)} of {len(inputs)} inputs failed: {', '.join(failed)}")
