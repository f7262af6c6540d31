"""UCF-101: 13k YouTube clips as AVI files, 101 classes, three official train/test splits."""

from __future__ import annotations

from collections.abc import Sequence

from apache_beam.io.filesystems import FileSystems

from stm_keras.pipelines.datasets.base import (
    DatasetAdapter,
    Listing,
    SplitBuilder,
    annotation_lines,
    class_index,
    label_failure,
)
from stm_keras.pipelines.items import VIDEO, VideoItem

VIDEOS_DIR = "UCF-101"
LISTS_DIR = "ucfTrainTestlist"
LIST_FILES = {"train": "trainlist{:02d}.txt", "test": "testlist{:02d}.txt"}


class Ucf101(DatasetAdapter):
    """UCF-101 from its ``ucfTrainTestlist`` files."""

    name = "ucf101"
    splits = ("train", "test")
    uses_split_id = True
    direction_sensitive = False
    layout = f"""\
  {VIDEOS_DIR}/<Class>/v_<Class>_gXX_cYY.avi
  {LISTS_DIR}/classInd.txt          "1 ApplyEyeMakeup" per line
  {LISTS_DIR}/trainlist0{{1,2,3}}.txt  "<Class>/v_<Class>_gXX_cYY.avi <class number>" per line
  {LISTS_DIR}/testlist0{{1,2,3}}.txt   "<Class>/v_<Class>_gXX_cYY.avi" per line"""

    def load(self, data_dir: str, splits: Sequence[str], split_id: int) -> Listing:
        self.require_dir(data_dir)
        videos = self.require_dir(FileSystems.join(data_dir, VIDEOS_DIR))
        class_file = self.find_file(data_dir, [f"{LISTS_DIR}/classInd.txt"], "class index file")
        numbered = {}
        for location, text in annotation_lines(class_file):
            number, _, name = text.partition(" ")
            if not number.isdigit() or not name.strip():
                raise self.layout_error(f"{location}: expected '<number> <Class>', got {text!r}")
            numbered[int(number)] = name.strip()
        classes = [numbered[number] for number in sorted(numbered)]
        index = class_index(classes)
        items, failures = {}, {}
        for split in splits:
            relative = f"{LISTS_DIR}/{LIST_FILES[split].format(split_id)}"
            path = self.find_file(data_dir, [relative], f"{split} list of split {split_id}")
            builder = SplitBuilder(split)
            for location, text in annotation_lines(path, builder):
                self._add_row(builder, location, text, split, index, class_file, videos)
            items[split], failures[split] = builder.items, builder.failures
        return Listing(classes, items, failures)

    def _add_row(self, builder, location, text, split, index, class_file, videos) -> None:
        fields = text.split()
        expected = "<Class>/<video>.avi" + (" <class number>" if split == "train" else "")
        parts = fields[0].split("/") if fields else []
        if (
            len(parts) != 2
            or not parts[1]
            or len(fields) > 2
            or (split == "train" and len(fields) != 2)
        ):
            builder.fail(text, location, f"malformed row, expected '{expected}'")
            return
        folder, file_name = parts
        video_id = file_name.rsplit(".", 1)[0]
        if folder not in index:
            builder.fail(video_id, location, label_failure(folder, class_file))
            return
        if len(fields) == 2 and fields[1] != str(index[folder] + 1):
            builder.fail(
                video_id,
                location,
                f"class number {fields[1]} does not match folder '{folder}' in {class_file}",
            )
            return
        item = VideoItem(
            split=split,
            video_id=video_id,
            sources=(FileSystems.join(videos, folder, file_name),),
            kind=VIDEO,
            label_index=index[folder],
            label_text=folder,
        )
        builder.add(item, location)


ADAPTER = Ucf101()
