"""Parameter and FLOPs report: the paper's STM-ResNet-50 figures and the counting rules."""

import keras
import pytest

from stm_keras.layers import ChannelwiseTemporalConv, STMBlock
from stm_keras.models import STMBackbone, STMVideoClassifier, backbone_multiply_adds, summarize
from stm_keras.models.summary import layer_multiply_adds


def test_stm_resnet50_has_the_papers_size():
    model = STMVideoClassifier(STMBackbone(50, num_segments=16), num_classes=174)
    summary = summarize(model, frames=16, image_size=224)
    assert abs(summary.trainable_params - 24.0e6) <= 0.3e6
    assert abs(summary.multiply_adds - 66.5e9) <= 0.05 * 66.5e9
    # ResNet-50 alone is about 4.1 GMACs per 224x224 frame; STM adds about 1%.
    assert 4.0e9 < summary.multiply_adds_by_part["backbone"] / 16 < 4.2e9
    added = summary.multiply_adds_by_part["temporal"] + summary.multiply_adds_by_part["motion"]
    assert 0.005 < added / summary.multiply_adds < 0.02
    assert "66." in summary.format() and "24.0" in summary.format()


def test_counting_rules():
    assert layer_multiply_adds(keras.layers.Conv2D(8, 3, groups=2), (1, 4, 4, 6), (1, 2, 2, 8)) == (
        2 * 2 * 8 * 9 * 3
    )
    assert layer_multiply_adds(keras.layers.DepthwiseConv2D(3), (1, 4, 4, 6), (1, 4, 4, 6)) == (
        4 * 4 * 6 * 9
    )
    assert layer_multiply_adds(keras.layers.Dense(5), (2, 7), (2, 5)) == 70
    assert layer_multiply_adds(ChannelwiseTemporalConv(2), (4, 3, 3, 6), (4, 3, 3, 6)) == 648
    assert layer_multiply_adds(keras.layers.ReLU(), (4, 3), (4, 3)) == 0
    block = STMBlock(4, 2)
    block.build((2, 4, 4, 16))
    with pytest.raises(ValueError, match="cannot count"):
        layer_multiply_adds(block, (2, 4, 4, 16), (2, 4, 4, 16))


def test_backbone_multiply_adds_counts_each_layer_for_one_clip():
    backbone = STMBackbone(18, num_segments=2, width_multiplier=0.25, image_size=64)
    counts = backbone_multiply_adds(backbone, 2, 64)
    assert set(counts) == {layer.name for layer in backbone.layers[1:]}  # all but the input
    # conv1: 7x7, 3 -> 16 channels, stride 2 over 64 px: 32 x 32 outputs per frame, 2 frames.
    assert counts["conv1_conv"] == 2 * 32 * 32 * 16 * 49 * 3
    assert counts["conv1_bn"] == counts["conv2_block1_add"] == 0
    assert counts["conv2_block1_cmm"] > 0 and counts["conv2_block1_1_temporal"] > 0
    summary = summarize(backbone, 2, 64)
    assert sum(counts.values()) == summary.multiply_adds
    assert counts["conv2_block1_cmm"] <= summary.multiply_adds_by_part["motion"]
    with pytest.raises(ValueError, match="takes 2 frames per clip, not 4"):
        backbone_multiply_adds(backbone, 4)


def test_summary_is_deterministic_and_checks_frames():
    backbone = STMBackbone(18, num_segments=2, width_multiplier=0.25, use_cstm=False, use_cmm=False)
    model = STMVideoClassifier(backbone, num_classes=5)
    first, second = summarize(model, 2, 64), summarize(model, 2, (64, 64))
    assert first == second
    assert first.multiply_adds_by_part["temporal"] == 0
    assert summarize(model, 2, 128).multiply_adds > 3.9 * first.multiply_adds
    with pytest.raises(ValueError, match="takes 2 frames"):
        summarize(model, 8, 64)


def test_backbone_summary_is_the_classifier_without_its_head():
    backbone = STMBackbone(18, num_segments=2, width_multiplier=0.25, image_size=64)
    model = STMVideoClassifier(backbone, num_classes=5)
    alone, whole = summarize(backbone, 2, 64), summarize(model, 2, 64)
    head = backbone.num_features * 5
    assert alone.multiply_adds_by_part["classifier"] == 0
    assert whole.multiply_adds_by_part["classifier"] == head
    assert whole.multiply_adds - alone.multiply_adds == head
    assert whole.trainable_params - alone.trainable_params == head + 5
    assert alone.multiply_adds_by_part["motion"] > 0 and alone.multiply_adds_by_part["temporal"] > 0
    with pytest.raises(ValueError, match="takes images of"):
        summarize(backbone, 2, 128)
    with pytest.raises(ValueError, match="STMBackbone"):
        summarize(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]), 2, 64)
