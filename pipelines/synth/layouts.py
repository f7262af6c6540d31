"""Writes synthetic datasets in the native layout of each supported dataset.

``write_synthetic("jester", out, ...)`` renders clips (see :mod:`pipelines.synth.motion`) and
stores them as the dataset's publisher ships it: frame folders and CSVs for Jester and
Something-Something v1, VP9 WebM and JSON for Something-Something v2, MP4 and CSVs for
Kinetics-400, AVI and split files for UCF-101 and HMDB-51; and the two layouts for your own
videos: ``folders`` (class folders of MP4 files and JPEG frame folders, mixed) and ``csv`` (long
MP4 videos and a manifest of labelled segments). Output is deterministic for a seed.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

from stm_keras.pipelines.items import seconds_text, segment_id
from stm_keras.pipelines.synth import classes as class_lists
from stm_keras.pipelines.synth.motion import Motion, render_clip

JPEG_QUALITY = 90


@dataclasses.dataclass(frozen=True)
class SynthVideo:
    """One written video: where it is and what it shows (the test split's label included).

    ``split`` is "" in the layouts for your own videos, where preprocessing chooses it; a clip
    of the ``csv`` layout is the segment ``[start, end)`` seconds of the video at ``path``.
    """

    split: str
    video_id: str
    label: str
    path: str
    num_frames: int
    start: float | None = None
    end: float | None = None


@dataclasses.dataclass(frozen=True)
class _Clip:
    split: str
    class_index: int
    index_in_class: int
    frames: np.ndarray


@dataclasses.dataclass(frozen=True)
class Layout:
    """A dataset's synthetic layout: its classes, frame size, frame rate and writer."""

    classes: list[tuple[str, Motion]]
    height: int
    width: int
    fps: float
    write: Callable[[str, list[str], list[_Clip], float, int], list[SynthVideo]]


def split_of(index_in_class: int, videos_per_class: int) -> str:
    """About 80/10/10 train/validation/test, with at least one of each from 3 videos a class."""
    held_out = max(1, round(videos_per_class * 0.1)) if videos_per_class >= 3 else 0
    if index_in_class < held_out:
        return "validation"
    if index_in_class < 2 * held_out:
        return "test"
    return "train"


def encode_jpeg(frame: np.ndarray) -> bytes:
    """A JPEG file's bytes for one uint8 ``[H, W, 3]`` frame."""
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def write_frame_folder(folder: str, frames: np.ndarray) -> None:
    """Writes ``00001.jpg, 00002.jpg, ...`` into ``folder``."""
    os.makedirs(folder, exist_ok=True)
    for i, frame in enumerate(frames, start=1):
        with open(os.path.join(folder, f"{i:05d}.jpg"), "wb") as f:
            f.write(encode_jpeg(frame))


def video_codec(extension: str) -> str:
    """The PyAV encoder for a container, the dataset's own codec where this FFmpeg has it."""
    import av

    preferred = {".webm": ("libvpx-vp9", "libvpx"), ".mp4": ("libx264", "mpeg4")}
    for codec in preferred.get(extension, ("mpeg4",)):
        if codec in av.codecs_available:
            return codec
    return "mpeg4"


def write_video(path: str, frames: np.ndarray, fps: float) -> None:
    """Encodes uint8 ``[T, H, W, 3]`` frames to ``path`` with PyAV at high quality.

    One encoder thread keeps the bytes identical from run to run.
    """
    import av

    os.makedirs(os.path.dirname(path), exist_ok=True)
    codec = video_codec(os.path.splitext(path)[1])
    options = {"libx264": {"crf": "12"}, "libvpx-vp9": {"crf": "10", "b": "0"}}.get(codec, {})
    # bitexact: no random container UIDs or dates, so the same seed gives the same bytes.
    with av.open(path, mode="w", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream(codec, rate=int(fps), options=options)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.thread_count = 1
        if codec in ("mpeg4", "libvpx"):
            stream.bit_rate = 4_000_000
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _write_lines(path: str, lines: Sequence[str]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(f"{line}\n" for line in lines)


def _write_json(path: str, data: object) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)


def _numbered(clips: list[_Clip], seed: int) -> list[tuple[str, _Clip]]:
    """Numeric ids in a seeded random order, so annotation files are not sorted by class."""
    order = np.random.default_rng([seed, 1]).permutation(len(clips))
    return [(str(1 + int(order[i])), clip) for i, clip in enumerate(clips)]


def _frame_folder_writer(prefix: str, frames_dir: str, v1_names: bool):
    def write(
        root: str, names: list[str], clips: list[_Clip], fps: float, seed: int
    ) -> list[SynthVideo]:
        names = [class_lists.something_v1_name(n) if v1_names else n for n in names]
        _write_lines(os.path.join(root, f"{prefix}-labels.csv"), names)
        rows: dict[str, list[str]] = {"train": [], "validation": [], "test": []}
        videos = []
        for video_id, clip in _numbered(clips, seed):
            folder = os.path.join(root, frames_dir, video_id)
            write_frame_folder(folder, clip.frames)
            label = names[clip.class_index]
            rows[clip.split].append(video_id if clip.split == "test" else f"{video_id};{label}")
            videos.append(SynthVideo(clip.split, video_id, label, folder, len(clip.frames)))
        for split, split_rows in rows.items():
            _write_lines(os.path.join(root, f"{prefix}-{split}.csv"), split_rows)
        return videos

    return write


def _write_something_v2(
    root: str, names: list[str], clips: list[_Clip], fps: float, seed: int
) -> list[SynthVideo]:
    objects = ("a box", "a cup", "a pen", "a book", "a phone", "a shoe")
    _write_json(
        os.path.join(root, "something-something-v2-labels.json"),
        {class_lists.something_v1_name(n): str(i) for i, n in enumerate(names)},
    )
    entries: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    videos = []
    for video_id, clip in _numbered(clips, seed):
        path = os.path.join(root, "20bn-something-something-v2", f"{video_id}.webm")
        write_video(path, clip.frames, fps)
        template = names[clip.class_index]
        placeholders = [objects[(clip.index_in_class + k) % len(objects)] for k in range(2)]
        placeholders = placeholders[: template.count("[something]")]
        label = template
        for obj in placeholders:
            label = label.replace("[something]", obj, 1)
        entry = {"id": video_id}
        if clip.split != "test":
            entry.update(label=label.lower(), template=template, placeholders=placeholders)
        entries[clip.split].append(entry)
        videos.append(
            SynthVideo(
                clip.split,
                video_id,
                class_lists.something_v1_name(template),
                path,
                len(clip.frames),
            )
        )
    for split, split_entries in entries.items():
        _write_json(os.path.join(root, f"something-something-v2-{split}.json"), split_entries)
    return videos


def _youtube_id(rng: np.random.Generator) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), size=11))


def _write_kinetics(
    root: str, names: list[str], clips: list[_Clip], fps: float, seed: int
) -> list[SynthVideo]:
    folders = {"train": "train", "validation": "val", "test": "test"}
    csv_names = {"train": "train.csv", "validation": "validate.csv", "test": "test.csv"}
    csv_split = {"train": "train", "validation": "val", "test": "test"}
    rows: dict[str, list[str]] = {
        split: ["label,youtube_id,time_start,time_end,split"] for split in folders
    }
    videos = []
    rng = np.random.default_rng([seed, 2])
    for clip in clips:
        label = names[clip.class_index]
        youtube_id = _youtube_id(rng)
        start = int(rng.integers(0, 300))
        end = start + 10
        name = f"{youtube_id}_{start:06d}_{end:06d}.mp4"
        path = os.path.join(root, folders[clip.split], label, name)
        write_video(path, clip.frames, fps)
        quoted = f'"{label}"' if "," in label else label
        rows[clip.split].append(f"{quoted},{youtube_id},{start},{end},{csv_split[clip.split]}")
        videos.append(SynthVideo(clip.split, name[:-4], label, path, len(clip.frames)))
    for split, lines in rows.items():
        _write_lines(os.path.join(root, csv_names[split]), lines)
    return videos


def ucf_group(index_in_class: int) -> int:
    """Group 1-25 of a clip; official split k tests groups 7k-6 .. 7k."""
    return 1 + (index_in_class * 7) % 25


def _write_ucf101(
    root: str, names: list[str], clips: list[_Clip], fps: float, seed: int
) -> list[SynthVideo]:
    lists = os.path.join(root, "ucfTrainTestlist")
    _write_lines(os.path.join(lists, "classInd.txt"), [f"{i + 1} {n}" for i, n in enumerate(names)])
    train: dict[int, list[str]] = {1: [], 2: [], 3: []}
    test: dict[int, list[str]] = {1: [], 2: [], 3: []}
    videos = []
    for clip in clips:
        name = names[clip.class_index]
        group = ucf_group(clip.index_in_class)
        video_id = f"v_{name}_g{group:02d}_c{clip.index_in_class + 1:02d}"
        path = os.path.join(root, "UCF-101", name, f"{video_id}.avi")
        write_video(path, clip.frames, fps)
        for split_id in (1, 2, 3):
            relative = f"{name}/{video_id}.avi"
            if 7 * split_id - 6 <= group <= 7 * split_id:
                test[split_id].append(relative)
            else:
                train[split_id].append(f"{relative} {clip.class_index + 1}")
        split = "test" if group <= 7 else "train"
        videos.append(SynthVideo(split, video_id, name, path, len(clip.frames)))
    for split_id in (1, 2, 3):
        _write_lines(os.path.join(lists, f"trainlist{split_id:02d}.txt"), train[split_id])
        _write_lines(os.path.join(lists, f"testlist{split_id:02d}.txt"), test[split_id])
    return videos


def hmdb_mark(index_in_class: int, split_id: int) -> int:
    """HMDB split-file mark of a clip: 1 train, 2 test, 0 unused (about 60/30/10)."""
    if index_in_class % 10 == 9:
        return 0
    return 2 if (index_in_class + split_id) % 3 == 0 else 1


def _write_hmdb51(
    root: str, names: list[str], clips: list[_Clip], fps: float, seed: int
) -> list[SynthVideo]:
    marks: dict[tuple[str, int], list[str]] = {}
    videos = []
    for clip in clips:
        name = names[clip.class_index]
        video_id = f"synth_{name}_u_nm_np1_fr_med_{clip.index_in_class}"
        path = os.path.join(root, name, f"{video_id}.avi")
        write_video(path, clip.frames, fps)
        for split_id in (1, 2, 3):
            mark = hmdb_mark(clip.index_in_class, split_id)
            marks.setdefault((name, split_id), []).append(f"{video_id}.avi {mark} ")
        mark = hmdb_mark(clip.index_in_class, 1)
        if mark:
            split = "train" if mark == 1 else "test"
            videos.append(SynthVideo(split, video_id, name, path, len(clip.frames)))
    for (name, split_id), lines in marks.items():
        split_dir = os.path.join(root, "testTrainMulti_7030_splits")
        _write_lines(os.path.join(split_dir, f"{name}_test_split{split_id}.txt"), lines)
    return videos


def _write_folders(
    root: str, names: list[str], clips: list[_Clip], fps: float, seed: int
) -> list[SynthVideo]:
    """``<class>/clip_<j>.mp4`` for even ``j``, ``<class>/clip_<j>/00001.jpg …`` for odd."""
    videos = []
    for clip in clips:
        label = names[clip.class_index]
        name = f"clip_{clip.index_in_class:03d}"
        if clip.index_in_class % 2 == 0:
            name += ".mp4"
            write_video(os.path.join(root, label, name), clip.frames, fps)
        else:
            write_frame_folder(os.path.join(root, label, name), clip.frames)
        path = os.path.join(root, label, name)
        videos.append(SynthVideo("", f"{label}/{name}", label, path, len(clip.frames)))
    return videos


CLIPS_PER_LONG_VIDEO = 4
MANIFEST = "manifest.csv"


def _write_csv_manifest(
    root: str, names: list[str], clips: list[_Clip], fps: float, seed: int
) -> list[SynthVideo]:
    """Long videos ``videos/long_<i>.mp4`` of up to four clips each (classes mixed in a seeded
    order) and ``manifest.csv`` with a header and one ``path,label,start,end`` row per clip."""
    order = np.random.default_rng([seed, 3]).permutation(len(clips))
    shuffled = [clips[int(i)] for i in order]
    rows, videos = [], []
    for first in range(0, len(shuffled), CLIPS_PER_LONG_VIDEO):
        group = shuffled[first : first + CLIPS_PER_LONG_VIDEO]
        relative = f"videos/long_{first // CLIPS_PER_LONG_VIDEO:03d}.mp4"
        path = os.path.join(root, relative)
        write_video(path, np.concatenate([clip.frames for clip in group]), fps)
        offset = 0
        for clip in group:
            label = names[clip.class_index]
            # Millisecond text, as a person would write it; 25 fps frames fall on whole ms.
            start = seconds_text(offset / fps)
            end = seconds_text((offset + len(clip.frames)) / fps)
            offset += len(clip.frames)
            rows.append([relative, label, start, end])
            video_id = segment_id(relative, float(start), float(end))
            videos.append(
                SynthVideo("", video_id, label, path, len(clip.frames), float(start), float(end))
            )
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, MANIFEST), "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["path", "label", "start", "end"])
        writer.writerows(rows)
    return videos


LAYOUTS: dict[str, Layout] = {
    "jester": Layout(
        class_lists.JESTER,
        100,
        176,
        12.0,
        _frame_folder_writer("jester-v1", "20bn-jester-v1", False),
    ),
    "something-v1": Layout(
        class_lists.SOMETHING,
        100,
        132,
        12.0,
        _frame_folder_writer(
            "something-something-v1", "20bn-something-something-v1", v1_names=True
        ),
    ),
    "something-v2": Layout(class_lists.SOMETHING, 48, 64, 12.0, _write_something_v2),
    "kinetics400": Layout(
        class_lists.generic_motions(class_lists.KINETICS400), 48, 64, 25.0, _write_kinetics
    ),
    "ucf101": Layout(class_lists.generic_motions(class_lists.UCF101), 48, 64, 25.0, _write_ucf101),
    "hmdb51": Layout(class_lists.HMDB51_PAIRS, 48, 64, 30.0, _write_hmdb51),
    "folders": Layout(class_lists.OWN_VIDEOS, 48, 64, 25.0, _write_folders),
    "csv": Layout(class_lists.OWN_VIDEOS, 48, 64, 25.0, _write_csv_manifest),
}


def write_synthetic(
    layout: str,
    output_dir: str,
    videos_per_class: int = 10,
    num_classes: int | None = None,
    num_frames: int = 32,
    seed: int = 0,
    height: int | None = None,
    width: int | None = None,
) -> list[SynthVideo]:
    """Writes a synthetic dataset in ``layout``'s native layout.

    Args:
        layout: str. One of ``LAYOUTS``.
        output_dir: str. Created if missing.
        videos_per_class: int. Clips per class, split about 80/10/10 (the ``folders`` and
            ``csv`` layouts name no splits: ``preprocess`` chooses them).
        num_classes: int or None. The first K classes of the layout's pair-preserving order;
            None for all of them.
        num_frames: int. Frames per clip.
        seed: int. The same seed writes the same files.
        height, width: int or None. Frame size; None for the layout's default.

    Returns:
        The written videos, with the labels of the test split too.
    """
    spec = LAYOUTS[layout]
    chosen = spec.classes[: num_classes or len(spec.classes)]
    height, width = height or spec.height, width or spec.width
    clips = []
    for class_index, (_, motion) in enumerate(chosen):
        for j in range(videos_per_class):
            rng = np.random.default_rng([seed, class_index, j])
            frames = render_clip(motion, rng, num_frames, height, width)
            clips.append(_Clip(split_of(j, videos_per_class), class_index, j, frames))
    os.makedirs(output_dir, exist_ok=True)
    return spec.write(output_dir, [name for name, _ in chosen], clips, spec.fps, seed)
