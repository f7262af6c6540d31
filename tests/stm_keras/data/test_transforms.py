"""Evaluation transforms and the preprocessor's views built on them, run eagerly and inside
tf.data.Dataset.map."""

import numpy as np
import pytest
import tensorflow as tf

from stm_keras.data import transforms
from stm_keras.models import VideoClassifierPreprocessor


def _both(fn, value):
    eager = fn(tf.constant(value)).numpy()
    mapped = next(iter(tf.data.Dataset.from_tensors(tf.constant(value)).map(fn))).numpy()
    return eager, mapped


def test_scale_size_matches_paper():
    assert transforms.scale_size_for(224) == 256
    assert transforms.scale_size_for(112) == 128


@pytest.mark.parametrize(("hw", "expected"), [((100, 176), (64, 113)), ((300, 150), (128, 64))])
def test_resize_short_side(hw, expected):
    clip = np.zeros((2, *hw, 3), np.uint8)
    for out in _both(lambda x: transforms.resize_short_side(x, 64), clip):
        assert out.shape == (2, *expected, 3) and out.dtype == np.float32


def test_center_crop_takes_the_middle():
    frame = np.arange(6 * 8, dtype=np.float32).reshape(1, 6, 8, 1)
    for out in _both(lambda x: transforms.center_crop(x, 2), frame):
        assert out[0, :, :, 0].tolist() == [[19, 20], [27, 28]]


def test_center_view_shape():
    clip = np.random.default_rng(0).integers(0, 255, (3, 100, 150, 3), dtype=np.uint8)
    preprocessor = VideoClassifierPreprocessor(image_size=56)
    for out in _both(preprocessor.center_view, clip):
        assert out.shape == (3, 56, 56, 3) and out.dtype == np.float32
        # Short side to 64 (56 * 256 / 224), then the centre crop.
        resized = transforms.resize_short_side(clip, 64)
        np.testing.assert_array_equal(out, transforms.center_crop(resized, 56).numpy())


def test_preprocessor_three_crops_use_its_scale_size():
    clip = np.random.default_rng(1).integers(0, 255, (2, 60, 90, 3), dtype=np.uint8)
    preprocessor = VideoClassifierPreprocessor(image_size=32, scale_size=48)
    for out in _both(preprocessor.three_crop_views, clip):
        assert out.shape == (3, 2, 32, 32, 3)
        np.testing.assert_allclose(
            out, transforms.three_crop_views(clip, 32, scale_size=48).numpy(), atol=1e-4
        )


def test_three_crops_cover_the_long_side():
    # A wide frame whose columns encode their x position: left, centre and right crops differ.
    width = 3 * 64
    frame = np.tile(np.linspace(0, 255, width, dtype=np.float32)[None, :, None], (64, 1, 3))
    for views in _both(lambda x: transforms.three_crop_views(x, 56), frame[None]):
        assert views.shape == (3, 1, 56, 56, 3)
        means = views.mean(axis=(1, 2, 3, 4))
        assert means[0] < means[1] < means[2]
        assert views[0].min() == pytest.approx(0.0, abs=1.0)
        assert views[2].max() == pytest.approx(255.0, abs=1.0)
