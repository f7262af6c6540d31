"""Live recognition: classifies the newest window of a video stream while it is decoded.

A decoder thread reads frames from a :class:`FrameSource` (a video file, a device or URL that PyAV
opens, or raw rgb24 frames on a byte stream such as stdin) into a bounded ring buffer. The calling
thread classifies, every ``stride`` frames, the window of the last ``window_frames`` frames,
sampled to ``T`` frames at fixed offsets: evaluation's middle frame of each of ``T`` segments
(``preprocessor.sample_indices(window_frames, training=False)``). Window ``m`` holds frames
``[m * stride, m * stride + window_frames)`` and is *due* once its last frame is decoded.

Two ways to run, chosen by :func:`run_stream`'s ``block``:

- **blocking** (video files by default): the decoder waits for the classifier, so every due
  window is classified, in order: deterministic.
- **dropping** (live sources, and files paced at their frame rate): the decoder never waits. When
  the classifier lags, it takes the newest due window; the windows in between are *skipped* and
  counted, and the ring buffer (``window_frames + stride`` frames) overwrites the oldest frames,
  so memory stays bounded however slow the model is.

Every decoded frame is counted once: *classified* (in a classified window), *dropped* (only in
skipped windows) or *unused* (in no window: the gaps when ``stride > window_frames`` and the tail
after the last due window), so ``decoded = classified + dropped + unused``. Only frames that some
window samples are converted to RGB.

TensorFlow stays out of this module: the model is a plain callable from uint8
``[T, height, width, 3]`` to probabilities (e.g. a :class:`stm_keras.predict.Predictor`).
"""

from __future__ import annotations

import collections
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO, NamedTuple

import numpy as np

STDIN = "-"
STDIN_NAME = "<stdin>"
# How long a live source (device, URL) may take to open or to deliver data before it counts as
# dead, in seconds.
LIVE_TIMEOUT_SECONDS = 10.0
# A decoder stuck in a blocking read (stdin, a device) when the stream is stopped is left
# behind (a daemon thread) after this many seconds.
DECODER_JOIN_SECONDS = 2.0

Classifier = Callable[[np.ndarray], Any]


class StreamError(Exception):
    """A source that cannot be opened or that fails mid-stream; the message starts with its name.

    Attributes:
        summary: StreamSummary or None. What the stream did before it failed, when it had
            started.
    """

    def __init__(self, message: str, summary: StreamSummary | None = None) -> None:
        super().__init__(message)
        self.summary = summary


# === Sources ========================================================================


class DecodedFrame(NamedTuple):
    """One frame from a source.

    Attributes:
        seconds: float. Time since the stream's first frame.
        frame: uint8 ``[height, width, 3]`` RGB, or None when no window samples it.
        decode_seconds: float. Time spent decoding and converting it, not waiting for input.
    """

    seconds: float
    frame: np.ndarray | None
    decode_seconds: float


class FrameSource:
    """A stream of RGB frames with a frame rate.

    Attributes:
        name: str. Names the source in messages (a path, URL, device or ``<stdin>``).
        fps: float or None. Frames per second; None when the source does not state it.
        live: bool. True when the source produces frames at its own pace (a device, a URL, a
            pipe): it is never paced, and its decoder never waits for the classifier.
        size: ``(width, height)`` of the frames, or None while unknown.
    """

    name: str = ""
    fps: float | None = None
    live: bool = True
    size: tuple[int, int] | None = None

    def frames(self, wanted: Callable[[int], bool]) -> Iterator[DecodedFrame]:
        """Yields each frame, in order.

        Args:
            wanted: Called with each frame's index; the frame is converted to a uint8
                ``[height, width, 3]`` RGB array only when it returns True, else its ``frame``
                is None.

        Raises:
            StreamError: naming the source, when it fails mid-stream.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Releases the source; safe to call more than once."""


class VideoSource(FrameSource):
    """Frames of the first video stream of a container PyAV opened (file, device or URL).

    Args:
        name: str. The path, device or URL, for messages.
        container: av.container.InputContainer. Opened for reading; closed by :meth:`close`.
        live: bool. Whether the source runs at its own pace (see :class:`FrameSource`).
        fps: float or None. Overrides the container's frame rate; the timestamps then count
            frames at this rate instead of following the container's.
    """

    def __init__(self, name: str, container: Any, live: bool, fps: float | None = None) -> None:
        self.name = name
        self.live = live
        self._container = container
        # FFmpeg's default slice threading: frame threads ("AUTO") delay every frame by a few
        # frames, and on small frames cost twice the CPU the model needs too.
        self._stream = container.streams.video[0]
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = fps if fps is not None else (float(rate) if rate else None)
        self._timestamps_from_pts = fps is None
        context = self._stream.codec_context
        self.size = (context.width, context.height) if context.width and context.height else None
        self._closed = False

    def frames(self, wanted: Callable[[int], bool]) -> Iterator[DecodedFrame]:
        """See :meth:`FrameSource.frames`. Frames that change size mid-stream are scaled to the
        first frame's size, so every window stacks.

        Raises:
            StreamError: naming the source and the frames read, when reading (demuxing) or
                decoding fails.
        """
        import av

        first_time: float | None = None
        size: tuple[int, int] | None = None
        index = 0
        busy = 0.0  # decoding time not yet attributed to a frame
        # Demuxing waits for a live source's data; only decoding and conversion are timed.
        packets = self._container.demux(self._stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except (av.FFmpegError, OSError) as error:
                raise StreamError(
                    f"{self.name}: reading failed after {index} frames ({_reason(error)})"
                ) from error
            began = time.perf_counter()
            try:
                decoded = packet.decode()
            except (av.FFmpegError, OSError) as error:
                raise StreamError(
                    f"{self.name}: decoding failed after {index} frames ({_reason(error)})"
                ) from error
            busy += time.perf_counter() - began
            for frame in decoded:
                began = time.perf_counter()
                if size is None:
                    size = (frame.width, frame.height)
                    self.size = size
                seconds = index / self.fps if self.fps else 0.0
                if self._timestamps_from_pts and frame.time is not None:
                    if first_time is None:
                        first_time = frame.time
                    seconds = frame.time - first_time
                rgb = None
                if wanted(index):
                    if (frame.width, frame.height) == size:
                        rgb = frame.to_ndarray(format="rgb24")
                    else:
                        rgb = frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
                busy += time.perf_counter() - began
                yield DecodedFrame(seconds, rgb, busy)
                busy = 0.0
                index += 1

    def close(self) -> None:
        """Closes the container."""
        if not self._closed:
            self._closed = True
            self._container.close()


class RawSource(FrameSource):
    """Raw rgb24 frames (``height * width * 3`` bytes each, rows top to bottom) on a byte stream.

    Args:
        name: str. For messages, e.g. ``<stdin>``.
        stream: binary file object. Read frame by frame; not closed.
        fps: float. Frames per second (a raw stream does not say).
        size: ``(width, height)`` of the frames.
        live: bool. Defaults to True: a pipe runs at its producer's pace.
    """

    def __init__(
        self,
        name: str,
        stream: BinaryIO,
        fps: float,
        size: tuple[int, int],
        live: bool = True,
    ) -> None:
        if fps <= 0 or min(size) < 1:
            raise ValueError(f"{name}: fps and frame size must be positive, got {fps}, {size}")
        self.name = name
        self.fps = float(fps)
        self.size = size
        self.live = live
        self._stream = stream

    def frames(self, wanted: Callable[[int], bool]) -> Iterator[DecodedFrame]:
        """See :meth:`FrameSource.frames`. The stream ends cleanly only between frames; reading
        is waiting for input, so only building the array counts as decoding.

        Raises:
            StreamError: when the stream ends inside a frame, or reading fails.
        """
        width, height = self.size
        frame_bytes = width * height * 3
        index = 0
        while True:
            try:
                data = self._read_exactly(frame_bytes)
            except OSError as error:
                raise StreamError(
                    f"{self.name}: reading failed after {index} frames ({_reason(error)})"
                ) from error
            if not data:
                return
            if len(data) < frame_bytes:
                raise StreamError(
                    f"{self.name}: the stream ended inside frame {index} ({len(data)} of "
                    f"{frame_bytes} bytes of a {width}x{height} rgb24 frame): is the frame size "
                    "right?"
                )
            began = time.perf_counter()
            rgb = np.frombuffer(data, np.uint8).reshape(height, width, 3) if wanted(index) else None
            yield DecodedFrame(index / self.fps, rgb, time.perf_counter() - began)
            index += 1

    def _read_exactly(self, size: int) -> bytes:
        """Up to ``size`` bytes: fewer only at the end of the stream (pipes return short reads)."""
        chunks = []
        remaining = size
        while remaining:
            chunk = self._stream.read(remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)


def _reason(error: BaseException) -> str:
    strerror = getattr(error, "strerror", None)
    return str(strerror) if strerror else str(error) or type(error).__name__


def is_file_source(source: str) -> bool:
    """Whether ``source`` is a regular file (paced by the reader), not a device, URL or stdin."""
    return source != STDIN and os.path.isfile(source)


def is_device_or_url(source: str) -> bool:
    """Whether ``source`` is a device, URL or pipe for PyAV (neither a regular file nor ``-``)."""
    return source != STDIN and not os.path.isfile(source)


def open_source(
    source: str,
    *,
    fps: float | None = None,
    frame_size: tuple[int, int] | None = None,
    input_format: str | None = None,
    options: dict[str, str] | None = None,
    stdin: BinaryIO | None = None,
) -> FrameSource:
    """Opens a video file, a device or URL (through PyAV), or ``-``: raw rgb24 frames on stdin.

    Args:
        source: str. A path, a URL (``rtsp://...``), a device (``/dev/video0`` with
            ``input_format="v4l2"``) or ``-``.
        fps: float or None. Required for ``-``; overrides a container's frame rate otherwise
            (for a device, also requested from it as the ``framerate`` option).
        frame_size: ``(width, height)`` or None. Required for ``-``; for a device, requested
            from it as the ``video_size`` option.
        input_format: str or None. FFmpeg's input format (``v4l2``, ``avfoundation``,
            ``dshow``, ...), given to ``av.open(..., format=...)``.
        options: dict or None. More FFmpeg input options (``rtsp_transport=tcp``, ...).
        stdin: binary file object or None. What ``-`` reads. Defaults to ``sys.stdin.buffer``.

    Raises:
        ValueError: for a missing ``fps``/``frame_size`` with ``-``.
        StreamError: naming ``source``, when it cannot be opened or has no video stream.
    """
    if source == STDIN:
        if fps is None or frame_size is None:
            raise ValueError("raw frames on stdin need both a frame rate and a frame size")
        if stdin is None:
            import sys

            stdin = sys.stdin.buffer
        return RawSource(STDIN_NAME, stdin, fps, frame_size)

    import av

    live = not is_file_source(source)
    open_options = dict(options or {})
    if input_format is not None:
        # The names FFmpeg's capture devices (v4l2, avfoundation, dshow, ...) take.
        if frame_size is not None:
            open_options.setdefault("video_size", f"{frame_size[0]}x{frame_size[1]}")
        if fps is not None:
            open_options.setdefault("framerate", f"{fps:g}")
    try:
        container = av.open(
            source,
            format=input_format,
            options=open_options,
            timeout=LIVE_TIMEOUT_SECONDS if live else None,
        )
    except (av.FFmpegError, OSError, ValueError) as error:
        raise StreamError(f"{source}: cannot open ({_reason(error)})") from error
    if not container.streams.video:
        container.close()
        raise StreamError(f"{source}: no video stream")
    return VideoSource(source, container, live, fps)


def window_frame_count(window_seconds: float, fps: float) -> int:
    """The frames in a window of ``window_seconds`` at ``fps``, rounded to the nearest.

    Raises:
        ValueError: when the window is shorter than one frame.
    """
    if not window_seconds * fps >= 1:
        raise ValueError(
            f"{window_seconds:g} s is shorter than one frame at {fps:g} fps ({1 / fps:.3g} s)"
        )
    return round(window_seconds * fps)


# === Smoothing and the change filter =================================================


class MovingAverage:
    """The mean of the last ``size`` probability vectors (fewer until ``size`` were added).

    Args:
        size: int. Windows to average, at least 1; 1 returns each vector as it is.
    """

    def __init__(self, size: int = 1) -> None:
        if size < 1:
            raise ValueError(f"the moving average needs at least 1 window, got {size}")
        self._recent: collections.deque[np.ndarray] = collections.deque(maxlen=size)

    def add(self, probabilities: np.ndarray) -> np.ndarray:
        """Adds one window's probabilities; returns the average (float32)."""
        self._recent.append(np.asarray(probabilities, dtype=np.float32))
        return np.mean(np.stack(self._recent), axis=0).astype(np.float32)


class ChangeFilter:
    """Decides which windows to print: all of them, or only confident changes of the top class.

    Args:
        threshold: float or None. With a value, a window is printed only when its top class
            differs from the last printed window's and its probability is at least
            ``threshold``; None prints every window.
    """

    def __init__(self, threshold: float | None = None) -> None:
        self.threshold = threshold
        self.last_printed: int | None = None

    def accept(self, probabilities: np.ndarray) -> bool:
        """Whether to print a window with these (smoothed) probabilities; remembers it if so."""
        top = int(np.argmax(probabilities))
        if self.threshold is not None and (
            top == self.last_printed or float(probabilities[top]) < self.threshold
        ):
            return False
        self.last_printed = top
        return True


def filter_windows(
    probabilities: Sequence[np.ndarray], smooth: int = 1, threshold: float | None = None
) -> list[tuple[int, np.ndarray]]:
    """Smooths a sequence of windows' probabilities and keeps those the change filter prints.

    Args:
        probabilities: per window, in order.
        smooth: int. Moving-average length (``--smooth``).
        threshold: float or None. See :class:`ChangeFilter` (``--threshold``).

    Returns:
        ``(window position, smoothed probabilities)`` of the printed windows.
    """
    average, change = MovingAverage(smooth), ChangeFilter(threshold)
    printed = []
    for position, window in enumerate(probabilities):
        smoothed = average.add(window)
        if change.accept(smoothed):
            printed.append((position, smoothed))
    return printed


# === The ring buffer and the window scheduler ===========================================


@dataclasses.dataclass
class Window:
    """A due window handed to the classifier.

    Attributes:
        index: int. ``m``: the window holds frames ``[m * stride, m * stride + window_frames)``.
        first_frame: int. ``m * stride``.
        end_frame: int. One past its last frame.
        start: float. Seconds from the stream's first frame to the window's first frame.
        end: float. Seconds to the end of its last frame (its time plus one frame).
        frames: list of uint8 ``[height, width, 3]``. The ``T`` sampled frames, in order.
        skipped: int. Due windows skipped right before this one (the classifier lagged).
        ready_at: float. ``time.perf_counter()`` when its last frame was decoded.
    """

    index: int
    first_frame: int
    end_frame: int
    start: float
    end: float
    frames: list[np.ndarray]
    skipped: int
    ready_at: float


_Slot = tuple[float, "np.ndarray | None", float]


class FrameRing:
    """The bounded ring buffer between the decoder thread and the classifier thread.

    Holds the newest ``window_frames + stride`` frames, which always include the newest due
    window; waits on a condition, never polls.

    Args:
        window_frames: int. Frames per window, at least 1.
        stride: int. Frames between consecutive windows, at least 1.
        offsets: sequence of int. The ``T`` frames sampled from a window, each in
            ``[0, window_frames)``.
        fps: float. For the windows' end times.
        block: bool. When True the decoder waits for the classifier (no window is skipped);
            else the oldest frames are overwritten and lagging windows skipped.
    """

    def __init__(
        self,
        window_frames: int,
        stride: int,
        offsets: Sequence[int],
        fps: float,
        block: bool,
    ) -> None:
        if window_frames < 1 or stride < 1:
            raise ValueError(
                f"window_frames and stride must be >= 1, got {window_frames} and {stride}"
            )
        offsets = [int(offset) for offset in offsets]
        if not offsets or min(offsets) < 0 or max(offsets) >= window_frames:
            raise ValueError(f"offsets must lie in [0, {window_frames}), got {offsets}")
        self.window_frames = window_frames
        self.stride = stride
        self.offsets = offsets
        self.fps = fps
        self.block = block
        self.capacity = window_frames + stride
        self._wanted_offsets = sorted(set(offsets))
        # (seconds, rgb or None, perf_counter when pushed) of frames [count - len, count).
        self._frames: collections.deque[_Slot] = collections.deque(maxlen=self.capacity)
        self._condition = threading.Condition()
        self.count = 0  # frames pushed
        self.taken = -1  # index of the last window handed out
        self.skipped = 0
        self.peak = 0  # most frames held at once
        self.classified_frames = 0  # frames in at least one classified window
        self.classified_through = -1  # index of the last classified window
        self._covered_until = 0
        self._finished = False
        self._closed = False
        self.error: BaseException | None = None

    def wanted(self, index: int) -> bool:
        """Whether frame ``index`` is sampled by some window (only those are converted)."""
        return any(
            index >= offset and (index - offset) % self.stride == 0
            for offset in self._wanted_offsets
        )

    def _last_due(self) -> int:
        return (self.count - self.window_frames) // self.stride

    def _may_push(self) -> bool:
        # Blocking: pushing must not evict a frame of the next window the classifier takes.
        next_start = (self.taken + 1) * self.stride
        return self.count + 1 - self.capacity <= next_start

    def push(self, seconds: float, frame: np.ndarray | None) -> bool:
        """Adds the next frame (decoder thread). Returns False once the ring is closed."""
        with self._condition:
            if self.block:
                self._condition.wait_for(lambda: self._closed or self._may_push())
            if self._closed:
                return False
            self._frames.append((seconds, frame, time.perf_counter()))
            self.count += 1
            self.peak = max(self.peak, len(self._frames))
            if self.count >= self.window_frames and (
                (self.count - self.window_frames) % self.stride == 0
            ):
                self._condition.notify_all()
            return True

    def finish(self, error: BaseException | None = None) -> None:
        """Marks the end of the stream (decoder thread), with the error that ended it if any."""
        with self._condition:
            self._finished = True
            self.error = error
            self._condition.notify_all()

    def close(self) -> None:
        """Stops the decoder at its next frame (classifier thread); idempotent."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def take(self) -> Window | None:
        """Waits for a due window not handed out yet (classifier thread).

        Returns:
            The next due window (blocking) or the newest (dropping, counting the windows in
            between as skipped); None at the end of the stream when none is left.
        """
        with self._condition:
            self._condition.wait_for(
                lambda: self._last_due() > self.taken or self._finished or self._closed
            )
            last_due = self._last_due()
            if last_due <= self.taken or self._closed:
                return None
            index = self.taken + 1 if self.block else last_due
            skipped = index - self.taken - 1
            self.skipped += skipped
            self.taken = index
            first = index * self.stride
            end = first + self.window_frames
            oldest = self.count - len(self._frames)
            assert first >= oldest, (first, oldest)  # the capacity keeps the newest due window
            frames = []
            for offset in self.offsets:
                frame = self._frames[first + offset - oldest][1]
                assert frame is not None, first + offset  # wanted() converted it
                frames.append(frame)
            start_seconds = self._frames[first - oldest][0]
            last_seconds, _, ready_at = self._frames[end - 1 - oldest]
            self._condition.notify_all()  # a blocked decoder may go on
        return Window(
            index=index,
            first_frame=first,
            end_frame=end,
            start=start_seconds,
            end=last_seconds + 1.0 / self.fps,
            frames=frames,
            skipped=skipped,
            ready_at=ready_at,
        )

    def mark_classified(self, window: Window) -> None:
        """Counts a window's frames as classified (classifier thread, windows in order)."""
        with self._condition:
            self.classified_frames += window.end_frame - max(
                window.first_frame, self._covered_until
            )
            self._covered_until = window.end_frame
            self.classified_through = window.index

    def accounting(self, interrupted: bool = False) -> dict[str, int]:
        """Frame and window counts so far: ``decoded``, ``classified``, ``dropped``, ``unused``,
        ``skipped`` and ``peak``.

        Args:
            interrupted: bool. When the stream was stopped early, windows due after the last
                one handed out were neither classified nor skipped: their frames count as
                unused, not dropped.
        """
        with self._condition:
            if not interrupted:
                windows = self._last_due() + 1
            elif self.classified_through == self.taken:
                windows = self.taken + 1
            else:  # the window being classified was neither classified nor skipped
                windows = self.taken
            if windows <= 0:
                due = 0
            elif self.stride >= self.window_frames:
                due = windows * self.window_frames
            else:
                due = (windows - 1) * self.stride + self.window_frames
            return {
                "decoded": self.count,
                "classified": self.classified_frames,
                "dropped": due - self.classified_frames,
                "unused": self.count - due,
                "skipped": self.skipped,
                "peak": self.peak,
            }


# === Running a stream =====================================================================


@dataclasses.dataclass
class WindowResult:
    """One classified window.

    Attributes:
        window: Window. Its frame positions and times (``frames`` is emptied once classified,
            so that results kept by the caller do not hold frames).
        probabilities: float32 ``[num_classes]``. The model's output for this window.
        smoothed: float32 ``[num_classes]``. The moving average (``probabilities`` when
            ``smooth`` is 1); what is printed and thresholded.
        host_ms: float. Sampling the ``T`` frames from the ring and stacking them.
        model_ms: float. The model call.
        total_ms: float. From the window's last frame being decoded to its result.
    """

    window: Window
    probabilities: np.ndarray
    smoothed: np.ndarray
    host_ms: float
    model_ms: float
    total_ms: float


@dataclasses.dataclass
class StreamSummary:
    """What a stream did: windows, frames, mean latencies per stage and real-time behaviour.

    Attributes:
        source: str. The source's name.
        fps: float. Its frame rate.
        window_frames: int. Frames per window.
        stride: int. Frames between windows.
        block: bool. Whether the decoder waited for the classifier.
        paced: bool. Whether a file was read at its frame rate.
        live: bool. Whether the source runs at its own pace.
        windows_classified: int.
        windows_skipped: int. Due windows never classified because the classifier lagged.
        windows_printed: int. Classified windows the change filter let through.
        frames_decoded: int.
        frames_classified: int. Frames in at least one classified window.
        frames_dropped: int. Frames only in skipped windows.
        frames_unused: int. Frames in no window (stride gaps, the incomplete tail).
        buffer_capacity: int. Frames the ring buffer holds at most.
        buffer_peak: int. Most frames it held.
        decode_ms: float. Mean decode time per frame: decoding and RGB conversion, not the
            wait for input.
        host_ms: float. Mean host sampling/stacking time per classified window.
        model_ms: float. Mean model time per classified window.
        total_ms: float. Mean time from a window's last frame to its result.
        video_seconds: float. ``frames_decoded / fps``.
        wall_seconds: float. From the first read to the end.
        interrupted: bool. Stopped by Ctrl-C (KeyboardInterrupt).
    """

    source: str
    fps: float
    window_frames: int
    stride: int
    block: bool
    paced: bool
    live: bool
    windows_classified: int = 0
    windows_skipped: int = 0
    windows_printed: int = 0
    frames_decoded: int = 0
    frames_classified: int = 0
    frames_dropped: int = 0
    frames_unused: int = 0
    buffer_capacity: int = 0
    buffer_peak: int = 0
    decode_ms: float = 0.0
    host_ms: float = 0.0
    model_ms: float = 0.0
    total_ms: float = 0.0
    video_seconds: float = 0.0
    wall_seconds: float = 0.0
    interrupted: bool = False

    @property
    def kept_up(self) -> bool:
        """Whether it kept up with real time: nothing skipped when frames came at their own
        pace (live or paced); otherwise the video was processed faster than it plays."""
        if self.block:
            return self.wall_seconds <= self.video_seconds
        return self.windows_skipped == 0

    def describe(self) -> str:
        """One line for a person: windows, frames, mean latencies, real time."""
        if self.block:
            verdict = (
                f"{'kept up with' if self.kept_up else 'slower than'} real time "
                f"({self.video_seconds:.1f} s of video in {self.wall_seconds:.1f} s)"
            )
        elif self.kept_up:
            verdict = "kept up with real time (no window skipped)"
        else:
            verdict = (
                f"did not keep up with real time ({self.windows_skipped} windows skipped, "
                f"{self.frames_dropped} frames dropped)"
            )
        interrupted = " (interrupted)" if self.interrupted else ""
        return (
            f"{self.source}{interrupted}: {self.windows_classified} windows classified "
            f"({self.windows_printed} printed), {self.windows_skipped} skipped; "
            f"{self.frames_decoded} frames decoded, {self.frames_dropped} dropped, "
            f"{self.frames_unused} in no window; mean latency: decode {self.decode_ms:.2f} ms "
            f"per frame, host {self.host_ms:.2f} ms + model {self.model_ms:.1f} ms per window "
            f"({self.total_ms:.1f} ms from last frame to result); {verdict}"
        )

    def as_dict(self) -> dict[str, Any]:
        """The fields and ``kept_up``, JSON-ready."""
        return {**dataclasses.asdict(self), "kept_up": self.kept_up}


class _Decoder:
    """The decoder thread's loop: source → ring, paced at the frame rate if asked."""

    def __init__(self, source: FrameSource, ring: FrameRing, pace: bool) -> None:
        self.source = source
        self.ring = ring
        self.pace = pace
        self.decode_seconds = 0.0
        self.frames = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="stm-keras-stream-decoder")
        self.thread.daemon = True  # a read blocked on a device or pipe must not hold the exit

    def _run(self) -> None:
        error: BaseException | None = None
        frames = None
        try:
            frames = self.source.frames(self.ring.wanted)
            wall_start = first_seconds = None
            for decoded in frames:
                self.decode_seconds += decoded.decode_seconds
                self.frames += 1
                if self.pace:
                    if wall_start is None:
                        wall_start, first_seconds = time.perf_counter(), decoded.seconds
                    delay = wall_start + (decoded.seconds - first_seconds) - time.perf_counter()
                    if delay > 0 and self.stopped.wait(delay):
                        break
                if not self.ring.push(decoded.seconds, decoded.frame):
                    break
        except BaseException as caught:  # handed to the classifier thread, which raises it
            error = caught
        finally:
            if frames is not None:
                frames.close()
            self.source.close()
            self.ring.finish(error)

    def stop(self) -> None:
        self.stopped.set()
        self.ring.close()
        self.thread.join(DECODER_JOIN_SECONDS)


def run_stream(
    source: FrameSource,
    classify: Classifier,
    offsets: Sequence[int],
    *,
    window_frames: int,
    stride: int,
    block: bool | None = None,
    pace: bool = False,
    smooth: int = 1,
    threshold: float | None = None,
    on_window: Callable[[WindowResult], None] | None = None,
) -> StreamSummary:
    """Classifies a stream window by window until it ends; closes the source.

    Args:
        source: FrameSource. Its ``fps`` must be known.
        classify: callable. uint8 ``[T, height, width, 3]`` to probabilities ``[num_classes]``
            (a :class:`stm_keras.predict.Predictor` is one).
        offsets: sequence of int. The ``T`` frames of a window to sample, e.g.
            ``preprocessor.sample_indices(window_frames, training=False).numpy()``.
        window_frames: int. Frames per window.
        stride: int. A window every ``stride`` frames.
        block: bool or None. Whether the decoder waits for the classifier (every window is
            classified) or drops. Defaults to waiting for files read as fast as possible,
            dropping for live sources and paced files.
        pace: bool. Read a file at its frame rate, as a camera would deliver it.
        smooth: int. Average the probabilities of the last ``smooth`` classified windows.
        threshold: float or None. Report only confident changes of the top class
            (:class:`ChangeFilter`).
        on_window: callable or None. Called in this thread with each reported window.

    Returns:
        The summary. Ctrl-C (KeyboardInterrupt) ends the stream early: the summary comes back
        with ``interrupted`` set.

    Raises:
        StreamError: naming the source, when it fails mid-stream; raised after the windows
            decoded before the failure are classified, with ``summary`` set.
        ValueError: for a source without a frame rate or bad window parameters.
    """
    try:
        if source.fps is None or not source.fps > 0:
            raise ValueError(f"{source.name}: the frame rate is unknown")
        if block is None:
            block = not source.live and not pace
        ring = FrameRing(window_frames, stride, offsets, source.fps, block)
        average, change = MovingAverage(smooth), ChangeFilter(threshold)
    except BaseException:
        source.close()
        raise
    summary = StreamSummary(
        source=source.name,
        fps=source.fps,
        window_frames=window_frames,
        stride=stride,
        block=block,
        paced=pace,
        live=source.live,
        buffer_capacity=ring.capacity,
    )
    host_total = model_total = latency_total = 0.0
    decoder = _Decoder(source, ring, pace)
    started = time.perf_counter()
    decoder.thread.start()
    try:
        while (window := ring.take()) is not None:
            began = time.perf_counter()
            clip = np.stack(window.frames)
            sampled = time.perf_counter()
            probabilities = np.asarray(classify(clip), dtype=np.float32)
            done = time.perf_counter()
            window.frames = []  # the ring no longer holds them either: let them go
            ring.mark_classified(window)
            smoothed = average.add(probabilities)
            result = WindowResult(
                window=window,
                probabilities=probabilities,
                smoothed=smoothed,
                host_ms=1e3 * (sampled - began),
                model_ms=1e3 * (done - sampled),
                total_ms=1e3 * (done - window.ready_at),
            )
            summary.windows_classified += 1
            host_total += result.host_ms
            model_total += result.model_ms
            latency_total += result.total_ms
            if change.accept(smoothed):
                summary.windows_printed += 1
                if on_window is not None:
                    on_window(result)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        decoder.stop()
    summary.wall_seconds = time.perf_counter() - started
    counts = ring.accounting(summary.interrupted)
    summary.frames_decoded = counts["decoded"]
    summary.frames_classified = counts["classified"]
    summary.frames_dropped = counts["dropped"]
    summary.frames_unused = counts["unused"]
    summary.windows_skipped = counts["skipped"]
    summary.buffer_peak = counts["peak"]
    if summary.windows_classified:
        summary.host_ms = host_total / summary.windows_classified
        summary.model_ms = model_total / summary.windows_classified
        summary.total_ms = latency_total / summary.windows_classified
    if decoder.frames:
        summary.decode_ms = 1e3 * decoder.decode_seconds / decoder.frames
    summary.video_seconds = summary.frames_decoded / source.fps
    if ring.error is not None and not summary.interrupted:
        if isinstance(ring.error, StreamError):
            ring.error.summary = summary
        raise ring.error
    return summary


def window_record(result: WindowResult, class_names: Sequence[str], top_k: int) -> dict[str, Any]:
    """The JSON object printed for a window.

    Keys: ``window`` (index ``m``), ``start`` and ``end`` (seconds), ``frames`` (``[first,
    end)`` frame indices), ``predictions`` (the top-k ``class``/``index``/``probability``, as
    ``stm-keras predict --json``), ``probabilities`` (all classes), ``latency_ms`` (``host``,
    ``model``, ``total``) and ``skipped`` (windows skipped right before it).
    """
    probabilities = result.smoothed
    # Stable sort: equal probabilities keep class-index order, as argmax does.
    ranked = sorted(range(len(probabilities)), key=lambda i: -probabilities[i])[:top_k]
    window = result.window
    return {
        "window": window.index,
        "start": round(window.start, 3),
        "end": round(window.end, 3),
        "frames": [window.first_frame, window.end_frame],
        "predictions": [
            {"class": class_names[i], "index": i, "probability": float(probabilities[i])}
            for i in ranked
        ],
        "probabilities": [float(p) for p in probabilities],
        "latency_ms": {
            "host": round(result.host_ms, 3),
            "model": round(result.model_ms, 3),
            "total": round(result.total_ms, 3),
        },
        "skipped": window.skipped,
    }


def sampled_offsets(preprocessor: Any, window_frames: int) -> list[int]:
    """Evaluation's ``T`` frame offsets in a window (the middle frame of each segment)."""
    return [int(i) for i in preprocessor.sample_indices(window_frames, training=False).numpy()]


def warm_up(classify: Classifier, num_frames: int, size: tuple[int, int] | None) -> float:
    """Calls the model once on black frames so the first window does not pay for tracing.

    Returns:
        The call's milliseconds.
    """
    width, height = size or (224, 224)
    began = time.perf_counter()
    classify(np.zeros((num_frames, height, width, 3), np.uint8))
    return 1e3 * (time.perf_counter() - began)
