"""Training augmentation (TSN multi-scale corner crop, flip), eagerly and inside Dataset.map."""

import numpy as np
import pytest
import tensorflow as tf

from stm_keras.data import augment


def _eager_and_mapped(fn, *args):
    eager = fn(*[tf.constant(a) for a in args])
    mapped = next(iter(tf.data.Dataset.from_tensors(tuple(args)).map(fn)))
    return [eager.numpy(), mapped.numpy()]


def test_every_tsn_scale_pair_is_drawn():
    pairs = {tuple(p) for p in augment._crop_size_pairs().numpy().tolist()}
    assert pairs == {(i, j) for i in range(4) for j in range(4) if abs(i - j) <= 1}
    assert augment.CROP_SCALES == (1.0, 0.875, 0.75, 0.66)


@pytest.mark.parametrize(("height", "width"), [(256, 340), (100, 176), (40, 30)])
def test_crop_window_follows_tsn(height, width):
    short = min(height, width)
    sizes = [int(short * s) for s in augment.CROP_SCALES]
    eager = [augment.multi_scale_crop_window(height, width).numpy() for _ in range(40)]
    mapped = tf.data.Dataset.from_tensors((height, width)).repeat(40)
    mapped = [w.numpy() for w in mapped.map(augment.multi_scale_crop_window)]
    for windows in (eager, mapped):
        seen_positions, seen_pairs = set(), set()
        for top, left, crop_h, crop_w in windows:
            assert crop_h in sizes and crop_w in sizes
            i, j = sizes.index(crop_h), sizes.index(crop_w)
            assert abs(i - j) <= augment.MAX_DISTORT
            assert 0 <= top <= height - crop_h and 0 <= left <= width - crop_w
            step_h, step_w = (height - crop_h) // 4, (width - crop_w) // 4
            if step_h and step_w:
                position = (top // step_h, left // step_w)
                assert position in {(0, 0), (0, 4), (4, 0), (4, 4), (2, 2)}
                seen_positions.add(position)
            seen_pairs.add((i, j))
        # The draws spread over TSN's scale pairs and, where the crop can move, its positions.
        assert len(seen_pairs) >= 6
        assert len(seen_positions) >= 3


def _clip_jpegs(num_frames=3, height=40, width=40):
    """Identical frames: left half black, right half white."""
    frames = []
    for _ in range(num_frames):
        frame = np.zeros((height, width, 3), np.uint8)
        frame[:, width // 2 :] = 255
        frames.append(tf.io.encode_jpeg(frame, quality=100))
    return tf.stack(frames)


def test_train_view_shape_and_same_crop_for_all_frames():
    jpegs = _clip_jpegs()

    def view(j):
        return augment.train_view(j, 40, 40, image_size=16)

    for clip in _eager_and_mapped(view, jpegs):
        assert clip.shape == (3, 16, 16, 3) and clip.dtype == np.float32
        # Identical frames cropped with one window stay identical.
        np.testing.assert_array_equal(clip[0], clip[1])
        np.testing.assert_array_equal(clip[0], clip[2])


@pytest.mark.parametrize("flip", [False, True])
def test_flip_mirrors_whole_clips_only_when_asked(flip):
    jpegs = _clip_jpegs()
    mirrored = []
    dataset = tf.data.Dataset.from_tensors(jpegs).repeat(30)
    dataset = dataset.map(lambda j: augment.train_view(j, 40, 40, image_size=16, flip=flip))
    for clip in dataset:
        clip = clip.numpy()
        left, right = clip[..., 0, :].mean(), clip[..., -1, :].mean()
        # Every corner/centre crop of >= 0.66 of the side keeps black left, white right.
        assert abs(left - right) > 200
        mirrored.append(left > right)
        assert len({bool(clip[t, ..., 0, :].mean() > 128) for t in range(3)}) == 1
    assert any(mirrored) == flip
    assert not all(mirrored)


@pytest.mark.parametrize(
    "dataset", ["jester", "something-something-v2", "something_something_v1", "ssv2"]
)
def test_flip_refused_for_direction_datasets(dataset):
    assert not augment.flip_allowed(dataset)
    assert not augment.default_flip(dataset)
    with pytest.raises(ValueError, match="direction"):
        augment.check_flip(dataset, True)
    augment.check_flip(dataset, False)


@pytest.mark.parametrize("dataset", ["kinetics400", "ucf101", "hmdb51"])
def test_flip_on_by_default_for_appearance_datasets(dataset):
    assert augment.default_flip(dataset)
    augment.check_flip(dataset, True)


@pytest.mark.parametrize(
    ("info", "sensitive"),
    [
        # The recorded entry decides, whatever the name says.
        ({"dataset": "jester", "direction_sensitive": False}, False),
        ({"dataset": "kinetics400", "direction_sensitive": True}, True),
        ({"dataset": "my-videos", "direction_sensitive": True}, True),
        # dataset_info.json written before the entry existed: the name decides.
        ({"dataset": "something_something_v1"}, True),
        ({"dataset": "ucf101"}, False),
    ],
)
def test_flip_policy_reads_dataset_info(info, sensitive):
    assert augment.direction_sensitive(info) is sensitive
    assert augment.flip_allowed(info) is not sensitive
    assert augment.default_flip(info) is not sensitive
    augment.check_flip(info, False)
    if sensitive:
        with pytest.raises(ValueError, match=f"dataset '{info['dataset']}'.*direction"):
            augment.check_flip(info, True)
    else:
        augment.check_flip(info, True)


def test_flip_is_off_by_default_when_nothing_is_known():
    assert not augment.default_flip({})
    assert not augment.default_flip(None)
    assert augment.default_flip({"direction_sensitive": False})


def test_a_direction_sensitive_entry_that_is_not_a_boolean_is_named():
    with pytest.raises(ValueError, match="direction_sensitive.*'yes'"):
        augment.direction_sensitive({"dataset": "x", "direction_sensitive": "yes"})


@pytest.mark.parametrize("flip", [False, True])
def test_preprocessor_train_clip_samples_crops_flips_and_normalizes(flip):
    from stm_keras.models import VideoClassifierPreprocessor

    preprocessor = VideoClassifierPreprocessor(num_segments=2, image_size=16, flip=flip)
    jpegs = _clip_jpegs(num_frames=5)
    dataset = tf.data.Dataset.from_tensors(jpegs).repeat(30)
    mirrored = []
    for clip in dataset.map(lambda j: preprocessor.train_clip(j, 5)):
        clip = clip.numpy()
        assert clip.shape == (2, 16, 16, 3) and clip.dtype == np.float32
        # Normalized: black is -mean/std, white (1 - mean)/std.
        assert -2.2 < clip.min() < -1.7 and 2.0 < clip.max() < 2.7
        left, right = clip[..., 0, :].mean(), clip[..., -1, :].mean()
        mirrored.append(left > right)
    assert any(mirrored) == flip
    assert not all(mirrored)
    if flip:
        with pytest.raises(ValueError, match="direction"):
            preprocessor.check_flip("jester")
        with pytest.raises(ValueError, match="'mine'"):
            preprocessor.check_flip({"dataset": "mine", "direction_sensitive": True})
    else:
        preprocessor.check_flip("jester")
    assert preprocessor.flip_allowed({"dataset": "jester", "direction_sensitive": False})
