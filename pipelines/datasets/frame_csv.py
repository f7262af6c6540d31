"""The 20BN frame-folder layout shared by Jester and Something-Something v1.

``<frames-dir>/<id>/00001.jpg …`` with a labels file (one class name per line) and
``<id>;<class name>`` split files (the test file lists ids only).
"""

from __future__ import annotations

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
from stm_keras.pipelines.items import FRAMES, VideoItem

HEADER_IDS = ("id", "video_id")


class FrameFolderCsvDataset(DatasetAdapter):
    """A dataset of JPEG frame folders listed by ``;``-separated CSV files.

    Args:
        name: str. The ``--dataset`` name.
        frames_dir: str. Folder of the frame folders, relative to the data dir.
        labels_files: candidate paths of the labels file, relative to the data dir.
        split_files: per split, candidate paths of its CSV file.
        fps: float. Frame rate of the frames.
        layout: str. The native layout, for messages.
        direction_sensitive: bool. Whether a horizontal flip can change a label.
    """

    splits = ("train", "validation", "test")

    def __init__(
        self,
        name: str,
        frames_dir: str,
        labels_files: Sequence[str],
        split_files: dict[str, Sequence[str]],
        fps: float,
        layout: str,
        direction_sensitive: bool,
    ):
        self.name = name
        self.frames_dir = frames_dir
        self.labels_files = tuple(labels_files)
        self.split_files = dict(split_files)
        self.fps = fps
        self.layout = layout
        self.direction_sensitive = direction_sensitive

    def load(self, data_dir: str, splits: Sequence[str], split_id: int) -> Listing:
        self.require_dir(data_dir)
        frames_root = self.require_dir(FileSystems.join(data_dir, self.frames_dir))
        labels_path = self.find_file(data_dir, self.labels_files, "labels file")
        classes = [text for _, text in annotation_lines(labels_path)]
        index = class_index(classes)
        split_paths = {
            split: self.find_file(data_dir, self.split_files[split], f"{split} annotation file")
            for split in splits
        }
        items, failures = {}, {}
        for split, path in split_paths.items():
            builder = SplitBuilder(split)
            for location, text in annotation_lines(path, builder):
                self._add_row(builder, location, text, index, frames_root, labels_path, split)
            items[split], failures[split] = builder.items, builder.failures
        return Listing(classes, items, failures)

    def _add_row(
        self,
        builder: SplitBuilder,
        location: str,
        text: str,
        index: dict[str, int],
        frames_root: str,
        labels_path: str,
        split: str,
    ) -> None:
        video_id, _, label = (part.strip() for part in text.partition(";"))
        if video_id.lower() in HEADER_IDS and location.endswith(":1"):
            return
        labelled = split != "test"
        if not video_id or "/" in video_id or (labelled and not label):
            expected = "<id>;<class name>" if labelled else "<id>"
            builder.fail(text, location, f"malformed row, expected '{expected}'")
            return
        if labelled and label not in index:
            builder.fail(video_id, location, label_failure(label, labels_path))
            return
        item = VideoItem(
            split=split,
            video_id=video_id,
            sources=(FileSystems.join(frames_root, video_id),),
            kind=FRAMES,
            label_index=index[label] if labelled else NO_LABEL,
            label_text=label if labelled else "",
            fps=self.fps,
        )
        builder.add(item, location)
