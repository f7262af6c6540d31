"""stm_keras.stream: the ring buffer and window scheduler, blocking and dropping, on real sources
(raw frames through a pipe, PyAV files) with a slow classifier callable; the moving average and
the change filter on known probability sequences."""

from __future__ import annotations

import io
import time
import weakref

import numpy as np
import pytest
from deploy_testing import frame_level, gray_ramp_frames, write_video
from stream_testing import PacedPipe, frame_index, indexed_frames

from stm_keras import stream

HALVES = np.array([0.5, 0.5], np.float32)


def _raw_source(data: bytes, fps: float = 25, live: bool = False) -> stream.RawSource:
    # indexed_frames() are 3 wide and 2 high.
    return stream.RawSource("frames", io.BytesIO(data), fps, (3, 2), live=live)


def test_blocking_classifies_every_window_in_order_with_its_frames():
    count, window, stride, offsets = 51, 8, 3, [0, 3, 5, 7]
    seen = []

    def slow_classifier(clip: np.ndarray) -> np.ndarray:
        time.sleep(0.005)  # slower than the decoder: it must wait, not skip
        seen.append([frame_index(frame) for frame in clip])
        return HALVES

    results = []
    summary = stream.run_stream(
        _raw_source(indexed_frames(count).tobytes()),
        slow_classifier,
        offsets,
        window_frames=window,
        stride=stride,
        on_window=results.append,
    )
    due = (count - window) // stride + 1  # 15: the last window is frames [42, 50)
    assert [result.window.index for result in results] == list(range(due))
    assert seen == [[stride * m + offset for offset in offsets] for m in range(due)]
    assert [(r.window.first_frame, r.window.end_frame) for r in results][-1] == (42, 50)
    assert results[1].window.start == pytest.approx(3 / 25)
    assert results[1].window.end == pytest.approx(11 / 25)
    assert summary.block and not summary.live
    assert (summary.windows_classified, summary.windows_printed, summary.windows_skipped) == (
        due,
        due,
        0,
    )
    # Frame 50 completes no window: decoded = classified + dropped + unused.
    assert (summary.frames_decoded, summary.frames_classified) == (51, 50)
    assert (summary.frames_dropped, summary.frames_unused) == (0, 1)
    assert summary.buffer_peak <= summary.buffer_capacity == window + stride


def test_dropping_skips_windows_bounds_memory_and_accounts_for_every_frame():
    """A camera-paced pipe (2 ms a frame) and a classifier taking 30 ms a window."""
    count, window, stride, offsets = 120, 4, 2, [0, 1, 2, 3]
    made = []  # weak references to every frame the source converted

    class TrackedSource(stream.RawSource):
        def frames(self, wanted):
            for decoded in super().frames(wanted):
                made.append(weakref.ref(decoded.frame))
                yield decoded

    most_alive = 0
    seen = []

    def slow_classifier(clip: np.ndarray) -> np.ndarray:
        nonlocal most_alive
        most_alive = max(most_alive, sum(ref() is not None for ref in made))
        seen.append([frame_index(frame) for frame in clip])
        time.sleep(0.03)
        return HALVES

    results = []
    frames = indexed_frames(count)
    with PacedPipe((frame.tobytes() for frame in frames), pause=0.002) as pipe:
        source = TrackedSource("camera", pipe.reader, 500, (3, 2))  # live: never waited for
        summary = stream.run_stream(
            source,
            slow_classifier,
            offsets,
            window_frames=window,
            stride=stride,
            on_window=results.append,
        )

    classified = [result.window.index for result in results]
    due = (count - window) // stride + 1
    assert not summary.block and summary.live
    assert summary.windows_skipped > 0 and not summary.kept_up, summary.describe()
    assert classified == sorted(set(classified)) and classified[-1] == due - 1
    assert summary.windows_classified == len(classified)
    assert summary.windows_classified + summary.windows_skipped == due
    assert sum(result.window.skipped for result in results) == summary.windows_skipped
    # Each classified window holds its own frames, not stale ones.
    assert seen == [[stride * m + offset for offset in offsets] for m in classified]
    # Every frame is accounted for; the dropped ones are exactly those no classified window has.
    covered = {i for m in classified for i in range(stride * m, stride * m + window)}
    assert summary.frames_decoded == count
    assert summary.frames_classified == len(covered)
    assert summary.frames_dropped == count - len(covered) > 0
    assert summary.frames_unused == 0
    # Bounded memory: the ring buffer, the clip being classified and a frame in flight, not
    # the 120 frames a queue would have held.
    assert summary.buffer_peak <= summary.buffer_capacity == window + stride
    assert most_alive <= summary.buffer_capacity + len(offsets) + 2


def test_a_stream_ending_inside_a_frame_fails_after_its_windows():
    data = indexed_frames(20).tobytes() + bytes(7)
    source = stream.RawSource(stream.STDIN_NAME, io.BytesIO(data), 10, (3, 2))
    results = []
    with pytest.raises(stream.StreamError) as caught:
        stream.run_stream(
            source,
            lambda clip: HALVES,
            [0, 4],
            window_frames=8,
            stride=4,
            block=True,  # every window, for a deterministic test; stdin itself drops
            on_window=results.append,
        )
    message = str(caught.value)
    assert message.startswith("<stdin>: the stream ended inside frame 20 (7 of 18 bytes")
    assert [result.window.index for result in results] == [0, 1, 2, 3]
    summary = caught.value.summary
    assert summary.frames_decoded == 20 and summary.windows_classified == 4


def test_a_file_paced_at_its_frame_rate_skips_what_a_slow_model_misses(tmp_path):
    count, fps = 24, 48
    path = write_video(str(tmp_path / "ramp.mp4"), gray_ramp_frames(count), "h264", fps=fps)
    window, stride, offsets = 4, 2, [0, 2]

    # Read as fast as possible, a file gets every window, each with its own frames and times.
    levels = []

    def recording_classifier(clip: np.ndarray) -> np.ndarray:
        levels.append([float(frame.mean()) for frame in clip])
        return HALVES

    results = []
    source = stream.open_source(path)
    assert not source.live and source.fps == fps and source.size == (64, 48)
    summary = stream.run_stream(
        source,
        recording_classifier,
        offsets,
        window_frames=window,
        stride=stride,
        on_window=results.append,
    )
    due = (count - window) // stride + 1
    assert summary.block and summary.windows_classified == due and summary.windows_skipped == 0
    for m, clip_levels in enumerate(levels):
        expected = [frame_level(stride * m + offset) for offset in offsets]
        assert clip_levels == pytest.approx(expected, abs=4), m
    assert results[3].window.start == pytest.approx(6 / fps, abs=1e-3)
    assert results[3].window.end == pytest.approx(10 / fps, abs=1e-3)

    def slow_classifier(clip: np.ndarray) -> np.ndarray:
        time.sleep(0.1)  # about 5 frames at 48 fps: 2 of every 3 windows are missed
        return HALVES

    summary = stream.run_stream(
        stream.open_source(path), slow_classifier, offsets, window_frames=4, stride=2, pace=True
    )
    assert summary.paced and not summary.block
    # Paced, not read at once: read at once, the slow classifier would see at most the first and
    # the last window; paced (0.5 s of video, 0.1 s a window), it classifies about five.
    assert summary.windows_classified >= 3
    assert summary.windows_skipped > 0 and summary.frames_dropped > 0 and not summary.kept_up
    assert summary.windows_classified + summary.windows_skipped == due


def test_ctrl_c_ends_the_stream_with_its_summary():
    calls = 0

    def interrupted_classifier(clip: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        return HALVES

    summary = stream.run_stream(
        _raw_source(indexed_frames(40).tobytes()),
        interrupted_classifier,
        [0],
        window_frames=4,
        stride=4,
    )
    assert summary.interrupted and summary.windows_classified == 2
    assert summary.frames_classified == 8 and summary.frames_dropped == 0
    assert "(interrupted)" in summary.describe()


def test_only_the_frames_some_window_samples_are_converted():
    ring = stream.FrameRing(8, 4, [1, 5], fps=10, block=True)
    assert [i for i in range(20) if ring.wanted(i)] == [1, 5, 9, 13, 17]


def test_moving_average_over_the_last_n_windows():
    windows = [np.array(p, np.float32) for p in ([1, 0], [0, 1], [0, 1], [0.5, 0.5])]
    smoothed = [probabilities for _, probabilities in stream.filter_windows(windows, smooth=3)]
    expected = [[1, 0], [0.5, 0.5], [1 / 3, 2 / 3], [1 / 6, 5 / 6]]
    np.testing.assert_allclose(smoothed, expected, atol=1e-6)
    unsmoothed = stream.filter_windows(windows, smooth=1)
    assert [position for position, _ in unsmoothed] == [0, 1, 2, 3]
    np.testing.assert_array_equal([p for _, p in unsmoothed], windows)
    with pytest.raises(ValueError, match="at least 1"):
        stream.MovingAverage(0)


def test_threshold_prints_only_confident_changes_of_the_top_class():
    a, b = [0.9, 0.1], [0.2, 0.8]
    windows = [
        np.array(p, np.float32)
        for p in (a, [0.95, 0.05], [0.45, 0.55], b, [0.6, 0.4], [0.3, 0.7], [0.7, 0.3])
    ]
    printed = stream.filter_windows(windows, threshold=0.65)
    # 1: same class as printed; 2 and 4: new class below 0.65; 5: same class as printed.
    assert [position for position, _ in printed] == [0, 3, 6]
    assert [position for position, _ in stream.filter_windows(windows, threshold=0.0)] == [
        0,
        2,
        4,
        5,
        6,
    ]
    # Smoothing first: a one-window flicker to the other class is not a change.
    flicker = [np.array(p, np.float32) for p in (a, a, b, a, a, b, b, b)]
    assert [position for position, _ in stream.filter_windows(flicker, threshold=0.6)] == [
        0,
        2,
        3,
        5,
    ]
    smoothed = stream.filter_windows(flicker, smooth=3, threshold=0.6)
    assert [position for position, _ in smoothed] == [0, 7]
    np.testing.assert_allclose(smoothed[1][1], b, atol=1e-6)


def test_window_frame_count():
    assert stream.window_frame_count(1.0, 30) == 30
    assert stream.window_frame_count(0.05, 30) == 2  # 1.5 frames, rounded
    with pytest.raises(ValueError, match="0.02 s is shorter than one frame at 30 fps"):
        stream.window_frame_count(0.02, 30)


def test_sources_that_cannot_be_opened(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 50)
    with pytest.raises(stream.StreamError, match=f"^{text}: cannot open"):
        stream.open_source(str(text))
    with pytest.raises(ValueError, match="frame rate and a frame size"):
        stream.open_source(stream.STDIN, fps=25)
