"""`stm-keras predict`: top-k classes of videos and frame folders, or of a live stream."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from stm_keras.cli.common import RuntimeProblem, UsageProblem, maps_errors

F = TypeVar("F", bound=Callable[..., Any])


# === Live recognition (--stream) options: applied to the command below, run by _run_stream.


class _FrameSize(click.ParamType):
    """``WIDTHxHEIGHT`` in pixels, e.g. ``640x480``, to ``(width, height)``."""

    name = "WIDTHxHEIGHT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(value))
        if not match or min(int(match[1]), int(match[2])) < 1:
            self.fail(f"expected WIDTHxHEIGHT in pixels, e.g. 640x480, got '{value}'", param, ctx)
        return int(match[1]), int(match[2])


# Option name -> parameter name of the options that only --stream uses.
_STREAM_ONLY_OPTIONS = {
    "--window": "window",
    "--stride": "stride",
    "--smooth": "smooth",
    "--threshold": "threshold",
    "--realtime": "realtime",
    "--fps": "fps",
    "--frame-size": "frame_size",
    "--input-format": "input_format",
    "--input-option": "input_options",
}


def _stream_options(function: F) -> F:
    """The ``--stream`` option and the options of live recognition."""
    options = [
        click.option(
            "--stream",
            "stream_sources",
            multiple=True,
            metavar="SOURCE",
            help="Live recognition of SOURCE instead of classifying files: a video file, a "
            "device or URL that PyAV opens (/dev/video0 with --input-format v4l2, "
            "rtsp://...), or '-' for raw rgb24 frames on stdin (with --frame-size and --fps). "
            "Prints one JSON line per window and a summary on stderr.",
        ),
        click.option(
            "--window",
            type=click.FloatRange(min=0, min_open=True),
            default=2.0,
            metavar="SECONDS",
            help="[--stream] Seconds of video per window, sampled to the model's T frames as "
            "evaluation samples (middle frame of each segment); about one action's length.",
        ),
        click.option(
            "--stride",
            type=click.IntRange(min=1),
            default=8,
            metavar="K",
            help="[--stream] Classify the newest window every K frames.",
        ),
        click.option(
            "--smooth",
            type=click.IntRange(min=1),
            default=1,
            metavar="N",
            help="[--stream] Print the moving average of the last N windows' probabilities "
            "(1: no smoothing).",
        ),
        click.option(
            "--threshold",
            type=click.FloatRange(0, 1),
            default=None,
            metavar="P",
            help="[--stream] Print a window only when its top class differs from the last "
            "printed one and has probability >= P (default: print every window).",
        ),
        click.option(
            "--realtime",
            is_flag=True,
            help="[--stream] Read a video file at its frame rate, as a camera delivers frames: "
            "windows the model is too slow for are skipped and counted. Without it every "
            "window of a file is classified. Live sources always run at their own pace.",
        ),
        click.option(
            "--fps",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="[--stream] Frame rate: required with '-'; overrides the rate a file or "
            "stream states; requested from a device (with --input-format).",
        ),
        click.option(
            "--frame-size",
            type=_FrameSize(),
            default=None,
            metavar="WIDTHxHEIGHT",
            help="[--stream] Frame size: required with '-'; requested from a device (with "
            "--input-format).",
        ),
        click.option(
            "--input-format",
            default=None,
            metavar="FORMAT",
            help="[--stream] FFmpeg input format of a device: v4l2 (Linux), avfoundation "
            "(macOS), dshow (Windows).",
        ),
        click.option(
            "--input-option",
            "input_options",
            multiple=True,
            metavar="KEY=VALUE",
            help="[--stream] An FFmpeg input option, e.g. rtsp_transport=tcp; repeatable.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.command("predict")
@maps_errors()
@click.option(
    "--model",
    "model_path",
    required=True,
    help="An export of 'stm-keras export' (SavedModel directory, .tflite or .onnx file), a "
    "preset (directory or hf:// / kaggle:// handle) or a 'stm-keras fit' model directory.",
)
@click.argument("inputs", nargs=-1, metavar="(VIDEO_OR_FRAME_FOLDER...|--stream SOURCE)")
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=5,
    help="Classes to print per input (per window with --stream).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object per input instead (--stream always prints JSON lines).",
)
@click.option(
    "--features",
    "features_path",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE.npy",
    help="Also write the inputs' clip features (the pooled vector the head reads) as float32 "
    "[inputs, D] in input order; a failed input's row is NaN and FILE.json beside it names "
    "the inputs and the failures.",
)
@_stream_options
@click.pass_context
def command(
    ctx: click.Context,
    model_path: str,
    inputs: tuple[str, ...],
    top_k: int,
    as_json: bool,
    features_path: str | None,
    stream_sources: tuple[str, ...],
    **stream_options: Any,
) -> None:
    """Classify each video file (any container PyAV reads) or folder of frame images, or,
    with --stream, a live video stream window by window.

    T frames are sampled as evaluation samples them (the middle frame of each of T equal
    segments); only those frames are kept. An input that cannot be decoded is reported on
    stderr, the others are still classified, and the exit status is 1.

    With --stream SOURCE, the newest --window seconds are classified every --stride frames
    while the source is decoded, and one JSON line per window is printed (times, top-k, all
    probabilities, latencies). Frames that the model is too slow for are dropped, never
    queued: a summary on stderr counts them. Exit status 1 when the source fails mid-stream
    (after the windows it had); Ctrl-C ends a live stream with its summary (exit status 130).

    \b
    Examples:
      stm-keras predict --model saved_model/ clip.mp4 frames/00042/ --top-k 3
      stm-keras predict --model saved_model/ --stream /dev/video0 --input-format v4l2 \\
          --window 1 --stride 8 --smooth 3 --threshold 0.6
      ffmpeg -re -i clip.mp4 -f rawvideo -pix_fmt rgb24 -s 320x240 - | \\
          stm-keras predict --model saved_model/ --stream - --frame-size 320x240 --fps 30
    """
    if stream_sources:
        if features_path:
            raise UsageProblem("--features: only with VIDEO_OR_FRAME_FOLDER... inputs")
        _run_stream(model_path, inputs, top_k, stream_sources, **stream_options)
        return
    for option, name in _STREAM_ONLY_OPTIONS.items():
        if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT:
            raise UsageProblem(f"{option}: only with --stream SOURCE")
    if not inputs:
        raise UsageProblem("give VIDEO_OR_FRAME_FOLDER... to classify, or --stream SOURCE")

    from stm_keras import predict

    if features_path and not features_path.endswith(".npy"):
        raise UsageProblem(f"--features {features_path}: the file name must end in .npy")
    predictor = _load_predictor(model_path)
    top_k = min(top_k, len(predictor.class_names))
    failed: dict[str, str] = {}
    features: list[Any] = []
    for path in inputs:
        try:
            outputs = predictor.run(predictor.read_clip(path))
        except predict.DecodeError as error:
            failed[path] = str(error)
            features.append(None)
            click.echo(f"Error: {error}", err=True)
            if as_json:
                click.echo(json.dumps({"input": path, "error": str(error)}))
            continue
        probabilities = outputs["probabilities"]
        features.append(outputs.get("features"))
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
    if features_path:
        _write_features(features_path, inputs, features, failed, model_path)
    if failed:
        raise RuntimeProblem(f"{len(failed)} of {len(inputs)} inputs failed: {', '.join(failed)}")


def _write_features(
    path: str,
    inputs: tuple[str, ...],
    features: list[Any],
    failed: dict[str, str],
    model_path: str,
) -> None:
    """Writes FILE.npy (float32 [inputs, D], NaN rows for failures) and FILE.json."""
    import numpy as np

    done = [vector for vector in features if vector is not None]
    if len(done) < len(inputs) - len(failed):
        raise RuntimeProblem(
            f"--model {model_path} gives no clip features (an export of stm-keras 0.2 or "
            "earlier): export the model again"
        )
    dimension = len(done[0]) if done else 0
    rows = np.full((len(inputs), dimension), np.nan, np.float32)
    for index, vector in enumerate(features):
        if vector is not None:
            rows[index] = vector
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.save(path, rows)
    manifest = path[: -len(".npy")] + ".json"
    with open(manifest, "w", encoding="utf-8") as f:
        json.dump(
            {
                "model": model_path,
                "inputs": list(inputs),
                "feature_dim": dimension,
                "failed": failed,
            },
            f,
            indent=2,
        )
    click.echo(
        f"features: {path} [{len(inputs)}, {dimension}] float32 in input order"
        + (f"; {len(failed)} failed input row(s) are NaN, named in {manifest}" if failed else "")
        + ("" if failed else f"; inputs listed in {manifest}"),
        err=True,
    )


def _load_predictor(model_path: str) -> Any:
    from stm_keras import predict

    try:
        return predict.load_predictor(model_path)
    except (FileNotFoundError, ValueError) as error:
        raise UsageProblem(f"--model: {error}") from error


# === Live recognition (--stream) ===========================================================

_STREAM_EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


def _check_stream_options(
    inputs: tuple[str, ...],
    sources: tuple[str, ...],
    realtime: bool,
    fps: float | None,
    frame_size: tuple[int, int] | None,
    input_format: str | None,
    input_options: tuple[str, ...],
) -> dict[str, str]:
    """Usage errors of --stream before anything loads; returns the FFmpeg input options."""
    from stm_keras import stream

    if len(sources) > 1:
        raise UsageProblem(f"--stream: takes one SOURCE, got {len(sources)}: {' '.join(sources)}")
    source = sources[0]
    if inputs:
        raise UsageProblem(
            f"--stream: takes one SOURCE and no VIDEO_OR_FRAME_FOLDER arguments, got "
            f"{' '.join(inputs)}"
        )
    if source == stream.STDIN:
        for option, value in (("--frame-size", frame_size), ("--fps", fps)):
            if value is None:
                raise UsageProblem(
                    f"{option}: required with '--stream -' (raw rgb24 frames on stdin), e.g. "
                    "--frame-size 640x480 --fps 30"
                )
        for option, value in (("--input-format", input_format), ("--input-option", input_options)):
            if value:
                raise UsageProblem(f"{option}: not with '--stream -', which reads raw rgb24 frames")
    elif frame_size is not None and input_format is None:
        raise UsageProblem(
            "--frame-size: only for raw frames on stdin ('--stream -') or a device "
            "(--input-format); a file or URL states its own frame size"
        )
    options = {}
    for option in input_options:
        key, equals, value = option.partition("=")
        if not equals or not key:
            raise UsageProblem(f"--input-option: expected KEY=VALUE, got '{option}'")
        options[key] = value
    # A path (a file, or a device such as /dev/video0) must exist; URLs and device names
    # (avfoundation's "0", dshow's "video=Camera") are for FFmpeg to find.
    is_path = "://" not in source and (input_format is None or os.sep in source)
    if source != stream.STDIN and is_path and not os.path.exists(source):
        raise UsageProblem(f"--stream: {source}: no such file or directory")
    if realtime and not stream.is_file_source(source):
        name = "stdin ('-')" if source == stream.STDIN else source
        raise UsageProblem(
            f"--realtime: paces video files only; {name} is a live source (a device, URL or "
            "stdin), read at its own pace"
        )
    return options


def _run_stream(
    model_path: str,
    inputs: tuple[str, ...],
    top_k: int,
    sources: tuple[str, ...],
    window: float,
    stride: int,
    smooth: int,
    threshold: float | None,
    realtime: bool,
    fps: float | None,
    frame_size: tuple[int, int] | None,
    input_format: str | None,
    input_options: tuple[str, ...],
) -> None:
    """``predict --stream``: opens the source, classifies it window by window, prints JSON lines
    on stdout and the summary on stderr."""
    import sys

    from stm_keras import stream

    options = _check_stream_options(
        inputs, sources, realtime, fps, frame_size, input_format, input_options
    )

    def open_source() -> tuple[stream.FrameSource, int]:
        try:
            source = stream.open_source(
                sources[0],
                fps=fps,
                frame_size=frame_size,
                input_format=input_format,
                options=options,
                stdin=sys.stdin.buffer if sources[0] == stream.STDIN else None,
            )
        except stream.StreamError as error:
            raise RuntimeProblem(str(error)) from error
        try:
            if source.fps is None:
                raise UsageProblem(
                    f"--fps: {source.name} does not state its frame rate; give --fps"
                )
            try:
                return source, stream.window_frame_count(window, source.fps)
            except ValueError as error:
                raise UsageProblem(f"--window: {error}") from error
        except BaseException:
            source.close()
            raise

    # A file or stdin is checked before the model loads; a device or URL is opened after, so
    # that it does not buffer frames meanwhile.
    opened = open_source() if not stream.is_device_or_url(sources[0]) else None
    try:
        predictor = _load_predictor(model_path)
        source, window_frames = opened or open_source()
    except BaseException:
        if opened is not None:
            opened[0].close()
        raise
    class_names = list(predictor.class_names)
    top_k = min(top_k, len(class_names))
    try:
        offsets = stream.sampled_offsets(predictor.preprocessor, window_frames)
        warm_up_ms = stream.warm_up(predictor, len(offsets), source.size)
    except BaseException:
        source.close()
        raise
    if source.live:
        mode = "live: windows the model is too slow for are skipped"
    elif realtime:
        mode = "paced at its frame rate: windows the model is too slow for are skipped"
    else:
        mode = "every window classified"
    repeats = " (fewer frames than that: frames repeat)" if window_frames < len(offsets) else ""
    click.echo(
        f"Streaming {source.name}: {source.fps:g} fps; windows of {window:g} s = "
        f"{window_frames} frames sampled to {len(offsets)}{repeats}, every {stride} frames "
        f"({stride / source.fps:.3g} s); {mode}; model warmed up in {warm_up_ms:.0f} ms",
        err=True,
    )

    def print_window(result: stream.WindowResult) -> None:
        click.echo(json.dumps(stream.window_record(result, class_names, top_k)))

    try:
        summary = stream.run_stream(
            source,
            predictor,
            offsets,
            window_frames=window_frames,
            stride=stride,
            pace=realtime,
            smooth=smooth,
            threshold=threshold,
            on_window=print_window,
        )
    except stream.StreamError as error:
        if error.summary is not None:
            click.echo(f"Summary: {error.summary.describe()}", err=True)
        raise RuntimeProblem(str(error)) from error
    click.echo(f"Summary: {summary.describe()}", err=True)
    if summary.interrupted:
        raise click.exceptions.Exit(_STREAM_EXIT_INTERRUPTED)
