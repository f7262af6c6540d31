"""The pictures respond to motion: on synthetic Jester clips, after a short training of the
demo's network (STM-ResNet-18 x0.25, 8 frames of 64x64, recipe cpu-demo) on fewer videos and
epochs, CMM's output varies over time along the moving shape's path and not on the static
background (an untrained network passes too: CMM takes frame differences by construction), and
Grad-CAM's heat lies on the moving shape (not yet: see the xfail's reason).

The shape's pixels come from the generator: it draws a clip's static background first, so the
same seed with the shape absent renders the same background, and what differs from it is the
shape.
"""

from __future__ import annotations

import numpy as np
import pytest

from stm_keras import model_dir
from stm_keras.pipelines.synth import records
from stm_keras.pipelines.synth.motion import Motion, render_clip
from stm_keras.visualization import features, grad_cam
from stm_keras.visualization.clips import prepare_clip

NUM_CLASSES = 4  # Swiping Left, Right, Up, Down: the demo's classes
VIDEO_FRAMES, HEIGHT, WIDTH = 16, 72, 96  # the demo's synthetic videos
SEEDS = (1000, 1001, 1002)  # clips that no training video shares
# 4 standard deviations of the generator's per-frame noise (6 grey levels).
SHAPE_THRESHOLD = 24
MIN_RATIO = 2.0


@pytest.fixture(scope="module")
def classifier(jester_demo_model_dir):
    """The cpu-demo recipe trained on synthetic Jester videos of these classes and frame size
    (``jester_demo_model_dir`` in conftest.py, shared with other tests)."""
    return model_dir.load_classifier(jester_demo_model_dir)


def generator_clip(class_index: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic clip of the class and, per frame, the moving shape's pixels (bool)."""
    _, motion = records.layout_classes(NUM_CLASSES)[class_index]
    video = render_clip(motion, np.random.default_rng(seed), VIDEO_FRAMES, HEIGHT, WIDTH)
    empty = Motion(motion.shape, "absent")
    background = render_clip(empty, np.random.default_rng(seed), VIDEO_FRAMES, HEIGHT, WIDTH)
    # Averaging the shape-less frames leaves the static background without its frame noise.
    difference = np.abs(video.astype(np.float32) - background.astype(np.float32).mean(axis=0))
    shape = difference.max(axis=-1) > SHAPE_THRESHOLD
    covered = shape.mean(axis=(1, 2))
    assert np.all((covered > 0.03) & (covered < 0.5)), covered  # one shape, no background
    return video, shape


def model_view(preprocessor, shape: np.ndarray) -> np.ndarray:
    """The shape masks of the frames the model samples, resized and cropped as those frames."""
    indices = preprocessor.sample_indices(len(shape), training=False).numpy()
    masks = np.repeat(shape[indices, ..., np.newaxis].astype(np.float32), 3, axis=-1)
    return np.asarray(preprocessor.center_view(masks))[..., 0] > 0.5


def path_ratio(values: np.ndarray, path: np.ndarray) -> float:
    """Mean of ``values`` over ``path`` cells divided by its mean over the other cells."""
    return float(values[path].mean() / values[~path].mean())


def test_cmm_output_varies_along_the_path_and_not_on_the_background(classifier):
    block = features.DEFAULT_BLOCK
    extractor = classifier.backbone.feature_extractor([f"{block}_cmm"])
    measured = []
    for class_index in range(NUM_CLASSES):
        for seed in SEEDS:
            video, shape = generator_clip(class_index, seed)
            shape = model_view(classifier.preprocessor, shape)  # [T, S, S]
            clips = prepare_clip(classifier.preprocessor, video).clips
            cmm = np.asarray(extractor(clips)[f"{block}_cmm"])  # [T, h, w, c]
            steps, size = cmm.shape[0], cmm.shape[1]
            stride = shape.shape[1] // size
            # A feature cell is on the path when the shape covers any of its pixels in any
            # frame; the others see only the static background.
            path = shape.reshape(steps, size, stride, size, stride).any(axis=(0, 2, 4))
            # The last step is the zero map CMM appends: no motion to measure there.
            variation = cmm[:-1].std(axis=0).mean(axis=-1)
            row = features.compute_feature_rows(classifier, video, block).rows[features.CMM_ROW]
            measured.append((path_ratio(variation, path), path_ratio(row[:-1].std(axis=0), path)))
    ratios = np.array(measured)
    assert ratios.min() >= MIN_RATIO, f"path/background ratios (raw, drawn row): {ratios.round(2)}"


@pytest.mark.xfail(
    strict=True,
    reason="Grad-CAM at the last stage (2x2 maps for 64x64 input) does not concentrate on the "
    "moving shape: inside/outside its bounding box measured 0.7-1.4 on this model and "
    "0.8-2.0 (mean about 1.2) on make-demo models, against the 2x asked for",
)
def test_grad_cam_heat_lies_on_the_moving_shape(classifier):
    measured = []
    for class_index in range(NUM_CLASSES):
        for seed in SEEDS:
            video, shape = generator_clip(class_index, seed)
            shape = model_view(classifier.preprocessor, shape)
            heat = grad_cam.compute_grad_cam(classifier, video).heat  # [T, S, S]
            box = np.zeros_like(shape)
            for t, mask in enumerate(shape):
                rows, columns = np.nonzero(mask)
                box[t, rows.min() : rows.max() + 1, columns.min() : columns.max() + 1] = True
            measured.append(float(heat[box].mean() / heat[~box].mean()))
    assert min(measured) >= MIN_RATIO, f"inside/outside ratios: {np.round(measured, 2)}"
