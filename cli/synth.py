"""`stm-keras synth`: a small synthetic dataset in a real dataset's native layout."""

from __future__ import annotations

import click

from stm_keras.cli.common import (
    UsageProblem,
    maps_errors,
    num_classes_option,
    output_dir_option,
    video_frames_option,
)

LAYOUT_NAMES = ("jester", "something-v1", "something-v2", "kinetics400", "ucf101", "hmdb51")


@click.command("synth")
@maps_errors()
@click.option(
    "--layout",
    required=True,
    type=click.Choice(LAYOUT_NAMES),
    help="Native layout (and real class names) of this dataset.",
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
    """Write a synthetic dataset in the native layout of a real one.

    Each class is a textured shape moving in a class-specific way over a noisy background, with
    random position, size, colour and speed per clip. Classes that the real dataset separates
    only by temporal order ("Swiping Left" / "Swiping Right") are exact time reversals of each
    other. Clips are split about 80/10/10 into train/validation/test.

    \b
    Example:
      stm-keras synth --layout jester --output-dir raw/ --num-classes 4 --videos-per-class 50
      stm-keras preprocess --dataset jester --data-dir raw/ --output-dir records/
    """
    from stm_keras.pipelines.synth.layouts import LAYOUTS, write_synthetic

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
    counts = {
        split: sum(v.split == split for v in videos) for split in ("train", "validation", "test")
    }
    click.echo(
        f"synth: wrote {len(videos)} '{layout}' videos to {output_dir} "
        f"({', '.join(f'{split} {count}' for split, count in counts.items())})"
    )
