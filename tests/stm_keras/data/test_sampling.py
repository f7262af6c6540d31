"""TSN segment sampling, run eagerly and inside tf.data.Dataset.map, and the preprocessor's
sampling and normalization built on it."""

import numpy as np
import pytest
import tensorflow as tf

from stm_keras.data import sampling
from stm_keras.models import VideoClassifierPreprocessor


def _eager_and_mapped(fn, num_frames):
    eager = fn(tf.constant(num_frames, tf.int64)).numpy()
    mapped = next(iter(tf.data.Dataset.from_tensors(tf.constant(num_frames, tf.int64)).map(fn)))
    return eager, mapped.numpy()


@pytest.mark.parametrize("num_frames", [1, 5, 8, 37, 100])
def test_training_indices_one_per_segment(num_frames):
    t = 8
    for indices in _eager_and_mapped(lambda n: sampling.segment_indices(n, t, True), num_frames):
        assert indices.shape == (t,) and indices.dtype == np.int32
        assert np.all(np.diff(indices) >= 0)
        assert indices.min() >= 0 and indices.max() < num_frames
        if num_frames >= t:
            starts = np.arange(t) * num_frames // t
            assert list(np.searchsorted(starts, indices, side="right") - 1) == list(range(t))


def test_training_indices_cover_whole_video():
    seen = set()
    for _ in range(200):
        seen.update(sampling.segment_indices(40, 8, True).numpy().tolist())
    assert seen == set(range(40))


@pytest.mark.parametrize(
    ("num_frames", "expected"),
    [(16, [1, 3, 5, 7, 9, 11, 13, 15]), (4, [0, 0, 1, 1, 2, 2, 3, 3]), (1, [0] * 8)],
)
def test_eval_indices_are_segment_middles(num_frames, expected):
    for indices in _eager_and_mapped(lambda n: sampling.segment_indices(n, 8, False), num_frames):
        assert indices.tolist() == expected


def test_multi_clip_indices_spread_over_segments():
    clips = sampling.multi_clip_indices(100, 4, num_clips=10).numpy()
    assert clips.shape == (10, 4)
    # Clip k of segment i sits at (i + (k + .5)/10) * 25: ten distinct frames per segment.
    assert clips[:, 0].tolist() == [1, 3, 6, 8, 11, 13, 16, 18, 21, 23]
    assert clips[:, 3].tolist() == [76, 78, 81, 83, 86, 88, 91, 93, 96, 98]
    assert np.array_equal(clips[4:6].mean(0).round(), sampling.segment_indices(100, 4, False))


@pytest.mark.parametrize(("num_segments", "num_clips"), [(1, 5), (4, 1), (8, 3), (16, 10)])
def test_multi_clip_indices_are_exact_floors(num_segments, num_clips):
    # The real-valued formula evaluated exactly: no frame lost to float rounding where
    # (i + (k + 1/2) / C) * n / T is a whole number (float64 gave 62 for n=90, T=1, C=5, k=3).
    import fractions

    for num_frames in (1, 2, 7, 90, 170, 301, 1000):
        got = sampling.multi_clip_indices(num_frames, num_segments, num_clips).numpy()
        assert got.dtype == np.int32
        for k in range(num_clips):
            for i in range(num_segments):
                position = (i + fractions.Fraction(2 * k + 1, 2 * num_clips)) * num_frames
                expected = min(int(position / num_segments), num_frames - 1)
                assert got[k, i] == expected, (num_frames, k, i)


def test_sampling_graph_has_no_float64():
    # LiteRT runs float64 arithmetic only through TF fallback (Flex) ops.
    graph = (
        tf.function(lambda n: sampling.multi_clip_indices(n, 8, 10))
        .get_concrete_function(tf.TensorSpec([], tf.int32))
        .graph
    )
    dtypes = {t.dtype for op in graph.get_operations() for t in op.outputs}
    assert tf.float64 not in dtypes and tf.int32 in dtypes


def test_preprocessor_samples_as_sampling_does():
    preprocessor = VideoClassifierPreprocessor(num_segments=8, image_size=32)
    for num_frames in (1, 4, 16, 37):
        np.testing.assert_array_equal(
            preprocessor.sample_indices(num_frames, training=False),
            sampling.segment_indices(num_frames, 8, False),
        )
        np.testing.assert_array_equal(
            preprocessor.clip_indices(num_frames, 10),
            sampling.multi_clip_indices(num_frames, 8, 10),
        )
    training = preprocessor.sample_indices(37, training=True).numpy()
    assert training.shape == (8,) and training.dtype == np.int32


def test_normalize_imagenet():
    normalize = VideoClassifierPreprocessor().normalize
    pixel = tf.constant([[[255 * 0.485, 255 * 0.456, 255 * 0.406]]])
    np.testing.assert_allclose(normalize(pixel).numpy(), 0.0, atol=1e-6)
    white = normalize(tf.fill([1, 1, 3], tf.constant(255, tf.uint8))).numpy()
    assert white.dtype == np.float32
    np.testing.assert_allclose(
        white[0, 0], [(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225], rtol=1e-6
    )
