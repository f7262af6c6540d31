"""HMDB-51: 7k movie and web clips as AVI files, 51 classes, three official train/test splits.

Each class has a split file per official split marking every clip 1 (train), 2 (test) or 0 (not
used). Classes are the sorted class names of the split files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from apache_beam.io.filesystems import FileSystems

from stm_keras.pipelines.datasets.base import (
    DatasetAdapter,
    Listing,
    SplitBuilder,
    annotation_lines,
)
from stm_keras.pipelines.items import VIDEO, VideoItem

SPLITS_DIR = "testTrainMulti_7030_splits"
SUFFIX = "_test_split{}.txt"
MARKS = {"1": "train", "2": "test", "0": None}


class Hmdb51(DatasetAdapter):
    """HMDB-51 from its ``testTrainMulti_7030_splits`` files."""

    name = "hmdb51"
    splits = ("train", "test")
    uses_split_id = True
    direction_sensitive = False
    layout = f"""\
  <class>/<video>.avi
  {SPLITS_DIR}/<class>{SUFFIX.format("{1,2,3}")}   "<video>.avi <0|1|2>" per line
                                          (1 train, 2 test, 0 unused)"""

    def load(self, data_dir: str, splits: Sequence[str], split_id: int) -> Listing:
        self.require_dir(data_dir)
        split_dir = self.require_dir(FileSystems.join(data_dir, SPLITS_DIR))
        suffix = SUFFIX.format(split_id)
        pattern = FileSystems.join(split_dir, f"*{suffix}")
        split_files = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
        if not split_files:
            raise self.layout_error(f"split files not found: looked for {pattern}")
        classes = [os.path.basename(path)[: -len(suffix)] for path in split_files]
        for path in split_files:
            try:
                path.encode("utf-8")
            except UnicodeEncodeError:
                raise self.layout_error(f"split file name is not UTF-8: {path!r}") from None
        builders = {split: SplitBuilder(split) for split in splits}
        # A row whose mark cannot be read belongs to no known split; count it in the first one.
        malformed = builders[splits[0]]
        for label_index, (label, path) in enumerate(zip(classes, split_files, strict=True)):
            for location, text in annotation_lines(path, malformed):
                fields = text.split()
                if len(fields) != 2 or fields[1] not in MARKS or "/" in fields[0]:
                    malformed.fail(text, location, "malformed row, expected '<video>.avi <0|1|2>'")
                    continue
                split = MARKS[fields[1]]
                if split not in builders:
                    continue
                item = VideoItem(
                    split=split,
                    video_id=fields[0].rsplit(".", 1)[0],
                    sources=(FileSystems.join(data_dir, label, fields[0]),),
                    kind=VIDEO,
                    label_index=label_index,
                    label_text=label,
                )
                builders[split].add(item, location)
        return Listing(
            classes,
            {split: b.items for split, b in builders.items()},
            {split: b.failures for split, b in builders.items()},
        )


ADAPTER = Hmdb51()
