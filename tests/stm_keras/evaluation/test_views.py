"""Test-time views: the decode-once implementation equals cropping every clip on its own."""

import numpy as np
import pytest
import tensorflow as tf
from deploy_testing import video_frames

from stm_keras.data import sampling, transforms
from stm_keras.evaluation import views

T, SIZE = 4, 32


def _jpegs(frames: np.ndarray) -> tf.Tensor:
    return tf.stack([tf.io.encode_jpeg(frame) for frame in frames])


def _slow_views(jpegs: tf.Tensor, protocol: views.Protocol) -> np.ndarray:
    """Every clip decoded and cropped by itself, views in crop-major order."""
    decoded = [tf.io.decode_jpeg(jpeg, channels=3) for jpeg in jpegs]
    indices = sampling.multi_clip_indices(len(decoded), T, protocol.num_clips).numpy()
    out = []
    for crop in range(protocol.num_crops):
        for clip_indices in indices:
            clip = tf.stack([decoded[i] for i in clip_indices])
            if protocol.num_crops == 1:
                view = transforms.single_view(clip, SIZE)
            else:
                view = transforms.three_crop_views(clip, SIZE)[crop]
            out.append(sampling.normalize(view).numpy())
    return np.stack(out)


@pytest.mark.parametrize("protocol", ["1x1", "3x10"])
@pytest.mark.parametrize("shape", [(3, 36, 50), (13, 44, 36)])
def test_record_views_match_view_by_view_crops(protocol, shape):
    jpegs = _jpegs(video_frames(*shape, seed=1))
    protocol = views.PROTOCOLS[protocol]
    expected = _slow_views(jpegs, protocol)
    eager = views.record_views(jpegs, T, SIZE, protocol).numpy()
    mapped = next(
        iter(
            tf.data.Dataset.from_tensors(jpegs).map(
                lambda x: views.record_views(x, T, SIZE, protocol)
            )
        )
    ).numpy()
    assert eager.shape == (protocol.num_views, T, SIZE, SIZE, 3)
    np.testing.assert_allclose(eager, expected, atol=1e-5)
    np.testing.assert_allclose(mapped, expected, atol=1e-5)


def test_three_crops_and_ten_clips_differ():
    jpegs = _jpegs(video_frames(30, 36, 60, seed=2))
    out = views.record_views(jpegs, T, SIZE, views.PROTOCOLS["3x10"]).numpy()
    means = out.mean(axis=(1, 2, 3, 4)).reshape(3, 10)
    # Columns brighten left to right, frames brighten over time.
    assert np.all(means[0] < means[1]) and np.all(means[1] < means[2])
    assert np.all(np.diff(means, axis=1) > 0)


@pytest.mark.parametrize("num_frames", [2, 4, 11])
def test_serving_clips_equal_the_1x1_evaluation_view(num_frames):
    frames = video_frames(num_frames, 40, 52, seed=3)
    # Decoded JPEGs, so that both paths see the same pixels.
    decoded = tf.stack([tf.io.decode_jpeg(tf.io.encode_jpeg(frame)) for frame in frames])
    expected = views.record_views(_jpegs(frames), T, SIZE, views.PROTOCOLS["1x1"]).numpy()
    batch = tf.stack([decoded, decoded[:, :, ::-1]])
    served = views.serving_clips(batch, T, SIZE).numpy()
    assert served.shape == (2, T, SIZE, SIZE, 3)
    np.testing.assert_allclose(served[0], expected[0], atol=1e-5)
    assert not np.allclose(served[1], served[0])
