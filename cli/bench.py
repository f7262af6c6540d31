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

    from stm_keras.benchmarks.model import TSN_OPTIONS
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


@command.command("model")
@click.option("--depth", type=_DEPTHS, default="50", help="ResNet depth.")
@click.option("--frames", type=click.IntRange(min=1), default=8, help="Frames per clip.")
@click.option("--image-size", type=click.IntRange(min=32), default=224, help="Frame side.")
@click.option("--batch-size", type=click.IntRange(min=1), default=1, help="Clips per step.")
@click.option("--steps", type=click.IntRange(min=1), default=10, help="Timed steps per model.")
@click.option("--warmup", type=click.IntRange(min=0), default=2, help="Untimed steps first.")
@click.option("--num-classes", type=click.IntRange(min=1), default=174, help="Classes.")
@click.option("--width-multiplier", type=float, default=1.0, help="Channel width factor.")
@click.option(
    "--dtype-policy",
    type=click.Choice(["float32", "mixed_float16", "mixed_bfloat16"]),
    default=None,
    help="Keras dtype policy of both models [default: float32].",
)
@click.option("--mixed-precision", is_flag=True, help="Short for --dtype-policy mixed_float16.")
@click.option("--jit-compile", is_flag=True, help="XLA-compile the steps (use it on JAX).")
@click.option(
    "--cpu-replicas",
    type=click.IntRange(min=0),
    default=0,
    help="MirroredStrategy over this many logical CPUs (TensorFlow; 0: one device).",
)
@click.option(
    "--matmul-size",
    type=click.IntRange(min=64),
    default=None,
    help="Side of the peak matmul [default: 2048 on a CPU, 8192 on a GPU].",
)
@click.option(
    "--peak-tflops",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="The device's dense datasheet peak (e.g. 989 for an H100/H200 in bf16): adds MFU.",
)
@click.option(
    "--trace-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="After the timed steps, trace one train step and one inference call of each model "
    "into DIR/{stm,tsn,...}/{train,infer} (TensorBoard's profile plugin reads them); on a GPU, "
    "also report their accelerator time.",
)
@click.option(
    "--modules",
    is_flag=True,
    help="Also time STM with only CSTM and STM with only CMM (CMM, respectively CSTM, off), "
    "interleaved with the others: their time over TSN's splits STM's overhead by module.",
)
@click.option(
    "--keras-ops",
    is_flag=True,
    help="Also time STM and TSN on Keras's own ops (stm-keras's own paths off: under XLA the "
    "train-mode BN kernel on JAX and max-pooling by slices, on TensorFlow without XLA the 1x1 "
    "convs of train steps as matmuls), interleaved with the others: what those paths save, "
    "step by step.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    help='Also write {"train_clips_per_s", "infer_clips_per_s", "ratio_train", "ratio_infer", '
    '"paired_ratios", "step_ms", "peak_fraction", "matmul_peak_flops", "device", "backend", ...} '
    "as JSON.",
)
def model(dtype_policy: str | None, mixed_precision: bool, output: str | None, **options) -> None:
    """Train step and inference of STM-ResNet against TSN-ResNet, interleaved in one run.

    Prints each model's median step time, clips/s and achieved FLOP/s as a fraction of a
    matmul's FLOP/s timed in the same run, and the ratios STM/TSN (with --modules, also each
    module's own ratio to TSN; with --keras-ops, what stm-keras's own paths save). With 6
    steps or more it also prints the median of the step-by-step ratios with a 95 % confidence
    interval (more --steps narrow it). Alias: `bench step-time`.

    \b
    Examples:
      stm-keras bench model --depth 50 --frames 8 --image-size 112 --batch-size 2
      KERAS_BACKEND=jax stm-keras bench model --batch-size 16 --dtype-policy mixed_bfloat16 \\
          --jit-compile --peak-tflops 989 --output bench-model.json
    """
    import json

    from stm_keras.benchmarks.machine import machine_info
    from stm_keras.benchmarks.model import measure_model

    if options["width_multiplier"] <= 0:
        raise click.BadParameter(
            f"must be > 0, got {options['width_multiplier']}", param_hint="--width-multiplier"
        )
    if mixed_precision and dtype_policy not in (None, "mixed_float16"):
        raise click.UsageError(f"--mixed-precision contradicts --dtype-policy {dtype_policy}")
    options["depth"] = int(options["depth"])
    options["dtype_policy"] = dtype_policy or ("mixed_float16" if mixed_precision else "float32")
    try:
        result = measure_model(**options)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    click.echo(result.format())
    if output:
        with open(output, "w", encoding="utf-8") as f:
            json.dump({**result.to_json(), "machine": machine_info()}, f, indent=2)
        click.echo(f"figures: {output}")


# The command's earlier name.
command.add_command(model, "step-time")


@command.command("preprocess")
@click.option("--layout", default="ucf101", help="Synthetic dataset layout to preprocess.")
@click.option("--videos-per-class", type=click.IntRange(min=1), default=10, help="Clips per class.")
@num_classes_option(help="Classes of the synthetic dataset.", default=4)
@video_frames_option(help="Frames in each synthetic video.", default=32)
@click.option("--height", type=click.IntRange(min=16), default=240, help="Frame height.")
@click.option("--width", type=click.IntRange(min=16), default=320, help="Frame width.")
@click.option("--short-side", type=click.IntRange(min=8), default=256, help="Resize target.")
@click.option("--workers", default="1,2", help="Comma-separated DirectRunner worker counts.")
@click.option(
    "--decode-threads",
    type=click.IntRange(min=0),
    default=1,
    help="FFmpeg threads per video in the loop and in each worker; 0: FFmpeg's choice, as "
    "'stm-keras preprocess' decodes.",
)
@click.option(
    "--repeats",
    type=click.IntRange(min=1),
    default=1,
    help="Runs of each job (interleaved); figures are medians.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    help="Also write the figures, settings and machine as JSON.",
)
def preprocess(workers: str, video_frames: int, output: str | None, **options) -> None:
    """Videos/s of the Beam preprocess job against a plain single-process loop, as ratios:
    total seconds, start-up seconds and steady-state videos/s of each.

    Every job also runs on the first half of each class's videos; the difference between the
    two runs gives the steady rate, the rest of the total is start-up.

    \b
    Example (1,000 small AVIs; the JSON for the record):
      stm-keras bench preprocess --layout ucf101 --num-classes 4 --videos-per-class 250 \\
          --video-frames 16 --height 72 --width 96 --workers 1,2 --output bench-preprocess.json
    """
    import json

    from stm_keras.benchmarks.machine import machine_info
    from stm_keras.benchmarks.preprocess import measure_preprocess_speed

    options["num_frames"] = video_frames
    try:
        counts = [int(w) for w in workers.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise click.BadParameter(f"expected e.g. 1,2, got {workers!r}", param_hint="--workers")
    result = measure_preprocess_speed(
        workers=counts, log=lambda line: click.echo(f"  {line}", err=True), **options
    )
    click.echo(result.format())
    if output:
        figures = {**result.to_json(), "settings": result.settings, "machine": machine_info()}
        with open(output, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=2)
        click.echo(f"figures: {output}")


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
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    help="Also write the figures, settings and machine as JSON.",
)
def input_pipeline(configs: str, output: str | None, **options) -> None:
    """Clips/s the tf.data input pipeline delivers vs clips/s a train step consumes.

    \b
    Example (the paper's config with few steps, on a GPU):
      stm-keras bench input --config paper --steps 20 --mixed-precision --output input.json
    """
    import json

    from stm_keras.benchmarks.input_pipeline import figures, measure_input_pipeline
    from stm_keras.benchmarks.machine import machine_info

    names = ("demo", "paper") if configs == "both" else (configs,)
    results = measure_input_pipeline(names, **options)
    for result in results:
        click.echo(result.format())
    if output:
        report = {**figures(results, **options), "machine": machine_info()}
        with open(output, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
        click.echo(f"figures: {output}")


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


@command.command("temporal")
@click.option(
    "--variants",
    default="stm,tsn,cstm_only,cmm_only,stm_concat,stm_full_temporal",
    show_default=True,
    help="Comma-separated rows: stm, tsn, cstm_only, cmm_only, stm_concat, stm_full_temporal.",
)
@click.option("--epochs", type=click.IntRange(min=1), default=12, help="Epochs per variant.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.08, help="LR.")
@click.option("--train-videos", type=click.IntRange(min=4), default=128, help="Train clips.")
@click.option(
    "--validation-videos", type=click.IntRange(min=4), default=64, help="Validation clips."
)
@click.option("--seed", type=int, default=0, help="Seed of data, weights and shuffling.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    help='Also write {"top1": {...}, "val_loss", "epochs", "seconds", "checks", "settings", '
    '"machine"} as JSON.',
)
def temporal(
    variants: str,
    epochs: int,
    lr: float,
    train_videos: int,
    validation_videos: int,
    seed: int,
    output: str | None,
) -> None:
    """STM against TSN and the paper's ablations on classes only temporal order separates.

    Trains the cpu-demo network (ResNet-18 x0.25, 8 frames of 64px) once per variant on the
    same synthetic Swiping Left/Right/Up/Down clips (Left is Right played backwards) with the
    same seed, and reports each one's validation top-1. Deterministic: two runs print the
    same figures. About three minutes on two cores.

    \b
    Example:
      stm-keras bench temporal --output bench-temporal.json
    """
    import json

    from stm_keras.benchmarks import temporal as temporal_bench
    from stm_keras.benchmarks.machine import machine_info

    names = [name.strip() for name in variants.split(",") if name.strip()]
    unknown = [name for name in names if name not in temporal_bench.VARIANTS]
    if unknown or not names:
        raise click.BadParameter(
            f"unknown {unknown or variants!r}; choose from {', '.join(temporal_bench.VARIANTS)}",
            param_hint="--variants",
        )
    result = temporal_bench.measure_temporal(
        names,
        epochs=epochs,
        lr=lr,
        lr_steps=(max(1, epochs * 3 // 4),) if epochs > 1 else (),
        train_videos=train_videos,
        validation_videos=validation_videos,
        seed=seed,
        log=lambda line: click.echo(line, err=True),
    )
    click.echo(result.format())
    if output:
        with open(output, "w", encoding="utf-8") as f:
            json.dump({**result.to_json(), "machine": machine_info()}, f, indent=2)
        click.echo(f"figures: {output}")


if __name__ == "__main__":
    # `python -m stm_keras.cli.bench model ...`: the benchmarks without the rest of the CLI,
    # for hosts with Keras on JAX and no TensorFlow (the stm-keras command imports TF).
    command()
