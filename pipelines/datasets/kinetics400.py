"""Kinetics-400: 10 s YouTube clips as MP4 files, 400 classes.

Classes are the sorted label names of ``train.csv`` (the usual convention: the dataset ships no
labels file). Clips missing from a copy, which is common as videos vanish from YouTube, become
failures, not errors.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence

from apache_beam.io.filesystems import FileSystems

from stm_keras.pipelines.datasets.base import (
    NO_LABEL,
    DatasetAdapter,
    Listing,
    SplitBuilder,
    annotation_lines,
    class_index,
    label_failure,
)
from stm_keras.pipelines.items import VIDEO, VideoItem

CSV_FILES = {
    "train": ("train.csv",),
    "validation": ("validate.csv", "val.csv", "validation.csv"),
    "test": ("test.csv",),
}
SPLIT_DIRS = {
    "train": ("train",),
    "validation": ("val", "validate", "validation"),
    "test": ("test",),
}
COLUMNS = ("label", "youtube_id", "time_start", "time_end", "split")


class Kinetics400(DatasetAdapter):
    """Kinetics-400 from its CSV annotations."""

    name = "kinetics400"
    splits = ("train", "validation", "test")
    direction_sensitive = False
    layout = """\
  train/<class name>/<youtube_id>_<start:06d>_<end:06d>.mp4   (also train/<id>.mp4)
  val/<class name>/...            (or validate/, validation/)
  test/<class name>/...           (or test/<id>.mp4)
  train.csv, validate.csv, test.csv   label,youtube_id,time_start,time_end,split"""

    def load(self, data_dir: str, splits: Sequence[str], split_id: int) -> Listing:
        self.require_dir(data_dir)
        train_csv = self.find_file(data_dir, CSV_FILES["train"], "train annotation file")
        # Rows that cannot be read are reported when their own split is listed.
        rows = self._rows(train_csv, SplitBuilder("train"))
        classes = sorted({row["label"] for _, row, _ in rows if row and row.get("label")})
        index = class_index(classes)
        items, failures = {}, {}
        for split in splits:
            path = self.find_file(data_dir, CSV_FILES[split], f"{split} annotation file")
            split_dirs = [FileSystems.join(data_dir, d) for d in SPLIT_DIRS[split]]
            existing = [d for d in split_dirs if FileSystems.exists(d)]
            if not existing:
                raise self.layout_error(
                    f"{split} video folder not found: looked for {' and '.join(split_dirs)}"
                )
            builder = SplitBuilder(split)
            for location, row, text in self._rows(path, builder):
                self._add_row(builder, location, row, text, split, index, train_csv, existing[0])
            items[split], failures[split] = builder.items, builder.failures
        return Listing(classes, items, failures)

    def _rows(self, path: str, builder: SplitBuilder | None = None):
        """Yields ``(location, row dict or None if malformed, text)`` for each data row."""
        columns = COLUMNS
        for location, text in annotation_lines(path, builder):
            fields = next(csv.reader([text]))
            if "youtube_id" in fields:
                columns = tuple(fields)
                continue
            if len(fields) != len(columns):
                yield location, None, text
                continue
            yield location, dict(zip(columns, (f.strip() for f in fields), strict=True)), text

    def _add_row(self, builder, location, row, text, split, index, train_csv, split_dir) -> None:
        try:
            youtube_id = row["youtube_id"]
            start, end = int(float(row["time_start"])), int(float(row["time_end"]))
            if not youtube_id or "/" in youtube_id:
                raise ValueError(youtube_id)
        except (KeyError, TypeError, ValueError):
            builder.fail(text, location, f"malformed row, expected '{','.join(COLUMNS)}'")
            return
        label = row.get("label", "")
        if label and label not in index:
            builder.fail(
                f"{youtube_id}_{start:06d}_{end:06d}",
                location,
                label_failure(label, f"the classes of {train_csv}"),
            )
            return
        if not label and split != "test":
            builder.fail(text, location, "malformed row: no label")
            return
        video_id = f"{youtube_id}_{start:06d}_{end:06d}"
        name = f"{video_id}.mp4"
        folders = [label, label.replace(" ", "_")] if label else []
        sources = [FileSystems.join(split_dir, folder, name) for folder in dict.fromkeys(folders)]
        sources.append(FileSystems.join(split_dir, name))
        item = VideoItem(
            split=split,
            video_id=video_id,
            sources=tuple(sources),
            kind=VIDEO,
            label_index=index[label] if label else NO_LABEL,
            label_text=label,
        )
        builder.add(item, location)


ADAPTER = Kinetics400()
