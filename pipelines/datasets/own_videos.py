"""What the layouts for your own videos (``folders``, ``csv``) share: their options, the class
names, and the deterministic stratified train/validation split.

Unlike a published dataset, your own videos come without official splits or a labels file:
class names are the sorted names found in the data unless ``--classes`` fixes them, and when
the data names no splits, a fraction of each class goes to validation, chosen by a hash of the
split seed and the video id (the same on every run and every machine, unlike Python's
``hash()``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Sequence
from typing import Any

from apache_beam.io.filesystems import FileSystems

from stm_keras.pipelines.datasets.base import (
    DatasetAdapter,
    Listing,
    annotation_lines,
    class_index,
)
from stm_keras.pipelines.items import Failure, LayoutError, VideoItem

TRAIN, VALIDATION, TEST = "train", "validation", "test"
# Split folder names and split column values (lower case) and the split each one means.
SPLIT_NAMES = {
    "train": TRAIN,
    "val": VALIDATION,
    "valid": VALIDATION,
    "validate": VALIDATION,
    "validation": VALIDATION,
    "test": TEST,
}
# Containers listed as videos. PyAV reads more; add an extension here to accept it.
VIDEO_EXTENSIONS = (
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv",
    ".3gp", ".ts", ".ogv",
)  # fmt: skip
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
STRATIFIED, GIVEN = "stratified", "given"


@dataclasses.dataclass(frozen=True)
class OwnVideoOptions:
    """How to read a ``folders`` or ``csv`` dataset.

    Args:
        manifest: str or None. The ``csv`` layout's manifest file. Defaults to None.
        classes_file: str or None. One class name per line: fixes the class order (and lets
            ``csv`` labels be 0-based line numbers). None: the sorted names in the data.
        val_fraction: float. Fraction of each class that goes to validation when the data names
            no splits. Defaults to 0.1.
        split_seed: int. Seed of that split; another seed chooses other videos. Defaults to 0.
        min_per_class: int. Classes with fewer written videos are reported. Defaults to 5.
        direction_sensitive: bool or None. Whether a horizontal flip can change a label; None
            records False and logs a note saying so. Defaults to None.
    """

    manifest: str | None = None
    classes_file: str | None = None
    val_fraction: float = 0.1
    split_seed: int = 0
    min_per_class: int = 5
    direction_sensitive: bool | None = None


class OwnVideoAdapter(DatasetAdapter):
    """An adapter for your own videos, configured by :class:`OwnVideoOptions`."""

    splits = (TRAIN, VALIDATION, TEST)

    def __init__(self, options: OwnVideoOptions | None = None):
        self.options = options or OwnVideoOptions()

    @property
    def direction_sensitive(self) -> bool:
        return bool(self.options.direction_sensitive)

    def configured(self, options: OwnVideoOptions) -> OwnVideoAdapter:
        """This layout's adapter with ``options``."""
        return type(self)(options)

    def recorded_options(self) -> dict[str, Any]:
        """The options that ``dataset_info.json`` records under ``options``."""
        options = self.options
        return {
            "classes_file": options.classes_file,
            "val_fraction": options.val_fraction,
            "split_seed": options.split_seed,
            "min_per_class": options.min_per_class,
        }

    def fixed_classes(self) -> list[str] | None:
        """The classes of ``--classes FILE`` in order, or None without one.

        Raises:
            LayoutError: for a missing file, no names, or a name listed twice.
        """
        path = self.options.classes_file
        if path is None:
            return None
        if "://" not in path and not FileSystems.exists(path):
            raise LayoutError(f"--classes file not found: {path}")
        names, seen = [], {}
        for location, text in annotation_lines(path):
            if text in seen:
                raise LayoutError(
                    f"{location}: class '{text}' is listed twice (first {seen[text]})"
                )
            seen[text] = location
            names.append(text)
        if not names:
            raise LayoutError(f"--classes file {path} names no classes")
        return names


def split_key(seed: int, video_id: str) -> str:
    """A video's place in the seeded order that the stratified split cuts."""
    return hashlib.sha256(f"{seed}/{video_id}".encode("utf-8", "surrogateescape")).hexdigest()


def validation_count(num_videos: int, val_fraction: float) -> int:
    """Videos of a class that go to validation: ``round(n * fraction)``, at least one when the
    class has two or more videos, and never the class's last training video (fraction < 1)."""
    if num_videos == 0 or val_fraction <= 0:
        return 0
    count = math.floor(num_videos * val_fraction + 0.5)
    if num_videos >= 2:
        count = max(count, 1)
    if val_fraction < 1:
        count = min(count, num_videos - 1)
    return count


def stratified_split(
    videos: Sequence[tuple[str, str]], val_fraction: float, seed: int
) -> dict[str, str]:
    """Chooses ``train`` or ``validation`` for every video, class by class.

    Args:
        videos: ``(video id, class name)`` pairs.
        val_fraction: float. Fraction of each class for validation (see
            :func:`validation_count`).
        seed: int. The same seed and videos give the same split.

    Returns:
        Video id to split name.
    """
    by_class: dict[str, list[str]] = {}
    for video_id, label in videos:
        by_class.setdefault(label, []).append(video_id)
    chosen = {}
    for ids in by_class.values():
        ordered = sorted(ids, key=lambda video_id: (split_key(seed, video_id), video_id))
        count = validation_count(len(ordered), val_fraction)
        for position, video_id in enumerate(ordered):
            chosen[video_id] = VALIDATION if position < count else TRAIN
    return chosen


class OwnVideoCollector:
    """Collects the videos and failures of an own-video dataset, then chooses the splits.

    Args:
        classes: list of str or None. Fixed class order (``--classes``); None for the sorted
            names added.
        splits_given: bool. Whether the data names each video's split (split folders, a split
            column); otherwise :func:`stratified_split` chooses.
    """

    def __init__(self, classes: list[str] | None, splits_given: bool):
        self.classes = classes
        self.splits_given = splits_given
        self._class_names: set[str] = set()
        self._videos: list[VideoItem] = []
        self._ids: set[str] = set()
        self._failures: list[Failure] = []
        self._unplaced: list[tuple[str, str, str]] = []

    def add_class(self, name: str) -> None:
        """Records a class found in the data even if none of its videos can be read."""
        self._class_names.add(name)

    def add(self, item: VideoItem, location: str) -> None:
        """Adds a video (``item.split`` "" until the split is chosen) unless its id is taken."""
        if item.video_id in self._ids:
            self.fail(item.video_id, location, f"duplicate video id '{item.video_id}'", item.split)
            return
        self._ids.add(item.video_id)
        self._class_names.add(item.label_text)
        self._videos.append(item)

    def fail(self, video_id: str, source: str, reason: str, split: str = "") -> None:
        """Records an input that cannot be written; without a split it is counted in the first
        split written (rows that fail before a split is known)."""
        if split:
            self._failures.append(Failure(split, video_id, source, reason))
        else:
            self._unplaced.append((video_id, source, reason))

    def listing(self, splits: Sequence[str], options: OwnVideoOptions) -> Listing:
        """The Listing of the requested ``splits``; a split the data lacks is empty.

        Every video's split is chosen (and recorded under ``video_splits``) whichever splits
        are requested, so writing one split at a time gives the same split.
        """
        classes = self.classes or sorted(self._class_names)
        index = class_index(classes)
        if self.splits_given:
            chosen = {item.video_id: item.split for item in self._videos}
        else:
            chosen = stratified_split(
                [(item.video_id, item.label_text) for item in self._videos],
                options.val_fraction,
                options.split_seed,
            )
        items: dict[str, list[VideoItem]] = {}
        for item in self._videos:
            split = chosen[item.video_id]
            placed = dataclasses.replace(item, split=split, label_index=index[item.label_text])
            items.setdefault(split, []).append(placed)
        failures: dict[str, list[Failure]] = {}
        for failure in self._failures:
            failures.setdefault(failure.split, []).append(failure)
        if self._unplaced:
            present = [split for split in splits if split in items or split in failures]
            first = (present or splits)[0]
            failures.setdefault(first, []).extend(Failure(first, *row) for row in self._unplaced)
        notes = []
        if self.splits_given and (
            options.val_fraction != OwnVideoOptions.val_fraction
            or options.split_seed != OwnVideoOptions.split_seed
        ):
            notes.append("the data names its splits; --val-fraction and --split-seed are unused")
        return Listing(
            classes=classes,
            items={split: items.get(split, []) for split in splits},
            failures={split: failures.get(split, []) for split in splits},
            info={
                "split_method": GIVEN if self.splits_given else STRATIFIED,
                "video_splits": dict(sorted(chosen.items())),
            },
            notes=notes,
        )


def written_per_class(
    listing: Listing, splits: Sequence[str], unread_ids: dict[str, set[str]]
) -> dict[str, int]:
    """Videos written per class name over ``splits``, given the ids of each split's listed
    videos that failed to read."""
    counts = dict.fromkeys(listing.classes, 0)
    for split in splits:
        for item in listing.items[split]:
            if item.video_id not in unread_ids.get(split, set()):
                counts[item.label_text] = counts.get(item.label_text, 0) + 1
    return counts
