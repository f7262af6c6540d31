"""`stm-keras preprocess`: the Beam job from a dataset's native layout to TFRecord shards."""

from __future__ import annotations

import logging
import os

import click

from stm_keras.cli.common import (
    RuntimeProblem,
    UsageProblem,
    data_dir_option,
    maps_errors,
    output_dir_option,
)
from stm_keras.pipelines.items import LayoutError

DATASET_NAMES = ("jester", "something-v1", "something-v2", "kinetics400", "ucf101", "hmdb51")


@click.command(
    "preprocess", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
@maps_errors(usage=(LayoutError,))
@click.option("--dataset", required=True, help=f"One of: {', '.join(DATASET_NAMES)}.")
@data_dir_option(help="The dataset as its publisher ships it.")
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
    num_shards: int | None,
    max_failure_fraction: float,
    overwrite: bool,
) -> None:
    """Convert a video dataset in its native layout to sharded TFRecords of JPEG frames.

    Runs an Apache Beam job: by default on the local DirectRunner with one process per core.
    Any other argument is passed to Beam, e.g. --runner=DataflowRunner --project=... (see
    docs/preprocessing.md). Inputs that cannot be read are listed in
    OUTPUT_DIR/failures-<split>.jsonl and the job goes on.

    \b
    Example:
      stm-keras preprocess --dataset jester --data-dir /data/jester --output-dir records/
      stm-keras preprocess --dataset ucf101 --data-dir /data/ucf101 --output-dir ucf1/ \\
          --split-id 1 --direct_num_workers=8
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Beam warns at import about Google Cloud client libraries that local runs do not use.
    logging.getLogger().addFilter(lambda record: "apitools not found" not in record.getMessage())
    from stm_keras.pipelines import preprocess
    from stm_keras.pipelines.readers import FrameOptions

    unknown_flags = [arg for arg in ctx.args if not arg.startswith("--")]
    if unknown_flags:
        raise UsageProblem(
            f"unexpected argument {unknown_flags[0]!r}; Beam options take the form --name=value"
        )
    config = preprocess.PreprocessConfig(
        dataset=dataset,
        data_dir=data_dir,
        output_dir=output_dir,
        splits=tuple(s.strip() for s in splits.split(",") if s.strip()) if splits else None,
        split_id=split_id,
        frames=FrameOptions(short_side, max_frames, jpeg_quality),
        num_shards=num_shards,
        max_failure_fraction=max_failure_fraction,
        overwrite=overwrite,
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
