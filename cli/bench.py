"""`stm-keras bench`: speed and size reports (benchmarks, never tests)."""

import click

from stm_keras.cli.common import num_classes_option, video_frames_option


@click.group("bench")
def command() -> None:
    """Speed and size benchmarks. Ratios are measured side by side in one run."""


_DEPTHS = click.Choice(["18", "34", "50", "101", "152"])


# The paper's figure: STM-ResNet-50, 16 frames of 224x224, 66.5 G multiply-adds per view.
PAPER_GMACS = {("stm", 50, 16, 224): 66.5}


def _frame_counts(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    try:
        counts = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise click.BadParameter(f"expected frame counts like 8,16, got {value!r}")
    return counts


@command.command("flops")
@click.option(
    "--arch",
    type=click.Choice(["stm", "tsn", "both"]),
    default="stm",
    help="STM, its TSN baseline (the same backbone without CSTM and CMM), or both.",
)
@click.option("--depth", type=_DEPTHS, default="50", help="ResNet depth.")
@click.option(
    "--frames", callback=_frame_counts, default="16", help="Frames per clip; a list: 8,16."
)
@click.option("--image-size", type=click.IntRange(min=32), default=224, help="Frame side.")
@click.option("--num-classes", type=click.IntRange(min=1), default=174, help="Classes.")
@click.option("--width-multiplier", type=float, default=1.0, help="Channel width factor.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    help='Also write {"rows": [{arch, depth, frames, image_size, params, gmacs, '
    "paper_gmacs}]} as JSON.",
)
def flops(
    arch: str,
    depth: str,
    frames: list[int],
    image_size: int,
    num_classes: int,
    width_multiplier: float,
    output: str | None,
) -> None:
    """Parameters and FLOPs (multiply-adds, per clip) of a model, counted without running it.

    \b
    Examples (the paper's STM-ResNet-50, 16 frames, Something-Something; then STM and TSN at
    8 and 16 frames as JSON):
      stm-keras bench flops --arch stm --depth 50 --frames 16 --image-size 224 --num-classes 174
      stm-keras bench flops --arch both --frames 8,16 --output flops.json
    """
    import json

    from stm_keras.benchmarks.step_time import TSN_OPTIONS
    from stm_keras.models import STMBackbone, STMVideoClassifier, summarize

    if width_multiplier <= 0:
        raise click.BadParameter(
            f"must be > 0, got {width_multiplier}", param_hint="--width-multiplier"
        )
    rows = []
    reports = []
    for name in ("stm", "tsn") if arch == "both" else (arch,):
        for count in frames:
            backbone = STMBackbone(
                int(depth),
                num_segments=count,
                width_multiplier=width_multiplier,
                **(TSN_OPTIONS if name == "tsn" else {}),
            )
            model = STMVideoClassifier(backbone, num_classes, name=f"{name}_resnet{depth}")
            summary = summarize(model, count, image_size)
            reports.append(summary.format())
            paper = PAPER_GMACS.get((name, int(depth), count, image_size))
            rows.append(
                {
                    "arch": name,
                    "depth": int(depth),
                    "frames": count,
                    "image_size": image_size,
                    "width_multiplier": width_multiplier,
                    "num_classes": num_classes,
                    "params": summary.trainable_params,
                    "gmacs": summary.multiply_adds / 1e9,
                    "paper_gmacs": paper if width_multiplier == 1.0 else None,
                }
            )
    click.echo("\n\n".join(reports))
    if output:
        with open(output, "w", encoding="utf-8") as f:
            json.dump({"rows": rows}, f, indent=2)
        click.echo(f"figures: {output}")


@command.command("step-time")
@click.option("--depth", type=_DEPTHS, default="50", help="ResNet depth.")
@click.option("--frames", type=click.IntRange(min=1), default=8, help="Frames per clip.")
@click.option("--image-size", type=click.IntRange(min=32), default=224, help="Frame side.")
@click.option("--batch-size", type=click.IntRange(min=1), default=1, help="Clips per step.")
@click.option("--steps", type=click.IntRange(min=1), default=10, help="Timed steps per model.")
@click.option("--warmup", type=click.IntRange(min=0), default=2, help="Untimed steps first.")
@click.option("--num-classes", type=click.IntRange(min=1), default=174, help="Classes.")
@click.option("--width-multiplier", type=float, default=1.0, help="Channel width factor.")
@click.option("--mixed-precision", is_flag=True, help="Build both models in mixed_float16.")
@click.option("--jit-compile", is_flag=True, help="XLA-compile the train steps.")
def step_time(**options) -> None:
    """Train-step time of STM-ResNet over TSN-ResNet: same batch, one run, interleaved.

    \b
    Example (full size, on a GPU):
      stm-keras bench step-time --depth 50 --frames 8 --image-size 224 --batch-size 8 \\
          --mixed-precision --jit-compile
    """
    from stm_keras.benchmarks.step_time import measure_step_times

    if options["width_multiplier"] <= 0:
        raise click.BadParameter(
            f"must be > 0, got {options['width_multiplier']}", param_hint="--width-multiplier"
        )
    options["depth"] = int(options["depth"])
    click.echo(measure_step_times(**options).format())


@command.command("preprocess")
@click.option("--layout", default="ucf101", help="Synthetic dataset layout to preprocess.")
@click.option("--videos-per-class", type=click.IntRange(min=1), default=10, help="Clips per class.")
@num_classes_option(help="Classes of the synthetic dataset.", default=4)
@video_frames_option(help="Frames in each synthetic video.", default=32)
@click.option("--height", type=click.IntRange(min=16), default=240, help="Frame height.")
@click.option("--width", type=click.IntRange(min=16), default=320, help="Frame width.")
@click.option("--short-side", type=click.IntRange(min=8), default=256, help="Resize target.")
@click.option("--workers", default="1,2", help="Comma-separated DirectRunner worker counts.")
def preprocess(workers: str, video_frames: int, **options) -> None:
    """Videos/s of the Beam preprocess job against a plain single-process loop, as ratios.

    \b
    Example:
      stm-keras bench preprocess --layout ucf101 --videos-per-class 10 --workers 1,2
    """
    from stm_keras.benchmarks.preprocess import measure_preprocess_speed

    options["num_frames"] = video_frames
    try:
        counts = [int(w) for w in workers.split(",")]
    except ValueError:
        raise click.BadParameter(
            f"expected e.g. 1,2, got {workers!r}", param_hint="--workers"
        ) from None
    click.echo(measure_preprocess_speed(workers=counts, **options).format())


@command.command("input")
@click.option(
    "--config",
    "configs",
    type=click.Choice(["demo", "paper", "both"]),
    default="both",
    help="demo: ResNet18 x0.25, T=8, 64px; paper: ResNet50, T=8, 224px.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="A 'stm-keras preprocess' output to read [default: synthetic shards].",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=8, help="Clips per batch.")
@click.option("--steps", type=click.IntRange(min=1), default=10, help="Timed batches/steps.")
@click.option("--warmup", type=click.IntRange(min=0), default=2, help="Untimed batches first.")
@click.option("--mixed-precision", is_flag=True, help="Train step in mixed precision.")
@click.option("--jit-compile", is_flag=True, help="XLA-compile the train step.")
def input_pipeline(configs: str, **options) -> None:
    """Clips/s the tf.data input pipeline delivers vs clips/s a train step consumes.

    \b
    Example (the paper's config with few steps, on a GPU):
      stm-keras bench input --config paper --steps 20 --mixed-precision
    """
    from stm_keras.benchmarks.input_pipeline import measure_input_pipeline

    names = ("demo", "paper") if configs == "both" else (configs,)
    for result in measure_input_pipeline(names, **options):
        click.echo(result.format())


@command.command("export")
@click.option(
    "--model",
    "model_path",
    required=True,
    help="A preset or 'stm-keras fit' model directory to export and time.",
)
@click.option(
    "--formats",
    default="saved_model,litert,litert_dynamic,onnx",
    show_default=True,
    help="Comma-separated: saved_model, litert, litert_dynamic, litert_int8, onnx.",
)
@click.option(
    "--calibration-data",
    type=click.Path(exists=True, file_okay=False),
    help="A 'stm-keras preprocess' output: int8 calibrates on it, and its validation clips "
    "are the clips timed [default: 16 synthetic clips of 16 frames of 120x160].",
)
@click.option("--clips", type=click.IntRange(min=1), default=16, help="Clips compared.")
@click.option("--repeats", type=click.IntRange(min=1), default=20, help="Timed batch-1 calls.")
@click.option("--output", type=click.Path(dir_okay=False), help="Also write the figures as JSON.")
def export_formats(
    model_path: str,
    formats: str,
    calibration_data: str | None,
    clips: int,
    repeats: int,
    output: str | None,
) -> None:
    """Each export format's size, load time, latency, clips/s and agreement with Keras.

    \b
    Example (the demo's model, int8 calibrated on its data):
      stm-keras bench export --model demo-output/model \\
          --formats saved_model,litert,litert_dynamic,litert_int8,onnx \\
          --calibration-data demo-output/records --output bench-export.json
    """
    import json

    from stm_keras.benchmarks import export as export_bench

    variants = [name.strip() for name in formats.split(",") if name.strip()]
    unknown = [name for name in variants if name not in export_bench.VARIANTS]
    if unknown or not variants:
        raise click.BadParameter(
            f"unknown {unknown}; choose from {', '.join(export_bench.VARIANTS)}",
            param_hint="--formats",
        )
    if "litert_int8" in variants and not calibration_data:
        raise click.UsageError("--formats litert_int8 needs --calibration-data")
    chosen_clips = export_bench.synthetic_clips(clips, 16, 120, 160)
    if calibration_data:
        from stm_keras import predict
        from stm_keras.data import input_pipeline

        preprocessor = predict.load_predictor(model_path).preprocessor
        chosen_clips = [
            frames
            for frames, _ in input_pipeline.sampled_frames(
                calibration_data, "validation", preprocessor, clips
            )
        ]
        if len({clip.shape for clip in chosen_clips}) > 1:
            raise click.UsageError(
                f"--calibration-data {calibration_data}: validation clips differ in shape; "
                "bench export times clips of one shape"
            )
    result = export_bench.measure_export(
        model_path,
        variants,
        clips=chosen_clips,
        repeats=repeats,
        calibration_data=calibration_data,
        log=lambda line: click.echo(f"  {line}", err=True),
    )
    click.echo(result.format())
    if output:
        with open(output, "w", encoding="utf-8") as f:
            json.dump(result.to_json(), f, indent=2)
        click.echo(f"figures: {output}")
