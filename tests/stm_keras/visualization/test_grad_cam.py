"""Grad-CAM over time: the gradient maths against CAM's closed form, class choice, picture."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from deploy_testing import CLASSES, FRAMES, video_frames
from picture_testing import assert_picture

from stm_keras import model_dir
from stm_keras.visualization import grad_cam
from stm_keras.visualization.features import UnknownBlockError
from stm_keras.visualization.grad_cam import UnknownClassError


@pytest.fixture(scope="module")
def classifier(tiny_model_dir):
    return model_dir.load_classifier(tiny_model_dir)


@pytest.fixture(scope="module")
def frames():
    return video_frames(FRAMES, 40, 52, seed=4)


def test_grad_cam_is_cam_for_a_linear_head_on_averaged_maps(tiny_model_dir, frames):
    # The head is linear on the last maps averaged over frames and space, so the gradient of
    # logit k w.r.t. every position is W[:, k] / (T*h*w), and Grad-CAM is
    # ReLU(maps @ W[:, k]) / (T*h*w): CAM.
    classifier = model_dir.load_classifier(tiny_model_dir)  # its head is changed below
    backbone = classifier.backbone
    layer = "conv5_block2_out"
    clips = classifier.preprocessor(frames[np.newaxis])
    maps = np.asarray(keras.Model(backbone.input, backbone.get_layer(layer).output)(clips))
    # The random tiny model's head may give every class negative evidence on this clip (an
    # all-zero CAM, in a few percent of weight draws). Pointing one class's weights along the
    # maps' (non-negative, not all zero) mean gives it positive evidence, so the comparison
    # and the clip normalization are always exercised.
    k = 1
    kernel = np.asarray(classifier.output_dense.kernel).copy()
    kernel[:, k] = maps.mean(axis=(0, 1, 2)) / np.linalg.norm(maps.mean(axis=(0, 1, 2)))
    classifier.output_dense.kernel.assign(kernel)
    positions = maps.shape[0] * maps.shape[1] * maps.shape[2]
    expected = np.maximum(maps @ kernel[:, k], 0) / positions
    assert expected.max() > 0
    result = grad_cam.compute_grad_cam(classifier, frames, CLASSES[k])
    assert result.layer == layer
    np.testing.assert_allclose(result.maps, expected, rtol=1e-4, atol=1e-7)
    assert result.heat.shape == result.frames.shape[:3]
    assert result.heat.min() >= 0 and result.heat.max() == pytest.approx(1.0)
    assert result.class_index == k and result.class_name == CLASSES[k]


def test_an_earlier_block_gives_maps_at_its_resolution(classifier, frames):
    result = grad_cam.compute_grad_cam(classifier, frames, block="conv3_block1")
    shape = classifier.backbone.get_layer("conv3_block1_out").output.shape
    assert result.layer == "conv3_block1_out"
    assert result.maps.shape == (FRAMES, shape[1], shape[2])
    assert result.maps.min() >= 0 and 0 <= result.heat.min() <= result.heat.max() <= 1


def test_default_class_is_the_prediction(classifier, frames):
    result = grad_cam.compute_grad_cam(classifier, frames)
    logits = np.asarray(classifier(classifier.preprocessor(frames[np.newaxis])))[0]
    assert result.predicted and result.class_index == int(np.argmax(logits))
    other = grad_cam.compute_grad_cam(
        classifier, frames, CLASSES[(result.class_index + 1) % len(CLASSES)]
    )
    assert not other.predicted and other.probability < result.probability


def test_unknown_class_and_block_list_the_valid_ones(classifier, frames):
    with pytest.raises(UnknownClassError, match=f"no class named 'Nope'.*{CLASSES[0]}"):
        grad_cam.compute_grad_cam(classifier, frames, "Nope")
    with pytest.raises(UnknownBlockError, match="conv5_block2"):
        grad_cam.compute_grad_cam(classifier, frames, block="conv6_block1")


def test_picture_shows_frames_and_heat_maps(classifier, frames, tmp_path):
    result = grad_cam.compute_grad_cam(classifier, frames)
    path = grad_cam.draw_grad_cam(result, str(tmp_path / "cam.png"))
    assert_picture(path, min_width=FRAMES * 120, min_height=2 * 120)
