"""Shared readers: a folder of JPEG frames or an encoded video to the frames of one record.

Frames whose short side is already at most ``short_side`` are kept as the original JPEG bytes
(validated, never re-encoded); larger frames and all decoded video frames are resized so the short
side is ``short_side`` (never upscaled) and JPEG-encoded. Every problem with an input raises
:class:`~pipelines.items.BadInputError` with a reason a person can act on.

Files are opened through ``apache_beam.io.filesystems`` so data on ``gs://`` can be read by
workers of a distributed runner.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
from collections.abc import Sequence

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from PIL import Image

from stm_keras.pipelines.items import BadInputError

JPEG_START = b"\xff\xd8"
JPEG_END = b"\xff\xd9"
FRAME_EXTENSIONS = (".jpg", ".jpeg")
# A decoded video may legitimately end a frame or two before its container's stated duration;
# more missing than this fraction means the file is truncated.
TRUNCATION_TOLERANCE = 0.1


@dataclasses.dataclass(frozen=True)
class FrameOptions:
    """How frames are stored.

    Args:
        short_side: int. Frames with a larger short side are downscaled to it.
        max_frames: int or None. Longer videos are evenly subsampled to this many frames.
        jpeg_quality: int. Quality of re-encoded JPEGs (1-95).
    """

    short_side: int = 256
    max_frames: int | None = None
    jpeg_quality: int = 90


@dataclasses.dataclass(frozen=True)
class Frames:
    """The frames of one video, ready for a record."""

    jpegs: list[bytes]
    height: int
    width: int
    fps: float
    source: str


def read_bytes(path: str) -> bytes:
    """Reads a whole file through Beam's filesystems (local paths, ``gs://``, ...)."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


def first_existing(sources: Sequence[str]) -> str:
    """The first of ``sources`` that exists.

    Raises:
        BadInputError: when none exists.
    """
    for source in sources:
        if FileSystems.exists(source):
            return source
    raise BadInputError(f"not found: {' or '.join(sources)}")


def evenly_spaced(num_frames: int, max_frames: int | None) -> list[int]:
    """Indices of at most ``max_frames`` frames evenly over ``num_frames`` (segment middles)."""
    if max_frames is None or num_frames <= max_frames:
        return list(range(num_frames))
    return [int((i + 0.5) * num_frames / max_frames) for i in range(max_frames)]


def scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """``(width, height)`` scaled so the short side is ``short_side``; never upscales."""
    short = min(width, height)
    if short <= short_side:
        return width, height
    scale = short_side / short
    if width <= height:
        return short_side, max(short_side, round(height * scale))
    return max(short_side, round(width * scale)), short_side


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """JPEG bytes of a PIL image (deterministic for the same pixels and quality)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def check_jpeg(data: bytes, name: str) -> tuple[int, int]:
    """Validates that ``data`` is one complete, decodable JPEG and returns its ``(width, height)``.

    A truncated file lacks the end-of-image marker; a corrupt one fails to decode. Decoding uses
    libjpeg's DCT scaling (``draft``), which reads the whole entropy-coded stream at a fraction of
    the cost of a full decode.

    Raises:
        BadInputError: naming ``name`` and what is wrong with it.
    """
    if not data.startswith(JPEG_START):
        raise BadInputError(f"{name}: not a JPEG (no start-of-image marker)")
    if not data.rstrip(b"\x00").endswith(JPEG_END):
        raise BadInputError(f"{name}: truncated JPEG (no end-of-image marker)")
    try:
        image = Image.open(io.BytesIO(data))
        if image.format != "JPEG":
            raise BadInputError(f"{name}: not a JPEG ({image.format})")
        size = image.size
        image.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise BadInputError(f"{name}: corrupt JPEG ({error})") from error
    return size


def _frame_sort_key(name: str) -> tuple[int, str]:
    digits = re.findall(r"\d+", name)
    return (int(digits[-1]) if digits else -1, name)


def list_frame_files(folder: str) -> list[str]:
    """Sorted paths of the JPEG frames in ``folder`` (numeric order of the file names).

    Raises:
        BadInputError: for a missing or empty folder, or a file name that is not UTF-8.
    """
    if not FileSystems.exists(folder):
        raise BadInputError(f"frame folder not found: {folder}")
    pattern = FileSystems.join(folder, "*")
    paths = [metadata.path for metadata in FileSystems.match([pattern])[0].metadata_list]
    names = []
    for path in paths:
        name = os.path.basename(path)
        try:
            name.encode("utf-8")
        except UnicodeEncodeError as error:
            shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            raise BadInputError(f"file name is not UTF-8: {shown}") from error
        if name.lower().endswith(FRAME_EXTENSIONS):
            names.append(name)
    if not names:
        raise BadInputError(f"empty frame folder (no .jpg files): {folder}")
    return [FileSystems.join(folder, name) for name in sorted(names, key=_frame_sort_key)]


def read_frame_folder(sources: Sequence[str], fps: float, options: FrameOptions) -> Frames:
    """Reads a folder of JPEG frames, copying frames that need no resize byte for byte.

    Args:
        sources: candidate folder paths; the first that exists is read.
        fps: float. The dataset's frame rate.
        options: FrameOptions.

    Raises:
        BadInputError: for a missing/empty folder, a corrupt or truncated frame, or frames of
            different sizes.
    """
    folder = first_existing(sources)
    files = list_frame_files(folder)
    chosen = evenly_spaced(len(files), options.max_frames)
    jpegs, first_size = [], None
    for index in chosen:
        path = files[index]
        data = read_bytes(path)
        size = check_jpeg(data, os.path.basename(path))
        if first_size is None:
            first_size = size
        elif size != first_size:
            raise BadInputError(
                f"{os.path.basename(path)}: frame size {size} differs from the first frame's "
                f"{first_size}"
            )
        new_size = scaled_size(*size, options.short_side)
        if new_size == size:
            jpegs.append(data)
        else:
            image = Image.open(io.BytesIO(data))
            image.draft("RGB", new_size)
            resized = image.convert("RGB").resize(new_size, Image.Resampling.BILINEAR)
            jpegs.append(encode_jpeg(resized, options.jpeg_quality))
    width, height = scaled_size(*first_size, options.short_side)
    return Frames(jpegs, height, width, fps * len(chosen) / len(files), folder)


def read_video_file(sources: Sequence[str], options: FrameOptions) -> Frames:
    """Decodes a video with PyAV, resizes its frames and encodes them as JPEG.

    Args:
        sources: candidate file paths; the first that exists is read.
        options: FrameOptions.

    Raises:
        BadInputError: for a missing, undecodable, truncated or frameless video.
    """
    import av

    path = first_existing(sources)
    data = read_bytes(path)
    # Frames are resized as they are decoded, so memory holds the video at the stored size
    # (a long full-HD original would not fit many times over in a worker).
    images = []
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise BadInputError(f"no video stream in {path}")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else 0.0
            expected = _expected_frames(container, stream, fps)
            for frame in container.decode(stream):
                image = frame.to_image()
                size = scaled_size(*image.size, options.short_side)
                if size != image.size:
                    image = image.resize(size, Image.Resampling.BILINEAR)
                images.append(image)
    except av.FFmpegError as error:
        raise BadInputError(f"cannot decode video {path}: {error}") from error
    if not images:
        raise BadInputError(f"no decodable frames in {path}")
    if expected and len(images) < expected * (1 - TRUNCATION_TOLERANCE) - 1:
        raise BadInputError(f"truncated video {path}: decoded {len(images)} of {expected} frames")
    if len({image.size for image in images}) > 1:
        raise BadInputError(f"frame size changes within {path}")
    chosen = evenly_spaced(len(images), options.max_frames)
    jpegs = [encode_jpeg(images[index], options.jpeg_quality) for index in chosen]
    width, height = images[0].size
    return Frames(jpegs, height, width, fps * len(chosen) / len(images), path)


def _expected_frames(container, stream, fps: float) -> int:
    """Frames the container says the stream has (0 when it does not say)."""
    if stream.frames:
        return int(stream.frames)
    if stream.duration and stream.time_base:
        return int(round(float(stream.duration * stream.time_base) * fps))
    if container.duration and fps:
        return int(round(container.duration / 1_000_000 * fps))
    return 0
