"""`stm-keras preprocess`: the Beam job from a dataset's native layout (or your own videos in
the ``folders`` or ``csv`` layout) to TFRecord shards."""

from __future__ import annotations

import logging
import os

import click
from click.core import ParameterSource

from stm_keras.cli.common import (
    RuntimeProblem,
    UsageProblem,
    data_dir_option,
    maps_errors,
    output_dir_option,
)
from stm_keras.pipelines import datasets
from stm_keras.pipelines.items import LayoutError

# The options of the layouts for your own videos, by parameter name.
OWN_VIDEO_FLAGS = {
    "manifest": "--manifest",
    "classes_file": "--classes",
    "val_fraction": "--val-fraction",
    "split_seed": "--split-seed",
    "min_per_class": "--min-per-class",
    "direction_sensitive": "--direction-sensitive",
}


@click.command(
    "preprocess", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
@maps_errors(usage=(LayoutError,))
@click.option(
    "--dataset",
    required=True,
    help=f"One of: {', '.join(datasets.names())}. The last two are your own videos: one folder "
    "per class, or a CSV/TSV manifest.",
)
@data_dir_option(
    help="The dataset as its publisher ships it; for folders, the class folders' parent; for "
    "csv, the folder that manifest paths are relative to."
)
@output_dir_option(help="Where shards and dataset_info.json go (a local path or gs://...).")
@click.option(
    "--splits",
    default=None,
    help="Comma-separated splits to write (train,validation,test). [default: all the dataset has]",
)
@click.option(
    "--split-id",
    default=1,
    type=click.IntRange(1, 3),
    help="Official split of UCF-101 / HMDB-51.",
)
@click.option(
    "--short-side",
    default=256,
    type=click.IntRange(min=8),
    help="Frames with a larger short side are resized to it (never upscaled).",
)
@click.option(
    "--max-frames",
    default=None,
    type=click.IntRange(min=1),
    help="Evenly subsample longer videos to this many frames. [default: keep all]",
)
@click.option("--jpeg-quality", default=90, type=click.IntRange(1, 95), help="Re-encoded JPEGs.")
@click.option(
    "--decode-threads",
    default=0,
    type=click.IntRange(min=0),
    help="FFmpeg threads per video being decoded; 0: FFmpeg's choice. With several Beam "
    "workers on few cores, 1 avoids oversubscribing them. [default: 0]",
)
@click.option(
    "--num-shards",
    default=None,
    type=click.IntRange(min=1),
    help="Shards per split. [default: ~128 MiB each, at least 8 from 8 videos]",
)
@click.option(
    "--max-failure-fraction",
    default=0.01,
    type=click.FloatRange(0.0, 1.0),
    help="Exit 1 if a split has more failed inputs than this fraction.",
)
@click.option("--overwrite", is_flag=True, help="Replace an earlier run's outputs in --output-dir.")
@click.option(
    "--manifest",
    default=None,
    metavar="FILE",
    help="csv: the manifest, one video or segment per row: path,label[,split][,start,end] "
    "(CSV, or TSV; a header row is optional). Local or gs://...",
)
@click.option(
    "--classes",
    "classes_file",
    default=None,
    metavar="FILE",
    help="folders/csv: a file naming the classes, one per line, in index order (csv labels may "
    "then be 0-based line numbers). [default: the sorted names in the data]",
)
@click.option(
    "--val-fraction",
    default=0.1,
    type=click.FloatRange(0.0, 1.0, max_open=True),
    help="folders/csv without split folders or a split column: fraction of each class that "
    "goes to validation.",
)
@click.option(
    "--split-seed",
    default=0,
    type=int,
    help="folders/csv: seed of that split; the same seed chooses the same videos.",
)
@click.option(
    "--min-per-class",
    default=5,
    type=click.IntRange(min=0),
    help="folders/csv: report classes with fewer videos written.",
)
@click.option(
    "--direction-sensitive",
    type=click.Choice(["yes", "no"]),
    default=None,
    help="folders/csv: whether a horizontal flip can change a label (left/right classes, as in "
    "Jester); recorded in dataset_info.json for fit. [default: no, with a note]",
)
@click.pass_context
def command(
    ctx: click.Context,
    dataset: str,
    data_dir: str,
    output_dir: str,
    splits: str | None,
    split_id: int,
    short_side: int,
    max_frames: int | None,
    jpeg_quality: int,
    decode_threads: int,
    num_shards: int | None,
    max_failure_fraction: float,
    overwrite: bool,
    manifest: str | None,
    classes_file: str | None,
    val_fraction: float,
    split_seed: int,
    min_per_class: int,
    direction_sensitive: str | None,
) -> None:
    """Convert a video dataset to sharded TFRecords of JPEG frames.

    A published dataset is read in its native layout; your own videos in one of two layouts:
    folders (DATA_DIR/<class>/<video file or frame folder>, optionally under train/ val/ test/
    folders) or csv (a manifest, --manifest). Without split folders or a split column, a
    stratified, seeded split sends --val-fraction of each class to validation.

    Runs an Apache Beam job: by default on the local DirectRunner with one process per core.
    Any other argument is passed to Beam, e.g. --runner=DataflowRunner --project=... (see
    docs/preprocessing.md). Inputs that cannot be read are listed in
    OUTPUT_DIR/failures-<split>.jsonl and the job goes on.

    \b
    Example:
      stm-keras preprocess --dataset jester --data-dir /data/jester --output-dir records/
      stm-keras preprocess --dataset ucf101 --data-dir /data/ucf101 --output-dir ucf1/ \\
          --split-id 1 --direct_num_workers=8
      stm-keras preprocess --dataset folders --data-dir my_videos/ --output-dir records/ \\
          --val-fraction 0.2 --direction-sensitive no
      stm-keras preprocess --dataset csv --manifest clips.csv --data-dir /videos \\
          --classes classes.txt --output-dir records/ --direction-sensitive yes
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Beam warns at import about Google Cloud client libraries that local runs do not use.
    logging.getLogger().addFilter(lambda record: "apitools not found" not in record.getMessage())
    from stm_keras.pipelines import preprocess
    from stm_keras.pipelines.datasets.own_videos import OwnVideoOptions
    from stm_keras.pipelines.readers import FrameOptions

    unknown_flags = [arg for arg in ctx.args if not arg.startswith("--")]
    if unknown_flags:
        raise UsageProblem(
            f"unexpected argument {unknown_flags[0]!r}; Beam options take the form --name=value"
        )
    own_videos = None
    given = [
        flag
        for name, flag in OWN_VIDEO_FLAGS.items()
        if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)
    ]
    if dataset in datasets.OWN_VIDEO_LAYOUTS:
        own_videos = OwnVideoOptions(
            manifest=manifest,
            classes_file=classes_file,
            val_fraction=val_fraction,
            split_seed=split_seed,
            min_per_class=min_per_class,
            direction_sensitive=None
            if direction_sensitive is None
            else direction_sensitive == "yes",
        )
    elif given and dataset in datasets.names():
        raise UsageProblem(
            f"{given[0]} applies to --dataset {' or '.join(datasets.OWN_VIDEO_LAYOUTS)} only, "
            f"not to '{dataset}'"
        )
    config = preprocess.PreprocessConfig(
        dataset=dataset,
        data_dir=data_dir,
        output_dir=output_dir,
        splits=tuple(s.strip() for s in splits.split(",") if s.strip()) if splits else None,
        split_id=split_id,
        frames=FrameOptions(short_side, max_frames, jpeg_quality, decode_threads),
        num_shards=num_shards,
        max_failure_fraction=max_failure_fraction,
        overwrite=overwrite,
        own_videos=own_videos,
    )
    result = preprocess.run(config, ctx.args, log=lambda line: click.echo(line, err=True))
    too_many_failures = []
    for split in result.failed_splits:
        stats = result.info["splits"][split]
        too_many_failures.append(
            f"split '{split}': {stats['num_failed']} of {stats['num_read']} inputs failed, "
            f"more than --max-failure-fraction {max_failure_fraction:g}; see "
            f"{os.path.join(output_dir, f'failures-{split}.jsonl')}"
        )
    if too_many_failures:
        # Everything else is written by now; the exit status tells scripts to look.
        raise RuntimeProblem("\n".join(too_many_failures))
    click.echo(f"preprocess: wrote {os.path.join(output_dir, 'dataset_info.json')}")
