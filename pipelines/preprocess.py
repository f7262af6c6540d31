"""The Beam job: a dataset in its native layout (or your own videos) to sharded TFRecords of
JPEG frames.

Stages::

    listing (main process, from the annotation files)
      -> ReadVideos   (workers: decode / copy frames, encode SequenceExamples)
      -> PlanShards   (per split: shard count from total bytes, key ranges)
      -> WriteShards  (one worker per shard: sort by key, temp file, rename)
    summary (main process): dataset_info.json, failures-<split>.jsonl, accounting

Every input row ends up either in a shard or in the failure list of its split.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from stm_keras.data import schema
from stm_keras.pipelines import datasets, sharding
from stm_keras.pipelines.datasets.base import DatasetAdapter, Listing
from stm_keras.pipelines.datasets.own_videos import (
    OwnVideoAdapter,
    OwnVideoOptions,
    written_per_class,
)
from stm_keras.pipelines.items import FRAMES, Failure, LayoutError, VideoItem
from stm_keras.pipelines.readers import FrameOptions, read_frame_folder, read_video_file

METRICS_NAMESPACE = "stm_keras.preprocess"
COUNTERS = ("videos", "frames", "bytes", "failures")
PROGRESS_SECONDS = 10.0
STAGING_PREFIX = ".staging-"
LISTING_FILE = "listing.jsonl"
FAILURES_PATTERN = "failures-{split}.jsonl"
WRITTEN, FAILED = "written", "failed"
WORKER_ENV = "STM_KERAS_PIPELINE_WORKER"


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
    """What to preprocess and how.

    Args:
        dataset: str. A name from ``pipelines.datasets.names()``.
        data_dir: str. The dataset in its native layout.
        output_dir: str. Where shards, ``dataset_info.json`` and failure lists go.
        splits: tuple of str or None. Splits to write; None for all the dataset ships.
        split_id: int. Official split (1-3) of UCF-101 / HMDB-51. Defaults to 1.
        frames: FrameOptions. Short side, frame limit, JPEG quality.
        num_shards: int or None. Shards per split; None chooses from the total bytes.
        max_failure_fraction: float. A split with more failed inputs fails the job.
        overwrite: bool. Replace the outputs of an earlier run in ``output_dir``.
        own_videos: OwnVideoOptions or None. Options of the ``folders`` and ``csv`` layouts
            (manifest, classes file, split, direction sensitivity); None for their defaults.
            Refused for the published datasets.
    """

    dataset: str
    data_dir: str
    output_dir: str
    splits: tuple[str, ...] | None = None
    split_id: int = 1
    frames: FrameOptions = FrameOptions()
    num_shards: int | None = None
    max_failure_fraction: float = 0.01
    overwrite: bool = False
    own_videos: OwnVideoOptions | None = None


@dataclasses.dataclass
class PreprocessResult:
    """What the job wrote.

    Attributes:
        info: dict. The contents of ``dataset_info.json``.
        counters: dict. Beam metrics counters (videos, frames, bytes, failures).
        failed_splits: list of str. Splits whose failed fraction exceeds the limit.
    """

    info: dict[str, Any]
    counters: dict[str, int]
    failed_splits: list[str]


def pipeline_options(beam_args: Sequence[str]) -> PipelineOptions:
    """Beam options from the user's flags, defaulting to a multi-process DirectRunner.

    The runner is always named explicitly so Beam never tries to download a portable runner.
    """
    args = list(beam_args)
    given = {arg.split("=", 1)[0] for arg in args if arg.startswith("--")}
    if "--runner" not in given:
        args.append("--runner=DirectRunner")
    options = PipelineOptions(args).get_all_options()
    if (options["runner"] or "").endswith("DirectRunner"):
        if "--direct_running_mode" not in given:
            args.append("--direct_running_mode=multi_processing")
        mode = PipelineOptions(args).get_all_options()["direct_running_mode"]
        if "--direct_num_workers" not in given and mode != "in_memory":
            args.append(f"--direct_num_workers={os.cpu_count() or 1}")
        # Local workers' WARNINGs are Beam's own start-up chatter (one set per worker); errors
        # in our transforms still surface as exceptions. Pass the flag to see them.
        if "--default_sdk_harness_log_level" not in given:
            args.append("--default_sdk_harness_log_level=ERROR")
    return PipelineOptions(args)


def encode_item(item: VideoItem, frame_options: FrameOptions) -> tuple[bytes, int]:
    """Reads one listed video and serializes it as a ``SequenceExample``.

    Returns:
        ``(serialized record, number of frames)``.

    Raises:
        Exception: any problem with the input (a failure of this item, not of the job).
    """
    if item.kind == FRAMES:
        frames = read_frame_folder(item.sources, item.fps, frame_options)
    else:
        frames = read_video_file(item.sources, frame_options, item.start, item.end)
    record = schema.VideoRecord(
        video_id=item.video_id,
        frames=frames.jpegs,
        label_index=item.label_index,
        label_text=item.label_text,
        height=frames.height,
        width=frames.width,
        fps=frames.fps,
    )
    return schema.encode(record), record.num_frames


def failure_of(item: VideoItem, error: Exception) -> Failure:
    """The failure record of an item whose reading raised ``error``; the reason names the
    annotation row when the item knows it."""
    reason = str(error) if error.args else type(error).__name__
    if item.listed_at:
        reason = f"{reason} (listed at {item.listed_at})"
    return Failure(item.split, item.video_id, item.sources[0], reason)


class ReadVideoFn(beam.DoFn):
    """Reads one listed video into serialized ``SequenceExample`` bytes, or a failure."""

    def __init__(
        self,
        frame_options: FrameOptions,
        spill_dir: str,
        progress_seconds: float | None = None,
    ):
        self.frame_options = frame_options
        self.spill_dir = spill_dir
        self.progress_seconds = PROGRESS_SECONDS if progress_seconds is None else progress_seconds
        self.counters = {name: Metrics.counter(METRICS_NAMESPACE, name) for name in COUNTERS}

    def setup(self) -> None:
        self._done = {"videos": 0, "frames": 0, "failures": 0}
        self._last_report = time.monotonic()

    def start_bundle(self) -> None:
        self._spill: sharding.SpillFile | None = None

    def finish_bundle(self) -> None:
        # The references emitted in this bundle are read only after the shard grouping, which
        # waits for the bundle (and this close) to commit.
        if self._spill is not None:
            self._spill.close()

    def process(self, line: str) -> Iterator[Any]:
        item = VideoItem.from_json(json.loads(line))
        try:
            serialized, num_frames = encode_item(item, self.frame_options)
        except Exception as error:  # noqa: BLE001 - any bad input must become a failure record
            failure = failure_of(item, error)
            self.counters["failures"].inc()
            self._progress(failures=1)
            yield beam.pvalue.TaggedOutput(
                FAILED, {"type": "failure", "split": item.split, **failure.to_json()}
            )
            return
        self.counters["videos"].inc()
        self.counters["frames"].inc(num_frames)
        self.counters["bytes"].inc(len(serialized))
        self._progress(videos=1, frames=num_frames)
        if self._spill is None:
            self._spill = sharding.SpillFile(self.spill_dir)
        key = sharding.record_key(item.split, item.video_id)
        yield self._spill.append(item.split, key, serialized, num_frames)

    def _progress(self, **amounts: int) -> None:
        # Beam's counters reach the main process only at the end on the DirectRunner, so each
        # worker also prints its own progress now and then.
        for name, amount in amounts.items():
            self._done[name] += amount
        now = time.monotonic()
        if now - self._last_report >= self.progress_seconds:
            self._last_report = now
            print(
                f"preprocess: worker {os.getpid()}: {self._done['videos']} videos, "
                f"{self._done['frames']} frames written, {self._done['failures']} failed",
                file=sys.stderr,
                flush=True,
            )


def _record_size(record: sharding.SpilledRecord) -> tuple[str, tuple[str, int]]:
    return record.split, (record.key, record.size)


def plan_split(
    element: tuple[str, Iterable[tuple[str, int]]], fixed: int | None
) -> tuple[str, tuple[int, list[str]]]:
    """Shard count and key boundaries of a split from its ``(key, size)`` pairs."""
    split, sizes = element
    sizes = sorted(sizes)
    num_shards = sharding.choose_num_shards(len(sizes), sum(s for _, s in sizes), fixed)
    keys = [key for key, _ in sizes]
    return split, (num_shards, sharding.shard_boundaries(keys, num_shards))


def _assign_shard(
    record: sharding.SpilledRecord, plans: dict[str, tuple[int, list[str]]]
) -> tuple[tuple[str, int, int], sharding.SpilledRecord]:
    num_shards, boundaries = plans[record.split]
    return (record.split, sharding.shard_index(record.key, boundaries), num_shards), record


class WriteShardFn(beam.DoFn):
    """Writes one shard: its records sorted by key, via a temporary file and a rename."""

    def __init__(self, output_dir: str):
        self.output_dir = output_dir

    def process(
        self, element: tuple[tuple[str, int, int], Iterable[sharding.SpilledRecord]]
    ) -> Iterator[dict[str, Any]]:
        (split, index, num_shards), records = element
        records = sorted(records, key=lambda record: record.key)
        data = sharding.read_spilled(records)
        name = schema.shard_name(split, index, num_shards)
        path = FileSystems.join(self.output_dir, name)
        sharding.write_tfrecord_file(path, (data[record.key] for record in records))
        yield {
            "type": "shard",
            "split": split,
            "name": name,
            "num_records": len(records),
            "num_frames": sum(record.num_frames for record in records),
            "num_bytes": sum(record.size for record in records),
        }


def build_pipeline(
    pipeline: beam.Pipeline,
    staging_dir: str,
    config: PreprocessConfig,
) -> str:
    """Adds the job's transforms to ``pipeline``: listing file in, shards and a summary out.

    Args:
        pipeline: beam.Pipeline.
        staging_dir: str. Holds ``listing.jsonl`` (one JSON video item per line) and receives
            spill files and the summary.
        config: PreprocessConfig.

    Returns:
        The file prefix of the summary (shard statistics and failures, JSON lines).
    """
    listing_path = FileSystems.join(staging_dir, LISTING_FILE)
    summary_prefix = FileSystems.join(staging_dir, "summary")
    read_videos = ReadVideoFn(config.frames, staging_dir)
    results = (
        pipeline
        | "ReadListing" >> beam.io.ReadFromText(listing_path)
        # Spread the listing over all workers; a small file would otherwise stay in one bundle.
        | "Distribute" >> beam.Reshuffle()
        | "ReadVideos" >> beam.ParDo(read_videos).with_outputs(FAILED, main=WRITTEN)
    )
    written = results[WRITTEN]
    plans = (
        written
        | "Sizes" >> beam.Map(_record_size)
        | "GroupSizes" >> beam.GroupByKey()
        | "PlanShards" >> beam.Map(plan_split, config.num_shards)
    )
    shards = (
        written
        | "AssignShards" >> beam.Map(_assign_shard, beam.pvalue.AsDict(plans))
        | "GroupShards" >> beam.GroupByKey()
        | "WriteShards" >> beam.ParDo(WriteShardFn(config.output_dir))
    )
    _ = (
        (shards, results[FAILED])
        | "Summary" >> beam.Flatten()
        | "ToJson" >> beam.Map(json.dumps, sort_keys=True)
        | "WriteSummary" >> beam.io.WriteToText(summary_prefix, file_name_suffix=".jsonl")
    )
    return summary_prefix


def run(
    config: PreprocessConfig,
    beam_args: Sequence[str] = (),
    log: Callable[[str], None] = print,
) -> PreprocessResult:
    """Runs the job and writes ``dataset_info.json`` and the failure lists.

    Raises:
        LayoutError: for an unknown dataset or split, a missing data dir or annotation file, or
            a non-empty output dir without ``overwrite`` (all usage errors).
    """
    adapter = _adapter(config.dataset, config.own_videos)
    splits = config.splits or adapter.splits
    unknown = [split for split in splits if split not in adapter.splits]
    if unknown:
        raise LayoutError(
            f"unknown split(s) {', '.join(unknown)} for '{config.dataset}'; "
            f"it has {', '.join(adapter.splits)}"
        )
    listing = adapter.load(config.data_dir, splits, config.split_id)
    if isinstance(adapter, OwnVideoAdapter):
        splits = _splits_present(adapter, listing, splits, config)
    for note in _notes(adapter, listing):
        log(f"preprocess: note: {note}")
    _prepare_output_dir(config.output_dir, config.overwrite)
    staging = FileSystems.join(config.output_dir, f"{STAGING_PREFIX}{uuid.uuid4().hex}")
    FileSystems.mkdirs(staging)
    try:
        _write_lines(FileSystems.join(staging, LISTING_FILE), _listing_lines(listing, splits))
        log(
            f"preprocess: {sum(len(listing.items[s]) for s in splits)} videos listed in "
            f"{', '.join(splits)}; writing to {config.output_dir}"
        )
        pipeline = beam.Pipeline(options=pipeline_options(beam_args))
        summary_prefix = build_pipeline(pipeline, staging, config)
        with _light_workers():
            result = pipeline.run()
            result.wait_until_finish()
        counters = _counters(result)
        summary = _read_summary(summary_prefix)
        info = _finish(config, adapter, listing, splits, summary)
    finally:
        FileSystems.delete([staging])
    listed_failures = sum(len(listing.failures[split]) for split in splits)
    log(
        "preprocess: Beam counters: "
        + ", ".join(f"{name}={counters.get(name, 0)}" for name in COUNTERS)
        + (f" (and {listed_failures} inputs failed while listing)" if listed_failures else "")
    )
    small = info.get("small_classes")
    if small:
        log(
            f"preprocess: note: {len(small)} classes have fewer than "
            f"{adapter.options.min_per_class} videos written (--min-per-class): "
            + ", ".join(f"{name} ({count})" for name, count in small.items())
        )
    failed_splits = []
    for split in splits:
        stats = info["splits"][split]
        log(
            f"preprocess: {split}: read {stats['num_read']} = written {stats['num_written']} "
            f"+ failed {stats['num_failed']}; {len(stats['shards'])} shards, "
            f"{stats['num_frames']} frames, {stats['num_bytes']} bytes"
        )
        if (
            stats["num_read"]
            and stats["num_failed"] > config.max_failure_fraction * stats["num_read"]
        ):
            failed_splits.append(split)
    return PreprocessResult(info, counters, failed_splits)


@contextlib.contextmanager
def _light_workers() -> Iterator[None]:
    """Worker processes the local runners start now import ``stm_keras`` without its models
    (Keras, TensorFlow): a few seconds less start-up each."""
    previous = os.environ.get(WORKER_ENV)
    os.environ[WORKER_ENV] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ[WORKER_ENV]
        else:
            os.environ[WORKER_ENV] = previous


def _adapter(name: str, own_videos: OwnVideoOptions | None) -> DatasetAdapter:
    try:
        adapter = datasets.get_adapter(name)
    except KeyError:
        raise LayoutError(
            f"unknown dataset '{name}'; choose one of {', '.join(datasets.names())}"
        ) from None
    if isinstance(adapter, OwnVideoAdapter):
        return adapter.configured(own_videos or OwnVideoOptions())
    if own_videos is not None:
        layouts = " or ".join(datasets.OWN_VIDEO_LAYOUTS)
        raise LayoutError(
            f"options for your own videos apply to --dataset {layouts}, not to the published "
            f"dataset '{name}'"
        )
    return adapter


def _splits_present(
    adapter: OwnVideoAdapter, listing: Listing, splits: Sequence[str], config: PreprocessConfig
) -> list[str]:
    """The splits your own videos have (no test folder, say: no test split).

    Raises:
        LayoutError: when the data has no videos, or ``--splits`` asks for a split it lacks.
    """
    present = [split for split in splits if listing.items[split] or listing.failures[split]]
    if not present and not listing.info["video_splits"]:
        raise LayoutError(f"no videos in {config.data_dir}\n{adapter.layout}")
    absent = [split for split in splits if split not in present]
    if absent and config.splits:
        found = set(present) | set(listing.info["video_splits"].values())
        raise LayoutError(
            f"no {' or '.join(absent)} videos in {config.data_dir}; "
            f"it has {', '.join(s for s in adapter.splits if s in found) or 'none'}"
        )
    return present


def _notes(adapter: DatasetAdapter, listing: Listing) -> list[str]:
    """Lines worth a user's attention before the job runs."""
    notes = list(listing.notes)
    if isinstance(adapter, OwnVideoAdapter) and adapter.options.direction_sensitive is None:
        notes.append(
            "--direction-sensitive not given: recording 'no', so fit may flip clips "
            "horizontally; pass --direction-sensitive yes if a flip changes a label "
            "(left/right classes)"
        )
    return notes


def _prepare_output_dir(output_dir: str, overwrite: bool) -> None:
    """Refuses a non-empty output dir unless ``overwrite``; then removes earlier outputs only.

    Files this job did not write (notes, other tools' outputs) are left alone.
    """
    if "://" in output_dir:
        # Object stores have no directories: list what lies under the prefix.
        pattern = FileSystems.join(output_dir, "*")
        matched = FileSystems.match([pattern])[0].metadata_list
        existing = [m.path.rsplit("/", 1)[-1] for m in matched]
    elif os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise LayoutError(f"output dir {output_dir} is a file")
    elif not os.path.isdir(output_dir):
        FileSystems.mkdirs(output_dir)
        return
    else:
        existing = os.listdir(output_dir)
    if existing and not overwrite:
        shown = ", ".join(sorted(existing)[:3]) + (", ..." if len(existing) > 3 else "")
        raise LayoutError(
            f"output dir {output_dir} is not empty ({shown}); "
            "pass --overwrite to replace an earlier run's outputs"
        )
    ours = [FileSystems.join(output_dir, name) for name in existing if _is_output_name(name)]
    if ours:
        FileSystems.delete(ours)


def _is_output_name(name: str) -> bool:
    return (
        name.endswith(schema.SHARD_SUFFIX)
        or name == schema.DATASET_INFO_FILE
        or (name.startswith("failures-") and name.endswith(".jsonl"))
        or name.startswith((sharding.TEMP_PREFIX, STAGING_PREFIX))
    )


def _listing_lines(listing: Listing, splits: Sequence[str]) -> Iterator[str]:
    for split in splits:
        for item in listing.items[split]:
            yield json.dumps(item.to_json(), sort_keys=True)


def _write_lines(path: str, lines: Iterable[str]) -> None:
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        for line in lines:
            # A path that is not UTF-8 (held as surrogates) is written escaped, not fatal.
            f.write(line.encode("utf-8", "backslashreplace") + b"\n")


def _read_summary(prefix: str) -> list[dict[str, Any]]:
    entries = []
    for metadata in FileSystems.match([prefix + "*"])[0].metadata_list:
        with FileSystems.open(metadata.path) as f:
            entries.extend(json.loads(line) for line in f.read().decode("utf-8").splitlines())
    return entries


def _counters(result: beam.runners.runner.PipelineResult) -> dict[str, int]:
    counters = {}
    query = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        counters[counter.key.metric.name] = counters.get(counter.key.metric.name, 0) + value
    return counters


def _finish(
    config: PreprocessConfig,
    adapter: DatasetAdapter,
    listing: Listing,
    splits: Sequence[str],
    summary: list[dict[str, Any]],
) -> dict[str, Any]:
    """Writes failure lists, fills in empty shards, writes and returns ``dataset_info.json``."""
    info_splits = {}
    unread_ids: dict[str, set[str]] = {}
    for split in splits:
        shards = sorted(
            (e for e in summary if e["type"] == "shard" and e["split"] == split),
            key=lambda e: e["name"],
        )
        read_failures = [e for e in summary if e["type"] == "failure" and e["split"] == split]
        failures = [f.to_json() for f in listing.failures[split]] + [
            {k: e[k] for k in ("id", "source", "reason")} for e in read_failures
        ]
        failures.sort(key=lambda f: (f["id"], f["source"], f["reason"]))
        # Not every failure id (a duplicate row's id is also a written video's).
        unread_ids[split] = {e["id"] for e in read_failures}
        _write_lines(
            FileSystems.join(config.output_dir, FAILURES_PATTERN.format(split=split)),
            (json.dumps(f, sort_keys=True, ensure_ascii=False) for f in failures),
        )
        names = _complete_shards(config.output_dir, split, [e["name"] for e in shards])
        stats = {
            "num_read": len(listing.items[split]) + len(listing.failures[split]),
            "num_written": sum(e["num_records"] for e in shards),
            "num_failed": len(failures),
            "num_frames": sum(e["num_frames"] for e in shards),
            "num_bytes": sum(e["num_bytes"] for e in shards),
            "shards": names,
        }
        if stats["num_read"] != stats["num_written"] + stats["num_failed"]:
            raise RuntimeError(f"accounting mismatch in split {split}: {stats}")
        info_splits[split] = stats
    frames = config.frames
    info = {
        "dataset": config.dataset,
        "classes": listing.classes,
        "num_classes": len(listing.classes),
        "direction_sensitive": adapter.direction_sensitive,
        "splits": info_splits,
        "options": {
            "short_side": frames.short_side,
            "max_frames": frames.max_frames,
            "jpeg_quality": frames.jpeg_quality,
            "num_shards": config.num_shards,
            "split_id": config.split_id,
            "max_failure_fraction": config.max_failure_fraction,
        },
        **listing.info,
    }
    if isinstance(adapter, OwnVideoAdapter):
        info["options"].update(adapter.recorded_options())
        counts = written_per_class(listing, splits, unread_ids)
        info["small_classes"] = {
            name: count for name, count in counts.items() if count < adapter.options.min_per_class
        }
    _write_lines(
        FileSystems.join(config.output_dir, schema.DATASET_INFO_FILE),
        [json.dumps(info, indent=2, sort_keys=True, ensure_ascii=False)],
    )
    return info


def _complete_shards(output_dir: str, split: str, names: list[str]) -> list[str]:
    """All shard names of a split, writing empty shards a fixed ``--num-shards`` left unfilled."""
    if not names:
        return []
    num_shards = int(names[0].rsplit("-of-", 1)[1].split(".")[0])
    complete = [schema.shard_name(split, i, num_shards) for i in range(num_shards)]
    for name in sorted(set(complete) - set(names)):
        sharding.write_tfrecord_file(FileSystems.join(output_dir, name), [])
    return complete
