"""The units of work the preprocessing job passes around: videos to read and failures.

Adapters turn a dataset's annotation files into :class:`VideoItem` objects (and
:class:`Failure` objects for annotation rows they cannot use); readers turn an item into frames or
raise :class:`BadInputError`. Both travel between Beam workers as JSON dictionaries.
"""

from __future__ import annotations

import dataclasses
from typing import Any

FRAMES = "frames"
VIDEO = "video"


class BadInputError(Exception):
    """An input video that cannot be written; the message is the reason for the failure list."""


class LayoutError(Exception):
    """The data directory does not have the dataset's native layout (a usage error)."""


@dataclasses.dataclass(frozen=True)
class VideoItem:
    """One video listed by a dataset's annotations, not read yet.

    Args:
        split: str. ``train``, ``validation`` or ``test``.
        video_id: str. The dataset's id of the video.
        sources: tuple of str. Candidate paths (frame folder or video file); the first that
            exists is read. Datasets whose copies differ in naming list several.
        kind: str. ``FRAMES`` for a folder of JPEG or PNG frames, ``VIDEO`` for an encoded
            video.
        label_index: int. Class index, ``schema.NO_LABEL`` for unlabelled splits.
        label_text: str. Class name ("" for unlabelled splits).
        fps: float. Frame rate of a frame folder (videos carry their own). Defaults to 0.
        start: float or None. Seconds into a video where the clip starts; None for the start
            of the video. Defaults to None.
        end: float or None. Seconds into a video where the clip ends (the frame at ``end`` is
            not included); None for the end of the video. Defaults to None.
        listed_at: str. Where the annotations list the video (``file:line``) when read failures
            should name that row, as for a manifest; "" otherwise. Defaults to "".
    """

    split: str
    video_id: str
    sources: tuple[str, ...]
    kind: str
    label_index: int
    label_text: str
    fps: float = 0.0
    start: float | None = None
    end: float | None = None
    listed_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "sources": list(self.sources)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoItem:
        return cls(**{**data, "sources": tuple(data["sources"])})


def segment_id(path: str, start: float | None, end: float | None) -> str:
    """The video id of a clip cut from ``path``: ``<path>#<start>-<end>`` in seconds.

    An open end is left empty (``clip.mp4#5-``); without start and end the id is the path.
    """
    if start is None and end is None:
        return path
    return f"{path}#{seconds_text(start or 0.0)}-{'' if end is None else seconds_text(end)}"


def seconds_text(seconds: float) -> str:
    """Seconds as short text: ``2``, ``2.5``, ``0.24`` (at most millisecond precision)."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


@dataclasses.dataclass(frozen=True)
class Failure:
    """One input that could not be written.

    Args:
        split: str. The split the input belongs to.
        video_id: str. The video id, or the raw text of an annotation row that has none.
        source: str. The path read (or ``annotation_file:line``).
        reason: str. Why it failed, for a person to act on.
    """

    split: str
    video_id: str
    source: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.video_id, "source": self.source, "reason": self.reason}

    @classmethod
    def from_json(cls, split: str, data: dict[str, Any]) -> Failure:
        return cls(split, data["id"], data["source"], data["reason"])
