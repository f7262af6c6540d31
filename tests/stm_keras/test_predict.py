"""Clip readers of predict: PyAV videos of several containers, frame folders, broken inputs."""

import av
import numpy as np
import pytest
from deploy_testing import frame_level, gray_ramp_frames, write_video
from PIL import Image

from stm_keras import predict
from stm_keras.models import VideoClassifierPreprocessor
from stm_keras.predict import DecodeError

T = 4
# Predict samples frames as this preprocessor does; its crop size plays no part here.
PREPROCESSOR = VideoClassifierPreprocessor(num_segments=T, image_size=32)


@pytest.mark.parametrize(
    ("name", "codec"),
    [("a.mp4", "h264"), ("b.mp4", "mpeg4"), ("c.webm", "libvpx-vp9"), ("d.avi", "mjpeg")],
)
def test_video_clip_holds_the_evaluation_frames(tmp_path, name, codec):
    path = write_video(str(tmp_path / name), gray_ramp_frames(20), codec)
    clip = predict.read_clip(path, PREPROCESSOR)
    assert clip.shape == (T, 48, 64, 3) and clip.dtype == np.uint8
    # The middle frame of each of 4 segments of 20 frames.
    expected = [frame_level(i) for i in (2, 7, 12, 17)]
    np.testing.assert_allclose(
        clip.mean(axis=(1, 2, 3)), expected, atol=4.5
    )  # neighbours differ by 10


def test_frame_folder_sorts_numbers_as_numbers(tmp_path):
    frames = gray_ramp_frames(11, 20, 30)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(tmp_path / f"img{i + 1}.png")
    (tmp_path / "notes.txt").write_text("not a frame")
    clip = predict.read_clip(str(tmp_path), PREPROCESSOR)
    np.testing.assert_array_equal(clip, frames[predict.sample_indices(11, PREPROCESSOR)])
    assert predict.sample_indices(11, PREPROCESSOR) == [1, 4, 6, 9]


def test_short_video_repeats_frames(tmp_path):
    path = write_video(str(tmp_path / "short.avi"), gray_ramp_frames(2), "mjpeg")
    clip = predict.read_clip(path, PREPROCESSOR)
    np.testing.assert_allclose(
        clip.mean(axis=(1, 2, 3)), [frame_level(i) for i in (0, 0, 1, 1)], atol=3
    )


def test_video_shorter_than_its_header_is_sampled_from_the_frames_that_exist(tmp_path):
    path = write_video(str(tmp_path / "full.avi"), gray_ramp_frames(20), "mjpeg")
    with av.open(path) as container:
        starts = [p.pos for p in container.demux(video=0) if p.size]
    # Cut before the 11th frame's chunk header: the AVI header still promises 20 frames.
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes((tmp_path / "full.avi").read_bytes()[: starts[10] - 8])
    clip = predict.read_clip(str(truncated), PREPROCESSOR)
    expected = [frame_level(i) for i in predict.sample_indices(10, PREPROCESSOR)]
    np.testing.assert_allclose(clip.mean(axis=(1, 2, 3)), expected, atol=4.5)


def test_broken_inputs_are_named(tmp_path):
    garbage = tmp_path / "broken.mp4"
    garbage.write_bytes(b"this is not a video" * 50)
    empty_folder = tmp_path / "no-frames"
    empty_folder.mkdir()
    bad_frame = tmp_path / "bad-frames"
    bad_frame.mkdir()
    (bad_frame / "00001.jpg").write_bytes(b"not a jpeg")
    for path, reason in [
        (garbage, "cannot decode video"),
        (empty_folder, "holds no"),
        (bad_frame, "cannot decode image"),
        (tmp_path / "missing.webm", "no such file"),
    ]:
        with pytest.raises(DecodeError, match=reason) as error:
            predict.read_clip(str(path), PREPROCESSOR)
        assert str(path) in str(error.value)
