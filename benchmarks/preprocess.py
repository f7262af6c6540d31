"""Speed of the Beam preprocess job against a plain single-process loop doing the same work.

The loop lists the same videos, reads and encodes them with the same functions and the same
FFmpeg decode thread count (``FrameOptions.decode_threads``), and writes the same shards
(checked byte for byte), so the ratios show what the Beam job costs or gains: worker start-up,
spilling and grouping against parallel decoding.

Start-up and steady state are separated by running every job twice: on the full synthetic
dataset (N videos) and on a dataset of the first half of each class (H ~ N/2 videos), written
the same way. A job's fixed cost is the same in both runs, so::

    steady videos/s = (N - H) / (t(N) - t(H))
    start-up s      = t(N) - N / steady videos/s

"Start-up" is every cost that does not grow with the videos: for the Beam job the worker
processes starting (and importing what unpickling the DoFns needs), pipeline construction,
the shard planning and grouping rounds and tear-down; for the loop, listing the dataset.
Timing noise can make ``t(N) - t(H)`` meaningless on tiny datasets: steady rate and start-up
are then None; a start-up below 0 (noise again) is reported as 0. With ``repeats`` > 1 the
jobs run that many times, interleaved (loop, 1 worker, 2 workers, loop, ...; the full and the
half run of a job back to back), each repeat gives its own start-up and steady rate, and the
report shows their medians and the range of the steady rates: the difference of two runs
amplifies the noise of each (several seconds of worker start-up vary by half a second from
run to run), so a range as wide as the median says the dataset is too small or the machine too
busy for that figure. One-off costs of the measuring process (importing TensorFlow, PyAV,
Beam's runner) are paid before anything is timed.

CPU seconds (user + system, the measuring process and the worker processes together) are
split the same way into a steady CPU cost per video. Unlike wall-clock time they hardly change
when other processes share the cores, so they tell the job's own overhead (CPU ms per video
of Beam against the loop's) from a lack of free cores (the same CPU ms per video, but fewer
videos/s than workers x one worker's).
"""

from __future__ import annotations

import dataclasses
import math
import os
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from stm_keras.data import schema
from stm_keras.pipelines import datasets, preprocess, sharding
from stm_keras.pipelines.readers import FrameOptions
from stm_keras.pipelines.synth.layouts import write_synthetic

LOOP = "loop"


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


def split_startup(
    half_videos: int, half_seconds: float, num_videos: int, seconds: float
) -> tuple[float | None, float | None]:
    """``(start-up seconds, steady videos/s)`` of a job timed on H and on N > H videos.

    Returns ``(None, None)`` when the two runs cannot separate them (no half run, or the larger
    run was not slower).
    """
    extra_seconds = seconds - half_seconds
    if num_videos <= half_videos or half_videos <= 0 or not extra_seconds > 0:
        return None, None
    rate = (num_videos - half_videos) / extra_seconds
    return max(0.0, seconds - num_videos / rate), rate


@dataclasses.dataclass
class Run:
    """One repeat of a job: wall-clock and CPU seconds on the full and on the half dataset.

    CPU seconds are user + system time of the measuring process and of the worker processes
    together; the half figures are nan when there was no half run.
    """

    seconds: float
    cpu_seconds: float
    half_seconds: float = math.nan
    half_cpu_seconds: float = math.nan


@dataclasses.dataclass
class JobTiming:
    """One job (the loop, or Beam with some workers): every repeat at both sizes.

    Each figure is the median over the repeats of that figure in each repeat (the full and the
    half run of one repeat ran back to back).

    Attributes:
        name: str. ``"loop"`` or ``"beam<workers>"``.
        workers: int. DirectRunner worker processes; 0 for the loop.
        num_videos: int. Videos of the full run.
        half_videos: int. Videos of the half run; 0 when there was none.
        runs: list of Run. One per repeat.
    """

    name: str
    workers: int
    num_videos: int
    half_videos: int
    runs: list[Run]

    def _splits(self) -> list[tuple[float, float]]:
        splits = [
            split_startup(self.half_videos, run.half_seconds, self.num_videos, run.seconds)
            for run in self.runs
        ]
        return [(startup, rate) for startup, rate in splits if rate is not None]

    @property
    def seconds(self) -> float:
        """Seconds of the full run."""
        return statistics.median(run.seconds for run in self.runs)

    @property
    def videos_per_second(self) -> float:
        """Videos/s of the full run, start-up included."""
        return self.num_videos / self.seconds

    @property
    def startup_seconds(self) -> float | None:
        splits = self._splits()
        return statistics.median(startup for startup, _ in splits) if splits else None

    @property
    def steady_videos_per_second(self) -> float | None:
        splits = self._splits()
        return statistics.median(rate for _, rate in splits) if splits else None

    @property
    def steady_range(self) -> tuple[float, float] | None:
        """The lowest and highest steady videos/s of the repeats: the timing noise."""
        rates = [rate for _, rate in self._splits()]
        return (min(rates), max(rates)) if rates else None

    @property
    def cpu_seconds(self) -> float:
        """CPU seconds of the full run."""
        return statistics.median(run.cpu_seconds for run in self.runs)

    @property
    def steady_cpu_ms_per_video(self) -> float | None:
        """CPU milliseconds one more video costs (workers and main process together)."""
        extras = [run.cpu_seconds - run.half_cpu_seconds for run in self.runs]
        extras = [extra for extra in extras if math.isfinite(extra)]
        if self.num_videos <= self.half_videos or not extras:
            return None
        return 1e3 * statistics.median(extras) / (self.num_videos - self.half_videos)

    @property
    def label(self) -> str:
        if not self.workers:
            return "plain single-process loop"
        return f"Beam DirectRunner, {self.workers} worker{'s' if self.workers > 1 else ''}"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _range_text(spread: tuple[float, float] | None, width: int) -> str:
    text = "" if spread is None else f"({spread[0]:.0f}-{spread[1]:.0f})"
    return f"{text:>{width}}"


def _text(value: float | None, width: int, digits: int = 2, suffix: str = "") -> str:
    return f"{'n/a' if value is None else f'{value:.{digits}f}{suffix}':>{width}}"


@dataclasses.dataclass
class PreprocessSpeed:
    """Seconds, start-up and steady-state videos/s of the loop and of the Beam job."""

    layout: str
    num_videos: int
    half_videos: int
    frame_size: tuple[int, int]
    num_frames: int
    jobs: list[JobTiming]
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)

    def job(self, name: str) -> JobTiming | None:
        return next((job for job in self.jobs if job.name == name), None)

    def steady_ratios(self, job: JobTiming) -> tuple[float | None, float | None]:
        """Steady videos/s of ``job`` over the loop's and over 1 worker's."""
        loop, one = self.job(LOOP), self.job("beam1")
        rate = job.steady_videos_per_second
        return (
            _ratio(rate, loop.steady_videos_per_second if loop else None),
            _ratio(rate, one.steady_videos_per_second if one else None),
        )

    def to_json(self) -> dict[str, Any]:
        """The flat figures of ``--output`` (``settings`` and ``machine`` are added there)."""
        figures: dict[str, Any] = {"num_videos": self.num_videos, "half_videos": self.half_videos}
        for job in self.jobs:
            vs_loop, vs_one = self.steady_ratios(job)
            spread = job.steady_range or (None, None)
            figures.update(
                {
                    f"{job.name}_seconds": job.seconds,
                    f"{job.name}_videos_per_s": job.videos_per_second,
                    f"{job.name}_startup_seconds": job.startup_seconds,
                    f"{job.name}_steady_videos_per_s": job.steady_videos_per_second,
                    f"{job.name}_steady_videos_per_s_min": spread[0],
                    f"{job.name}_steady_videos_per_s_max": spread[1],
                    f"{job.name}_cpu_seconds": job.cpu_seconds,
                    f"{job.name}_steady_cpu_ms_per_video": job.steady_cpu_ms_per_video,
                    f"{job.name}_runs": [
                        {key: _finite(value) for key, value in dataclasses.asdict(run).items()}
                        for run in job.runs
                    ],
                }
            )
            if job.workers:
                figures[f"{job.name}_steady_vs_loop"] = vs_loop
                figures[f"{job.name}_steady_vs_beam1"] = vs_one
        return figures

    def format(self) -> str:
        """The table printed by ``stm-keras bench preprocess``."""
        height, width = self.frame_size
        threads = self.settings.get("decode_threads")
        lines = [
            f"preprocess benchmark: {self.num_videos} synthetic '{self.layout}' videos, "
            f"{self.num_frames} frames of {height}x{width} each; start-up and steady state "
            f"from a second run on {self.half_videos} of them"
            + f"; FFmpeg decode threads per process: {threads or 'auto'}"
            + _load_text(self.settings.get("load_average_1m")),
            f"  {'job':<30}{'total s':>9}{'videos/s':>10}{'start-up s':>12}"
            f"{'steady videos/s':>17}{'(range)':>16}{'vs loop':>9}{'vs 1 worker':>13}"
            f"{'CPU s':>8}{'steady CPU ms/video':>21}",
        ]
        for job in self.jobs:
            vs_loop, vs_one = self.steady_ratios(job)
            lines.append(
                f"  {job.label:<30}{job.seconds:>9.2f}{job.videos_per_second:>10.2f}"
                f"{_text(job.startup_seconds, 12)}{_text(job.steady_videos_per_second, 17)}"
                f"{_range_text(job.steady_range, 16)}{_text(vs_loop, 9, suffix='x')}"
                f"{_text(vs_one if job.workers else None, 13, suffix='x')}"
                f"{_text(job.cpu_seconds, 8)}{_text(job.steady_cpu_ms_per_video, 21)}"
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
    decode_threads: int = 1,
    repeats: int = 1,
    work_dir: str | None = None,
    log: Callable[[str], None] | None = None,
) -> PreprocessSpeed:
    """Writes a synthetic dataset and its first half, then times the loop and the Beam job on
    both.

    Args:
        layout: str. Synthetic dataset layout (``stm-keras synth``'s). Defaults to "ucf101".
        videos_per_class: int. Videos per class of the full dataset; the half dataset has
            ``videos_per_class // 2`` (none below 2, and then no start-up figures).
            Defaults to 10.
        num_classes: int. Classes. Defaults to 4.
        num_frames: int. Frames per video. Defaults to 32.
        height: int. Frame height. Defaults to 240.
        width: int. Frame width. Defaults to 320.
        workers: sequence of int. DirectRunner worker counts to time. Defaults to (1, 2).
        short_side: int. Short side the frames are resized to. Defaults to 256.
        decode_threads: int. FFmpeg threads per decoded video, in the loop and in every
            worker; 0 for FFmpeg's choice (what ``stm-keras preprocess`` uses). Defaults to 1,
            so that N workers use N cores.
        repeats: int. Times each run is repeated (interleaved); the figures are their medians.
            Defaults to 1.
        work_dir: str or None. Where the temporary dataset and outputs go; None for the
            system's temporary directory. Defaults to None.
        log: callable or None. Called with a line as each run ends. Defaults to None.

    Returns:
        A ``PreprocessSpeed``.

    Raises:
        RuntimeError: when the Beam job and the loop write different shards.
    """
    log = log or (lambda line: None)
    load_before = _load_average()
    half_per_class = videos_per_class // 2
    frames = FrameOptions(short_side=short_side, decode_threads=decode_threads)
    sizes = (
        {"full": videos_per_class, "half": half_per_class}
        if half_per_class
        else {"full": videos_per_class}
    )
    with tempfile.TemporaryDirectory(dir=work_dir) as root:
        for size, per_class in sizes.items():
            raw = os.path.join(root, f"raw-{size}")
            write_synthetic(layout, raw, per_class, num_classes, num_frames, 0, height, width)

        def config(size: str, name: str) -> preprocess.PreprocessConfig:
            return preprocess.PreprocessConfig(
                layout,
                os.path.join(root, f"raw-{size}"),
                os.path.join(root, f"{name}-{size}"),
                frames=frames,
                max_failure_fraction=1.0,
            )

        _warm_up(os.path.join(root, "warm-up"))
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        counts: dict[str, int] = {}
        specs = [(LOOP, 0)] + [(f"beam{count}", count) for count in workers]
        for _ in range(repeats):
            for name, count in specs:
                for size in sizes:
                    output = config(size, name).output_dir
                    shutil.rmtree(output, ignore_errors=True)
                    start, start_cpu = time.perf_counter(), _cpu_seconds()
                    if count:
                        args = [
                            "--direct_running_mode=multi_processing",
                            f"--direct_num_workers={count}",
                        ]
                        preprocess.run(config(size, name), args, log=lambda line: None)
                    else:
                        counts[size] = plain_loop(config(size, name))
                    seconds = time.perf_counter() - start
                    cpu_seconds = _cpu_seconds() - start_cpu
                    times.setdefault((name, size), []).append((seconds, cpu_seconds))
                    log(
                        f"{name} on {counts[size]} videos: {seconds:.2f} s, {cpu_seconds:.2f} CPU s"
                    )
                    if count:
                        _check_same_shards(config(size, LOOP).output_dir, output)
                        shutil.rmtree(output)
    half_videos = counts.get("half", 0)
    no_half = [(math.nan, math.nan)] * repeats
    jobs = [
        JobTiming(
            name,
            count,
            counts["full"],
            half_videos,
            [
                Run(*full, *half)
                for full, half in zip(
                    times[name, "full"], times.get((name, "half"), no_half), strict=True
                )
            ],
        )
        for name, count in specs
    ]
    settings = {
        "layout": layout,
        "videos_per_class": videos_per_class,
        "half_videos_per_class": half_per_class,
        "num_classes": num_classes,
        "num_frames": num_frames,
        "height": height,
        "width": width,
        "short_side": short_side,
        "decode_threads": decode_threads,
        "workers": list(workers),
        "repeats": repeats,
        "runner": "DirectRunner, direct_running_mode=multi_processing",
        "method": "per repeat, steady videos/s = (N - H) / (t(N) - t(H)) and start-up = "
        "t(N) - N / steady; the figures are medians over the repeats",
        # Other processes' load skews every figure here, most of all the worker scaling.
        "load_average_1m": [load_before, _load_average()],
    }
    return PreprocessSpeed(
        layout, counts["full"], half_videos, (height, width), num_frames, jobs, settings
    )


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the DirectRunner's workers,
    which a job waits for)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _load_text(loads: Sequence[float | None] | None) -> str:
    if not loads or None in loads:
        return ""
    return f"; load average {loads[0]:.1f} at the start, {loads[1]:.1f} at the end"


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _warm_up(scratch: str) -> None:
    """Pays this process's one-off costs before anything is timed: TensorFlow (the loop's
    parent process has it anyway), PyAV, PIL's codecs and Beam's portable runner."""
    import apache_beam as beam
    import av  # noqa: F401
    import tensorflow  # noqa: F401
    from PIL import Image

    Image.init()
    args = ["--direct_running_mode=multi_processing", "--direct_num_workers=1"]
    with beam.Pipeline(options=preprocess.pipeline_options(args)) as pipeline:
        _ = pipeline | beam.Create([scratch]) | beam.Map(len)


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
