"""20BN-Something-Something v2: 220k object-interaction clips as VP9 WebM, 174 classes.

The class of a clip is its ``template`` with the brackets removed ("Putting [something] on
[something]" -> "Putting something on something"), as in the labels file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from apache_beam.io.filesystems import FileSystems

from stm_keras.pipelines.datasets.base import (
    NO_LABEL,
    DatasetAdapter,
    Listing,
    SplitBuilder,
    class_index,
    label_failure,
    read_file_bytes,
)
from stm_keras.pipelines.items import VIDEO, VideoItem

VIDEOS_DIR = "20bn-something-something-v2"
PREFIX = "something-something-v2"


def class_of_template(template: str) -> str:
    """The class name of a template: the template without ``[`` and ``]``."""
    return template.replace("[", "").replace("]", "")


def _is_utf8(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class SomethingV2(DatasetAdapter):
    """Something-Something v2 from its JSON annotations."""

    name = "something-v2"
    splits = ("train", "validation", "test")
    # "Pushing something from left to right": a flip turns it into another class.
    direction_sensitive = True
    layout = f"""\
  {VIDEOS_DIR}/<id>.webm                (VP9, 240 px high)
  {PREFIX}-labels.json       {{"class name": "index", ...}}
  {PREFIX}-train.json        [{{"id", "label", "template", "placeholders"}}, ...]
  {PREFIX}-validation.json   same as train
  {PREFIX}-test.json         [{{"id"}}, ...]"""

    def load(self, data_dir: str, splits: Sequence[str], split_id: int) -> Listing:
        self.require_dir(data_dir)
        videos = self.require_dir(FileSystems.join(data_dir, VIDEOS_DIR))
        labels_path = self.find_file(data_dir, [f"{PREFIX}-labels.json"], "labels file")
        labels = self._load_json(labels_path)
        try:
            classes = [name for name, _ in sorted(labels.items(), key=lambda kv: int(kv[1]))]
        except (AttributeError, TypeError, ValueError):
            raise self.layout_error(
                f'{labels_path}: expected {{"class name": "index", ...}}'
            ) from None
        index = class_index(classes)
        paths = {
            split: self.find_file(data_dir, [f"{PREFIX}-{split}.json"], f"{split} annotation file")
            for split in splits
        }
        items, failures = {}, {}
        for split, path in paths.items():
            entries = self._load_json(path)
            if not isinstance(entries, list):
                raise self.layout_error(f"{path}: expected a JSON list of entries")
            builder = SplitBuilder(split)
            for number, entry in enumerate(entries):
                location = f"{path}[{number}]"
                self._add_entry(builder, location, entry, split, index, labels_path, videos)
            items[split], failures[split] = builder.items, builder.failures
        return Listing(classes, items, failures)

    def _load_json(self, path: str) -> Any:
        text = read_file_bytes(path).decode("utf-8", "surrogateescape")
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise self.layout_error(f"{path}: not valid JSON ({error})") from None

    def _add_entry(
        self,
        builder: SplitBuilder,
        location: str,
        entry: Any,
        split: str,
        index: dict[str, int],
        labels_path: str,
        videos: str,
    ) -> None:
        shown = json.dumps(entry, ensure_ascii=True)[:200]
        if not _is_utf8(entry):
            builder.fail(shown, location, "annotation entry is not UTF-8")
            return
        labelled = split != "test"
        video_id = entry.get("id") if isinstance(entry, dict) else None
        template = entry.get("template") if isinstance(entry, dict) else None
        if (
            not isinstance(video_id, str | int)
            or not str(video_id).strip()
            or "/" in str(video_id)
            or (labelled and not isinstance(template, str))
        ):
            expected = '{"id", "template", ...}' if labelled else '{"id"}'
            builder.fail(shown, location, f"malformed entry, expected {expected}")
            return
        video_id = str(video_id).strip()
        label = class_of_template(template) if labelled else ""
        if labelled and label not in index:
            builder.fail(video_id, location, label_failure(label, labels_path))
            return
        item = VideoItem(
            split=split,
            video_id=video_id,
            sources=(FileSystems.join(videos, f"{video_id}.webm"),),
            kind=VIDEO,
            label_index=index[label] if labelled else NO_LABEL,
            label_text=label,
        )
        builder.add(item, location)


ADAPTER = SomethingV2()
