"""Shared readers: a folder of frames or an encoded video (or a segment of one) to the frames
of one record.

JPEG frames whose short side is already at most ``short_side`` are kept as the original bytes
(validated, never re-encoded); larger frames, PNG frames and all decoded video frames are resized
so the short side is ``short_side`` (never upscaled) and JPEG-encoded. Every problem with an
input raises :class:`~pipelines.items.BadInputError` with a reason a person can act on.

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

from stm_keras.pipelines.items import BadInputError, seconds_text

JPEG_START = b"\xff\xd8"
JPEG_END = b"\xff\xd9"
PNG_START = b"\x89PNG\r\n\x1a\n"
PNG_EXTENSIONS = (".png",)
FRAME_EXTENSIONS = (".jpg", ".jpeg", *PNG_EXTENSIONS)
# A decoded video may legitimately end a frame or two before its container's stated duration;
# more missing than this fraction means the file is truncated.
TRUNCATION_TOLERANCE = 0.1
# Frame timestamps are exact fractions turned into floats; a segment bound that names a frame's
# time exactly must not miss it by a rounding error.
TIME_EPSILON = 1e-6


@dataclasses.dataclass(frozen=True)
class FrameOptions:
    """How frames are stored.

    Args:
        short_side: int. Frames with a larger short side are downscaled to it.
        max_frames: int or None. Longer videos are evenly subsampled to this many frames.
        jpeg_quality: int. Quality of re-encoded JPEGs (1-95).
        decode_threads: int. FFmpeg threads decoding one video; 0 lets FFmpeg choose (on N
            cores it runs N + 1 frame threads). The decoded frames are the same either way.
    """

    short_side: int = 256
    max_frames: int | None = None
    jpeg_quality: int = 90
    decode_threads: int = 0


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
    """Sorted paths of the JPEG and PNG frames in ``folder`` (numeric order of the file names).

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
        raise BadInputError(f"empty frame folder (no .jpg or .png files): {folder}")
    return [FileSystems.join(folder, name) for name in sorted(names, key=_frame_sort_key)]


def check_png(data: bytes, name: str) -> Image.Image:
    """Decodes one complete PNG frame and returns it as an RGB image.

    Raises:
        BadInputError: naming ``name`` when it is not a PNG or is truncated or corrupt.
    """
    if not data.startswith(PNG_START):
        raise BadInputError(f"{name}: not a PNG (no PNG signature)")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise BadInputError(f"{name}: corrupt PNG ({error})") from error
    return image.convert("RGB")


def read_frame_folder(sources: Sequence[str], fps: float, options: FrameOptions) -> Frames:
    """Reads a folder of JPEG or PNG frames, copying JPEGs that need no resize byte for byte.

    PNG frames are decoded and JPEG-encoded.

    Args:
        sources: candidate folder paths; the first that exists is read.
        fps: float. The dataset's frame rate (0 when unknown).
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
        name = os.path.basename(path)
        data = read_bytes(path)
        decoded = check_png(data, name) if name.lower().endswith(PNG_EXTENSIONS) else None
        size = decoded.size if decoded is not None else check_jpeg(data, name)
        if first_size is None:
            first_size = size
        elif size != first_size:
            raise BadInputError(
                f"{name}: frame size {size} differs from the first frame's {first_size}"
            )
        new_size = scaled_size(*size, options.short_side)
        if decoded is None and new_size == size:
            jpegs.append(data)
            continue
        if decoded is None:
            decoded = Image.open(io.BytesIO(data))
            decoded.draft("RGB", new_size)
            decoded = decoded.convert("RGB")
        if decoded.size != new_size:
            decoded = decoded.resize(new_size, Image.Resampling.BILINEAR)
        jpegs.append(encode_jpeg(decoded, options.jpeg_quality))
    width, height = scaled_size(*first_size, options.short_side)
    return Frames(jpegs, height, width, fps * len(chosen) / len(files), folder)


def read_video_file(
    sources: Sequence[str],
    options: FrameOptions,
    start: float | None = None,
    end: float | None = None,
) -> Frames:
    """Decodes a video (or one segment of it) with PyAV, resizes its frames and encodes them.

    Args:
        sources: candidate file paths; the first that exists is read.
        options: FrameOptions.
        start: float or None. Keep frames from this many seconds into the video on; None for
            the first frame. Decoding starts at the key frame before ``start``.
        end: float or None. Keep frames before this many seconds into the video; None for the
            last frame.

    Raises:
        BadInputError: for a missing, undecodable, truncated or frameless video, or a segment
            that is empty or ends beyond the video.
    """
    import av

    path = first_existing(sources)
    if start is not None and end is not None and start >= end:
        raise BadInputError(
            f"segment start {seconds_text(start)} s is not before its end {seconds_text(end)} s"
        )
    data = read_bytes(path)
    try:
        try:
            decoded = _decode(data, path, options, start, end, seek=bool(start))
        except _SeekMissed:
            decoded = _decode(data, path, options, start, end, seek=False)
    except av.FFmpegError as error:
        raise BadInputError(f"cannot decode video {path}: {error}") from error
    images, fps, expected = decoded
    if not images:
        raise BadInputError(f"no decodable frames in {path}{_segment_text(start, end)}")
    if expected and len(images) < expected * (1 - TRUNCATION_TOLERANCE) - 1:
        raise BadInputError(
            f"truncated video {path}: decoded {len(images)} of {expected} frames"
            + _segment_text(start, end)
        )
    if len({image.size for image in images}) > 1:
        raise BadInputError(f"frame size changes within {path}")
    chosen = evenly_spaced(len(images), options.max_frames)
    jpegs = [encode_jpeg(images[index], options.jpeg_quality) for index in chosen]
    width, height = images[0].size
    return Frames(jpegs, height, width, fps * len(chosen) / len(images), path)


class _SeekMissed(Exception):
    """Seeking landed after the segment's start (or lost the timestamps): decode from 0."""


def _decode(
    data: bytes,
    path: str,
    options: FrameOptions,
    start: float | None,
    end: float | None,
    seek: bool,
) -> tuple[list[Image.Image], float, int]:
    """The resized frames of ``[start, end)``, the frame rate and the frames expected there."""
    import av

    segment = start is not None or end is not None
    # Frames are resized as they are decoded, so memory holds the video at the stored size
    # (a long full-HD original would not fit many times over in a worker).
    images = []
    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.video:
            raise BadInputError(f"no video stream in {path}")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = options.decode_threads
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        frame_seconds = 1.0 / fps if fps else 0.0
        duration = _duration(container, stream)
        if not segment:
            expected = _expected_frames(container, stream, fps)
        else:
            _check_segment(path, start or 0.0, end, duration, frame_seconds)
            last = end if end is not None else duration
            expected = int(round((last - (start or 0.0)) * fps)) if last and fps else 0
        origin = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        if seek:
            try:
                container.seek(int((origin + start) / stream.time_base), stream=stream)
            except av.FFmpegError:
                raise _SeekMissed from None
        reached_end, last_time = False, None
        for count, frame in enumerate(container.decode(stream)):
            if segment:
                if frame.time is None and seek:
                    raise _SeekMissed
                if frame.time is None and not fps:
                    raise BadInputError(f"no timestamps or frame rate in {path} to cut a segment")
                time = frame.time - origin if frame.time is not None else count / fps
                if seek and count == 0 and time > start + TIME_EPSILON:
                    raise _SeekMissed
                if end is not None and time >= end - TIME_EPSILON:
                    reached_end = True
                    break
                last_time = time
                if start is not None and time < start - TIME_EPSILON:
                    continue
            image = frame.to_image()
            size = scaled_size(*image.size, options.short_side)
            if size != image.size:
                image = image.resize(size, Image.Resampling.BILINEAR)
            images.append(image)
    if end is not None and not reached_end and last_time is not None:
        content_end = last_time + frame_seconds
        if end - content_end > frame_seconds + TIME_EPSILON:
            raise BadInputError(
                f"segment end {seconds_text(end)} s is beyond the last frame of {path}, which "
                f"ends at {seconds_text(content_end)} s"
            )
    return images, fps, expected


def _check_segment(
    path: str, start: float, end: float | None, duration: float | None, frame_seconds: float
) -> None:
    """Raises BadInputError when the segment lies (partly) beyond the video's stated duration."""
    if duration is None:
        return
    video_end = f"the end of {path} at {seconds_text(duration)} s"
    if start >= duration:
        raise BadInputError(f"segment start {seconds_text(start)} s is beyond {video_end}")
    if end is not None and end > duration + frame_seconds + TIME_EPSILON:
        raise BadInputError(f"segment end {seconds_text(end)} s is beyond {video_end}")


def _segment_text(start: float | None, end: float | None) -> str:
    if start is None and end is None:
        return ""
    last = "end" if end is None else seconds_text(end)
    return f" in segment [{seconds_text(start or 0)}, {last}) s"


def _duration(container, stream) -> float | None:
    """The stream's (or else the container's) stated duration in seconds; None if unstated."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return None


def _expected_frames(container, stream, fps: float) -> int:
    """Frames the container says the stream has (0 when it does not say)."""
    if stream.frames:
        return int(stream.frames)
    if stream.duration and stream.time_base:
        return int(round(float(stream.duration * stream.time_base) * fps))
    if container.duration and fps:
        return int(round(container.duration / 1_000_000 * fps))
    return 0
