"""Your own videos in one folder per class: ``DATA_DIR/<class name>/<video file or frame folder>``.

Optionally under split folders (``DATA_DIR/train/<class>/…``, ``DATA_DIR/val/<class>/…``); without
them the stratified split of :mod:`own_videos` chooses. Every entry of a class folder is an input:
a video file, a folder of frames, or a failure naming why it is neither.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence

from apache_beam.io.filesystems import FileSystems

from stm_keras.pipelines.datasets.base import Listing, label_failure
from stm_keras.pipelines.datasets.own_videos import (
    IMAGE_EXTENSIONS,
    SPLIT_NAMES,
    VIDEO_EXTENSIONS,
    OwnVideoAdapter,
    OwnVideoCollector,
)
from stm_keras.pipelines.items import FRAMES, VIDEO, VideoItem


class FolderTree:
    """The folders and files under a data directory, relative to it (``/``-separated).

    Local directories are read with ``os.scandir`` (so empty folders are seen); object stores
    such as ``gs://`` have no folders, so their objects are listed once (``DATA_DIR/**``) and the
    folders inferred from the object names.

    Args:
        root: str. The data directory.
        objects: bool or None. List objects instead of scanning folders; None to do so for
            URLs (``gs://...``) only.
    """

    def __init__(self, root: str, objects: bool | None = None):
        self.root = root.rstrip("/")
        self._objects: dict[str, tuple[set[str], set[str]]] | None = None
        if objects or (objects is None and "://" in root):
            self._objects = self._list_objects()

    def children(self, relative: str) -> tuple[list[str], list[str]]:
        """Sorted ``(folder names, file names)`` directly in ``relative`` ("" for the root);
        names starting with ``.`` (``.DS_Store``, ``.ipynb_checkpoints``) are left out."""
        if self._objects is not None:
            folders, files = self._objects.get(relative, (set(), set()))
        else:
            folders, files = set(), set()
            with os.scandir(os.path.join(self.root, relative) if relative else self.root) as it:
                for entry in it:
                    (folders if entry.is_dir() else files).add(entry.name)
        return (
            sorted(name for name in folders if not name.startswith(".")),
            sorted(name for name in files if not name.startswith(".")),
        )

    def path(self, relative: str) -> str:
        """The full path of ``relative``."""
        return FileSystems.join(self.root, relative) if relative else self.root

    def _list_objects(self) -> dict[str, tuple[set[str], set[str]]]:
        prefix = self.root + "/"
        pattern = FileSystems.join(self.root, "**")
        tree: dict[str, tuple[set[str], set[str]]] = {}
        for metadata in FileSystems.match([pattern])[0].metadata_list:
            if not metadata.path.startswith(prefix):
                continue
            relative = metadata.path[len(prefix) :]
            parts = [part for part in relative.split("/") if part]
            # Three levels (split / class / entry) are all the layout needs; frames are deeper.
            for depth, name in enumerate(parts[:3]):
                folders, files = tree.setdefault("/".join(parts[:depth]), (set(), set()))
                is_file = depth == len(parts) - 1 and not relative.endswith("/")
                (files if is_file else folders).add(name)
        return tree


class FoldersDataset(OwnVideoAdapter):
    """One folder per class, optionally under split folders."""

    name = "folders"
    layout = f"""\
  <class name>/<video>.mp4      a video file ({", ".join(VIDEO_EXTENSIONS)})
  <class name>/<video>/00001.jpg, 00002.jpg, ...   a folder of JPEG or PNG frames
  optionally under split folders: train/<class name>/..., val/<class name>/..., test/...
  (hidden names starting with '.' are skipped)"""

    def load(self, data_dir: str, splits: Sequence[str], split_id: int) -> Listing:
        self.require_dir(data_dir)
        tree = FolderTree(data_dir)
        roots = self._split_roots(tree)
        classes = self.fixed_classes()
        collector = OwnVideoCollector(classes, splits_given=roots[0][1] != "")
        known = set(classes) if classes is not None else None
        for root, split in roots:
            class_folders, files = tree.children(root)
            for name in files:
                if name.lower().endswith(VIDEO_EXTENSIONS):
                    relative = posixpath.join(root, name)
                    collector.fail(
                        relative,
                        tree.path(relative),
                        "video outside a class folder: move it into <class name>/",
                        split,
                    )
            for class_name in class_folders:
                folder = posixpath.join(root, class_name)
                self._add_class(tree, folder, class_name, split, collector, known)
        return collector.listing(splits, self.options)

    def _split_roots(self, tree: FolderTree) -> list[tuple[str, str]]:
        """``(folder, split)`` pairs: the split folders, or ``[("", "")]`` without them."""
        folders, _ = tree.children("")
        if not folders:
            raise self.layout_error(f"no class folders in {tree.root}")
        split_folders = [name for name in folders if name.lower() in SPLIT_NAMES]
        if len(split_folders) == len(folders) or "train" in (n.lower() for n in split_folders):
            others = sorted(set(folders) - set(split_folders))
            if others:
                raise self.layout_error(
                    f"{tree.root} has split folders ({', '.join(split_folders)}) and other "
                    f"folders ({', '.join(others)}); put every class folder under a split folder, "
                    "or use no split folders"
                )
            by_split: dict[str, str] = {}
            for name in split_folders:
                split = SPLIT_NAMES[name.lower()]
                if split in by_split:
                    raise self.layout_error(
                        f"{tree.root}: split folders {by_split[split]} and {name} are both "
                        f"'{split}'"
                    )
                by_split[split] = name
            return [(name, split) for split, name in sorted(by_split.items())]
        return [("", "")]

    def _add_class(
        self,
        tree: FolderTree,
        folder: str,
        class_name: str,
        split: str,
        collector: OwnVideoCollector,
        known: set[str] | None,
    ) -> None:
        """Adds every entry of one class folder as a video or a failure."""
        if known is None:
            collector.add_class(class_name)
        frame_folders, files = tree.children(folder)
        entries = [(name, FRAMES) for name in frame_folders] + [(name, VIDEO) for name in files]
        for name, kind in sorted(entries):
            relative = posixpath.join(folder, name)
            source = tree.path(relative)
            extension = os.path.splitext(name)[1].lower()
            if known is not None and class_name not in known:
                reason = label_failure(class_name, self.options.classes_file)
            elif kind == VIDEO and extension in IMAGE_EXTENSIONS:
                reason = (
                    f"a single image ('{extension}'), not a video: put the frames of each video "
                    "in a folder of their own"
                )
            elif kind == VIDEO and extension not in VIDEO_EXTENSIONS:
                reason = (
                    f"unsupported file type '{extension or name}': expected a video file "
                    f"({', '.join(VIDEO_EXTENSIONS)}) or a folder of frames"
                )
            else:
                item = VideoItem(
                    split=split,
                    video_id=relative,
                    sources=(source,),
                    kind=kind,
                    label_index=-1,
                    label_text=class_name,
                )
                collector.add(item, source)
                continue
            collector.fail(relative, source, reason, split)


ADAPTER = FoldersDataset()
