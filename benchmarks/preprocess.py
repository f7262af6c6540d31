"""Speed of the Beam preprocess job against a plain single-process loop doing the same work.

The loop lists the same videos, reads and encodes them with the same functions and writes the
same shards (checked byte for byte), so the ratio shows what the Beam job costs or gains: worker
start-up and shuffling against parallel decoding.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Sequence

from stm_keras.data import schema
from stm_keras.pipelines import datasets, preprocess, sharding
from stm_keras.pipelines.readers import FrameOptions
from stm_keras.pipelines.synth.layouts import write_synthetic


def plain_loop(config: preprocess.PreprocessConfig) -> int:
    """Preprocesses ``config``'s dataset in one process, writing the same shards as the job.

    Args:
        config: PreprocessConfig. The job's configuration (dataset, input, output, shards).

    Returns:
        The number of videos written.
    """
    adapter = datasets.get_adapter(config.dataset)
    splits = config.splits or adapter.splits
    listing = adapter.load(config.data_dir, splits, config.split_id)
    os.makedirs(config.output_dir, exist_ok=True)
    written = 0
    for split in splits:
        records = []
        for item in listing.items[split]:
            try:
                serialized, _ = preprocess.encode_item(item, config.frames)
            except Exception:  # noqa: BLE001, S112 - failures are not what is measured here
                continue
            records.append((sharding.record_key(split, item.video_id), serialized))
        if not records:
            continue
        sizes = [(key, len(serialized)) for key, serialized in records]
        _, (num_shards, boundaries) = preprocess.plan_split((split, sizes), config.num_shards)
        shards: dict[int, list[tuple[str, bytes]]] = {}
        for key, serialized in sorted(records):
            shards.setdefault(sharding.shard_index(key, boundaries), []).append((key, serialized))
        for index, shard in shards.items():
            path = os.path.join(config.output_dir, schema.shard_name(split, index, num_shards))
            sharding.write_tfrecord_file(path, (serialized for _, serialized in shard))
        written += len(records)
    return written


@dataclasses.dataclass
class PreprocessSpeed:
    """Videos per second of the loop and of the Beam job per worker count."""

    layout: str
    num_videos: int
    frame_size: tuple[int, int]
    num_frames: int
    loop_videos_per_second: float
    beam_videos_per_second: dict[int, float]

    def format(self) -> str:
        """The report printed by ``stm-keras bench preprocess``."""
        height, width = self.frame_size
        lines = [
            f"preprocess benchmark: {self.num_videos} synthetic '{self.layout}' videos, "
            f"{self.num_frames} frames of {height}x{width} each",
            f"  plain single-process loop: {self.loop_videos_per_second:8.2f} videos/s",
        ]
        for workers, speed in self.beam_videos_per_second.items():
            ratio = speed / self.loop_videos_per_second
            lines.append(
                f"  Beam DirectRunner, {workers} worker(s): {speed:8.2f} videos/s "
                f"= {ratio:.2f}x the loop"
            )
        return "\n".join(lines)


def measure_preprocess_speed(
    layout: str = "ucf101",
    videos_per_class: int = 10,
    num_classes: int = 4,
    num_frames: int = 32,
    height: int = 240,
    width: int = 320,
    workers: Sequence[int] = (1, 2),
    short_side: int = 256,
    work_dir: str | None = None,
) -> PreprocessSpeed:
    """Writes a synthetic dataset, then times the loop and the Beam job on it.

    Args:
        layout: str. Synthetic dataset layout (``stm-keras synth``'s). Defaults to "ucf101".
        videos_per_class: int. Videos per class. Defaults to 10.
        num_classes: int. Classes. Defaults to 4.
        num_frames: int. Frames per video. Defaults to 32.
        height: int. Frame height. Defaults to 240.
        width: int. Frame width. Defaults to 320.
        workers: sequence of int. DirectRunner worker counts to time. Defaults to (1, 2).
        short_side: int. Short side the frames are resized to. Defaults to 256.
        work_dir: str or None. Where the temporary dataset and outputs go; None for the
            system's temporary directory. Defaults to None.

    Returns:
        A ``PreprocessSpeed``.

    Raises:
        RuntimeError: when the Beam job and the loop write different shards.
    """
    with tempfile.TemporaryDirectory(dir=work_dir) as root:
        raw = os.path.join(root, "raw")
        write_synthetic(layout, raw, videos_per_class, num_classes, num_frames, 0, height, width)
        frames = FrameOptions(short_side=short_side)

        def config(name: str) -> preprocess.PreprocessConfig:
            return preprocess.PreprocessConfig(
                layout, raw, os.path.join(root, name), frames=frames, max_failure_fraction=1.0
            )

        import tensorflow  # noqa: F401 - a one-off cost of this process, not of the loop

        start = time.perf_counter()
        num_videos = plain_loop(config("loop"))
        loop_speed = num_videos / (time.perf_counter() - start)
        beam_speed = {}
        for count in workers:
            args = ["--direct_running_mode=multi_processing", f"--direct_num_workers={count}"]
            start = time.perf_counter()
            preprocess.run(config(f"beam{count}"), args, log=lambda line: None)
            beam_speed[count] = num_videos / (time.perf_counter() - start)
            _check_same_shards(os.path.join(root, "loop"), os.path.join(root, f"beam{count}"))
    return PreprocessSpeed(layout, num_videos, (height, width), num_frames, loop_speed, beam_speed)


def _check_same_shards(loop_dir: str, beam_dir: str) -> None:
    shards = sorted(n for n in os.listdir(beam_dir) if n.endswith(schema.SHARD_SUFFIX))
    if shards != sorted(os.listdir(loop_dir)):
        raise RuntimeError(f"the loop and the Beam job wrote different shards in {beam_dir}")
    for name in shards:
        with (
            open(os.path.join(loop_dir, name), "rb") as a,
            open(os.path.join(beam_dir, name), "rb") as b,
        ):
            if a.read() != b.read():
                raise RuntimeError(f"{name} differs between the loop and the Beam job")
