"""What every dataset adapter provides, and helpers for reading native annotation files.

An adapter checks a data directory for the dataset's native layout (a :class:`LayoutError`, i.e.
a usage error, when it is not there) and turns the annotation files into a :class:`Listing`: the
class names in index order and, per split, the videos to read plus the rows it could not use.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from stm_keras.data import schema
from stm_keras.pipelines.items import Failure, LayoutError, VideoItem

NO_LABEL = schema.NO_LABEL


@dataclasses.dataclass
class Listing:
    """A dataset's classes and, per split, the videos to read and the rows that failed already.

    Attributes:
        classes: list of str. Class names in index order.
        items: dict. Per split to write, the videos to read.
        failures: dict. Per split to write, the rows that failed while listing.
        info: dict. Keys the adapter adds to ``dataset_info.json`` (e.g. the split of every
            video where the adapter chose the splits).
        notes: list of str. Lines for the job's log (e.g. an option's default that was used).
    """

    classes: list[str]
    items: dict[str, list[VideoItem]]
    failures: dict[str, list[Failure]]
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)


class SplitBuilder:
    """Collects the items and failures of one split, turning repeated video ids into failures."""

    def __init__(self, split: str):
        self.split = split
        self.items: list[VideoItem] = []
        self.failures: list[Failure] = []
        self._ids: set[str] = set()

    def add(self, item: VideoItem, location: str) -> None:
        """Adds ``item`` listed at ``location`` (``file:line``) unless its id was listed before."""
        if item.video_id in self._ids:
            self.fail(item.video_id, location, f"duplicate video id '{item.video_id}'")
            return
        self._ids.add(item.video_id)
        self.items.append(item)

    def fail(self, video_id: str, source: str, reason: str) -> None:
        """Records an input that cannot be written."""
        self.failures.append(Failure(self.split, video_id, source, reason))


class FailureSink(Protocol):
    """Where annotation rows that cannot be used go (a :class:`SplitBuilder`, say)."""

    def fail(self, video_id: str, source: str, reason: str) -> None: ...


class DatasetAdapter(abc.ABC):
    """Reads one dataset's native layout.

    Attributes:
        name: str. The ``--dataset`` name.
        splits: tuple of str. The splits the dataset ships.
        layout: str. The native layout, shown in usage errors and ``--help``.
        uses_split_id: bool. Whether ``--split-id`` (1-3) selects among official splits.
        direction_sensitive: bool. Whether a horizontal flip can change a video's label
            ("Swiping Left" becomes "Swiping Right"), so training must not flip. Recorded in
            ``dataset_info.json``.
    """

    name: str
    splits: tuple[str, ...]
    layout: str
    direction_sensitive: bool
    uses_split_id: bool = False

    @abc.abstractmethod
    def load(self, data_dir: str, splits: Sequence[str], split_id: int) -> Listing:
        """Lists the classes and the videos of ``splits``.

        Raises:
            LayoutError: when the data directory or an annotation file is missing.
        """

    def layout_error(self, message: str) -> LayoutError:
        """A :class:`LayoutError` whose message ends with the expected layout."""
        return LayoutError(f"{message}\nExpected layout of '{self.name}':\n{self.layout}")

    def require_dir(self, path: str) -> str:
        """Returns ``path`` if it is an existing directory, else raises a layout error."""
        if "://" not in path and not FileSystems.exists(path):
            raise self.layout_error(f"directory not found: {path}")
        return path

    def find_file(self, data_dir: str, candidates: Sequence[str], what: str) -> str:
        """The first of ``candidates`` (relative to ``data_dir``) that exists.

        Raises:
            LayoutError: naming every path looked for.
        """
        paths = [FileSystems.join(data_dir, candidate) for candidate in candidates]
        for path in paths:
            if FileSystems.exists(path):
                return path
        raise self.layout_error(f"{what} not found: looked for {' and '.join(paths)}")


def read_file_bytes(path: str) -> bytes:
    """The bytes of an annotation file."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


def annotation_lines(path: str, builder: FailureSink | None = None) -> Iterator[tuple[str, str]]:
    """Yields ``(file:line, text)`` for each non-blank line of a text annotation file.

    Lines that are not UTF-8 become failures of ``builder`` (or raise when there is none), so one
    bad row never stops the job.
    """
    for number, raw in enumerate(read_file_bytes(path).splitlines(), start=1):
        location = f"{path}:{number}"
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            shown = raw.decode("utf-8", "backslashreplace").strip()
            if builder is None:
                raise LayoutError(f"{location}: not UTF-8: {shown}") from None
            builder.fail(shown, location, "annotation row is not UTF-8")
            continue
        if text:
            yield location, text


def class_index(classes: Sequence[str]) -> dict[str, int]:
    """Maps each class name to its index (the first occurrence wins)."""
    index: dict[str, int] = {}
    for i, name in enumerate(classes):
        index.setdefault(name, i)
    return index


def label_failure(label: str, label_source: str) -> str:
    """The failure reason for a label missing from the dataset's classes."""
    return f"label '{label}' is not in {label_source}"
