"""Your own videos listed in a manifest: ``path,label[,split][,start,end]`` per row.

The manifest is CSV, or TSV when its name ends in ``.tsv`` or its first line holds a tab. A
header row naming the columns is optional; without one, the number of columns most rows have
says which columns there are (2: path,label; 3: +split; 4: +start,end; 5: all). One long video
may yield several labelled segments (rows with ``start``/``end`` seconds). Every row is written
or becomes a failure whose ``source`` is ``manifest:line``; read failures of a listed video name
that row too.
"""

from __future__ import annotations

import collections
import csv
import posixpath
from collections.abc import Sequence
from typing import Any

from apache_beam.io.filesystems import FileSystems

from stm_keras.pipelines.datasets.base import Listing, annotation_lines, label_failure
from stm_keras.pipelines.datasets.own_videos import (
    SPLIT_NAMES,
    VIDEO_EXTENSIONS,
    OwnVideoAdapter,
    OwnVideoCollector,
)
from stm_keras.pipelines.items import FRAMES, VIDEO, VideoItem, seconds_text, segment_id

COLUMNS = ("path", "label", "split", "start", "end")
# Columns of a manifest without a header, by the number of fields most rows have.
COLUMNS_BY_COUNT = {
    2: ("path", "label"),
    3: ("path", "label", "split"),
    4: ("path", "label", "start", "end"),
    5: COLUMNS,
}
EXPECTED = "path,label[,split][,start,end]"


class CsvManifestDataset(OwnVideoAdapter):
    """Videos, frame folders and segments of videos listed by a CSV or TSV manifest."""

    name = "csv"
    layout = f"""\
  --manifest FILE (CSV; TSV if named .tsv or tab-separated), one video or segment per row:
    {EXPECTED}      (an optional first row names the columns)
  path    relative to --data-dir (not outside it), or absolute (/..., gs://...); a video
          file ({", ".join(VIDEO_EXTENSIONS)}) or a frame folder (no extension)
  label   a class name; with --classes FILE also a 0-based line number of that file
  split   train, val (or validation), test; without the column, --val-fraction chooses
  start, end   seconds: the row is the segment [start, end) of the video"""

    def recorded_options(self) -> dict[str, Any]:
        return {**super().recorded_options(), "manifest": self.options.manifest}

    def load(self, data_dir: str, splits: Sequence[str], split_id: int) -> Listing:
        manifest = self.options.manifest
        if not manifest:
            raise self.layout_error("--dataset csv needs --manifest FILE")
        self.require_dir(data_dir)
        if not FileSystems.exists(manifest):
            raise self.layout_error(f"manifest not found: {manifest}")
        classes = self.fixed_classes()
        collector = OwnVideoCollector(classes, splits_given=False)
        columns, rows = self._columns(manifest, self._rows(manifest, collector))
        collector.splits_given = "split" in columns
        for location, fields, text in rows:
            self._add_row(collector, location, fields, text, columns, data_dir, classes)
        return collector.listing(splits, self.options)

    def _rows(
        self, manifest: str, collector: OwnVideoCollector
    ) -> list[tuple[str, list[str], str]]:
        """``(file:line, fields, text)`` of every row that is not blank or a ``#`` comment."""
        delimiter = "\t" if manifest.lower().endswith((".tsv", ".tab")) else None
        rows = []
        for location, text in annotation_lines(manifest, collector):
            if text.startswith("#"):
                continue
            if delimiter is None:
                delimiter = "\t" if "\t" in text else ","
            rows.append((location, next(csv.reader([text], delimiter=delimiter)), text))
        return rows

    def _columns(
        self, manifest: str, rows: list[tuple[str, list[str], str]]
    ) -> tuple[tuple[str, ...], list[tuple[str, list[str], str]]]:
        """The manifest's columns and its data rows (without the header row).

        Raises:
            LayoutError: for a header with unknown or repeated columns, or rows whose usual
                number of fields matches no column set.
        """
        if rows:
            names = tuple(field.strip().lower() for field in rows[0][1])
            if "path" in names or "label" in names:
                unknown = [name for name in names if name not in COLUMNS]
                missing = [name for name in ("path", "label") if name not in names]
                if unknown or missing or len(set(names)) != len(names):
                    raise self.layout_error(
                        f"{rows[0][0]}: header {','.join(names)} does not name the columns "
                        f"{EXPECTED} (each at most once)"
                    )
                if len(rows) == 1:
                    raise self.layout_error(f"manifest {manifest} lists no videos")
                return names, rows[1:]
        counts = collections.Counter(len(fields) for _, fields, _ in rows)
        if not counts:
            raise self.layout_error(f"manifest {manifest} lists no videos")
        # The most common field count; on a tie, the larger (a short row is the usual mistake).
        count = max(counts, key=lambda n: (counts[n], n))
        if count not in COLUMNS_BY_COUNT:
            raise self.layout_error(
                f"{manifest}: most rows have {count} columns; expected {EXPECTED} "
                "(2 to 5 columns), or a header row naming them"
            )
        return COLUMNS_BY_COUNT[count], rows

    def _add_row(
        self,
        collector: OwnVideoCollector,
        location: str,
        fields: list[str],
        text: str,
        columns: tuple[str, ...],
        data_dir: str,
        classes: list[str] | None,
    ) -> None:
        if len(fields) != len(columns):
            collector.fail(
                text,
                location,
                f"expected {len(columns)} columns ({','.join(columns)}), got {len(fields)}",
            )
            return
        row = dict(zip(columns, (field.strip() for field in fields), strict=True))
        split = ""
        if "split" in row:
            split = SPLIT_NAMES.get(row["split"].lower(), "")
            if not split:
                collector.fail(
                    text,
                    location,
                    f"unknown split '{row['split']}': expected train, val, validation or test",
                )
                return
        if not row["path"]:
            collector.fail(text, location, "no path", split)
            return
        path = row["path"].rstrip("/") or row["path"]
        try:
            start, end = _seconds(row.get("start", "")), _seconds(row.get("end", ""))
        except ValueError as error:
            collector.fail(text, location, str(error), split)
            return
        shown_path = path if _is_absolute(path) else posixpath.normpath(path)
        video_id = segment_id(shown_path, start, end)
        reason, source, kind = self._check(row, path, start, end, data_dir)
        if reason is None:
            label, reason = self._label(row["label"], classes)
        if reason is not None:
            collector.fail(video_id, location, reason, split)
            return
        item = VideoItem(
            split=split,
            video_id=video_id,
            sources=(source,),
            kind=kind,
            label_index=-1,
            label_text=label,
            start=start,
            end=end,
            listed_at=location,
        )
        collector.add(item, location)

    def _check(
        self,
        row: dict[str, str],
        path: str,
        start: float | None,
        end: float | None,
        data_dir: str,
    ) -> tuple[str | None, str, str]:
        """``(failure reason or None, full path, kind)`` of a row's path and segment."""
        if start is not None and end is not None and start >= end:
            reason = f"segment start {seconds_text(start)} s is not before its end"
            return f"{reason} {seconds_text(end)} s", "", ""
        if _is_absolute(path):
            source = path
        else:
            relative = posixpath.normpath(path)
            if relative == ".." or relative.startswith("../"):
                return (
                    f"path '{row['path']}' is outside --data-dir {data_dir} "
                    "(give files elsewhere as absolute paths)",
                    "",
                    "",
                )
            source = FileSystems.join(data_dir, relative)
        extension = posixpath.splitext(posixpath.basename(path))[1].lower()
        if not extension or row["path"].endswith("/"):
            if start is not None or end is not None:
                return f"start/end need a video file; '{row['path']}' is a frame folder", "", ""
            return None, source, FRAMES
        if extension not in VIDEO_EXTENSIONS:
            return (
                f"unsupported file type '{extension}': expected a video file "
                f"({', '.join(VIDEO_EXTENSIONS)}) or a frame folder (no extension)",
                "",
                "",
            )
        return None, source, VIDEO

    def _label(self, label: str, classes: list[str] | None) -> tuple[str, str | None]:
        """``(class name, None)``, or ``("", failure reason)``."""
        if not label:
            return "", "no label"
        if classes is None or label in classes:
            return label, None
        if label.isdigit():
            if int(label) < len(classes):
                return classes[int(label)], None
            return "", (
                f"label {label} is not a line of {self.options.classes_file} "
                f"(0 to {len(classes) - 1})"
            )
        return "", label_failure(label, self.options.classes_file)


def _is_absolute(path: str) -> bool:
    return path.startswith("/") or "://" in path


def _seconds(text: str) -> float | None:
    """Seconds from a ``start``/``end`` cell; None when empty.

    Raises:
        ValueError: naming the text, when it is not a number of seconds >= 0.
    """
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"start/end must be seconds >= 0, got '{text}'")
    return value


ADAPTER = CsvManifestDataset()
