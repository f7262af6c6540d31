"""Test-time views of ``VideoClassifierPreprocessor``: the decode-once ``test_views`` equals
cropping every clip on its own, and ``video_clips`` (the layer's call, the serving graph) equals
the ``1x1`` evaluation view."""

import numpy as np
import pytest
import tensorflow as tf
from deploy_testing import video_frames

from stm_keras.data import sampling, transforms
from stm_keras.models import PROTOCOLS, VideoClassifierPreprocessor

T, SIZE = 4, 32
PREPROCESSOR = VideoClassifierPreprocessor(num_segments=T, image_size=SIZE)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def _jpegs(frames: np.ndarray) -> tf.Tensor:
    return tf.stack([tf.io.encode_jpeg(frame) for frame in frames])


def _normalize(view: tf.Tensor) -> np.ndarray:
    return (view.numpy() / 255.0 - IMAGENET_MEAN) / IMAGENET_STD


def _slow_views(jpegs: tf.Tensor, protocol) -> np.ndarray:
    """Every clip decoded and cropped by itself, views in crop-major order."""
    decoded = [tf.io.decode_jpeg(jpeg, channels=3) for jpeg in jpegs]
    indices = sampling.multi_clip_indices(len(decoded), T, protocol.num_clips).numpy()
    scale_size = transforms.scale_size_for(SIZE)
    out = []
    for crop in range(protocol.num_crops):
        for clip_indices in indices:
            clip = tf.stack([decoded[i] for i in clip_indices])
            if protocol.num_crops == 1:
                view = transforms.center_crop(transforms.resize_short_side(clip, scale_size), SIZE)
            else:
                view = transforms.three_crop_views(clip, SIZE)[crop]
            out.append(_normalize(view))
    return np.stack(out)


@pytest.mark.parametrize("protocol", ["1x1", "3x10"])
@pytest.mark.parametrize("shape", [(3, 36, 50), (13, 44, 36)])
def test_test_views_match_view_by_view_crops(protocol, shape):
    jpegs = _jpegs(video_frames(*shape, seed=1))
    protocol = PROTOCOLS[protocol]
    expected = _slow_views(jpegs, protocol)
    eager = PREPROCESSOR.test_views(jpegs, protocol).numpy()
    mapped = next(
        iter(
            tf.data.Dataset.from_tensors(jpegs).map(lambda x: PREPROCESSOR.test_views(x, protocol))
        )
    ).numpy()
    assert eager.shape == (protocol.num_views, T, SIZE, SIZE, 3)
    np.testing.assert_allclose(eager, expected, atol=1e-5)
    np.testing.assert_allclose(mapped, expected, atol=1e-5)
    if protocol.name == "1x1":
        eval_clip = PREPROCESSOR.eval_clip(jpegs, shape[0]).numpy()
        np.testing.assert_allclose(eval_clip, expected[0], atol=1e-5)


def test_three_crops_and_ten_clips_differ():
    jpegs = _jpegs(video_frames(30, 36, 60, seed=2))
    out = PREPROCESSOR.test_views(jpegs, PROTOCOLS["3x10"]).numpy()
    means = out.mean(axis=(1, 2, 3, 4)).reshape(3, 10)
    # Columns brighten left to right, frames brighten over time.
    assert np.all(means[0] < means[1]) and np.all(means[1] < means[2])
    assert np.all(np.diff(means, axis=1) > 0)


@pytest.mark.parametrize("num_frames", [2, 4, 11])
def test_video_clips_equal_the_1x1_evaluation_view(num_frames):
    frames = video_frames(num_frames, 40, 52, seed=3)
    # Decoded JPEGs, so that both paths see the same pixels.
    decoded = tf.stack([tf.io.decode_jpeg(tf.io.encode_jpeg(frame)) for frame in frames])
    expected = PREPROCESSOR.test_views(_jpegs(frames), PROTOCOLS["1x1"]).numpy()
    batch = tf.stack([decoded, decoded[:, :, ::-1]])
    served = PREPROCESSOR.video_clips(batch).numpy()
    assert served.shape == (2, T, SIZE, SIZE, 3)
    np.testing.assert_allclose(served[0], expected[0], atol=1e-5)
    assert not np.allclose(served[1], served[0])
    # Calling the layer is video_clips, batched or on one video.
    np.testing.assert_allclose(PREPROCESSOR(batch).numpy(), served, atol=1e-6)
    np.testing.assert_allclose(PREPROCESSOR(decoded).numpy(), served[0], atol=1e-6)
