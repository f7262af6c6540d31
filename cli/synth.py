"""`stm-keras synth`: a small synthetic dataset in a real dataset's native layout, or in one of
the layouts for your own videos (``folders``, ``csv``)."""

from __future__ import annotations

import os

import click

from stm_keras.cli.common import (
    UsageProblem,
    maps_errors,
    num_classes_option,
    output_dir_option,
    video_frames_option,
)
from stm_keras.pipelines import datasets


@click.command("synth")
@maps_errors()
@click.option(
    "--layout",
    required=True,
    type=click.Choice(datasets.names()),
    help="Native layout (and real class names) of this dataset; folders or csv for the layouts "
    "of your own videos.",
)
@output_dir_option(help="Where to write; created if missing.")
@click.option("--videos-per-class", default=10, type=click.IntRange(min=1), help="Clips per class.")
@num_classes_option(help="Use the first K classes (temporal pairs stay together). [default: all]")
@video_frames_option(help="Frames in each synthetic video.")
@click.option("--seed", default=0, type=int, help="The same seed writes the same dataset.")
@click.option(
    "--height",
    default=None,
    type=click.IntRange(min=16),
    help="Frame height. [default: the layout's, 100 for frame folders, 48 for videos]",
)
@click.option("--width", default=None, type=click.IntRange(min=16), help="Frame width.")
def command(
    layout: str,
    output_dir: str,
    videos_per_class: int,
    num_classes: int | None,
    video_frames: int,
    seed: int,
    height: int | None,
    width: int | None,
) -> None:
    """Write a synthetic dataset in the native layout of a real one, or in a layout for your
    own videos.

    Each class is a textured shape moving in a class-specific way over a noisy background, with
    random position, size, colour and speed per clip. Classes that the real dataset separates
    only by temporal order ("Swiping Left" / "Swiping Right") are exact time reversals of each
    other. Clips of the published layouts are split about 80/10/10 into
    train/validation/test.

    folders writes <class>/clip_000.mp4 and <class>/clip_001/00001.jpg ... (videos and frame
    folders mixed, no split folders); csv writes long videos of four clips each and
    manifest.csv listing every clip as a labelled segment (path,label,start,end). Their
    classes (moving_left, moving_right, shrinking, growing, ...) start with a left/right pair.

    \b
    Example:
      stm-keras synth --layout jester --output-dir raw/ --num-classes 4 --videos-per-class 50
      stm-keras preprocess --dataset jester --data-dir raw/ --output-dir records/
      stm-keras synth --layout csv --output-dir mine/ --num-classes 4 --videos-per-class 10
      stm-keras preprocess --dataset csv --manifest mine/manifest.csv --data-dir mine/ \\
          --output-dir records/ --direction-sensitive yes
    """
    from stm_keras.pipelines.synth.layouts import LAYOUTS, MANIFEST, write_synthetic

    available = len(LAYOUTS[layout].classes)
    if num_classes is not None and num_classes > available:
        raise UsageProblem(
            f"--num-classes {num_classes}: the synthetic '{layout}' layout has {available} classes"
        )
    if (height is None) != (width is None):
        given = f"--height {height}" if width is None else f"--width {width}"
        raise UsageProblem(f"--height and --width must be given together; got only {given}")
    videos = write_synthetic(
        layout, output_dir, videos_per_class, num_classes, video_frames, seed, height, width
    )
    if layout == "csv":
        long_videos = len({video.path for video in videos})
        click.echo(
            f"synth: wrote {len(videos)} 'csv' clips as segments of {long_videos} videos to "
            f"{output_dir}, listed in {os.path.join(output_dir, MANIFEST)} (no splits: "
            "preprocess chooses them)"
        )
        return
    if layout == "folders":
        click.echo(
            f"synth: wrote {len(videos)} 'folders' videos to {output_dir} (no split folders: "
            "preprocess chooses the splits)"
        )
        return
    counts = {
        split: sum(v.split == split for v in videos) for split in ("train", "validation", "test")
    }
    click.echo(
        f"synth: wrote {len(videos)} '{layout}' videos to {output_dir} "
        f"({', '.join(f'{split} {count}' for split, count in counts.items())})"
    )
