"""Figure 1 rows: the layers behind each row, rows equal to the named layers' outputs, the
picture, and what a TSN model shows."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from deploy_testing import FRAMES, IMAGE_SIZE, video_frames
from picture_testing import assert_picture

from stm_keras import model_dir
from stm_keras.models import STMBackbone, STMVideoClassifier, VideoClassifierPreprocessor
from stm_keras.visualization import features
from stm_keras.visualization.features import (
    BLOCK_INPUT_ROW,
    BLOCK_OUTPUT_ROW,
    CMM_ROW,
    CSTM_ROW,
    UnknownBlockError,
)


@pytest.fixture(scope="module")
def classifier(tiny_model_dir):
    return model_dir.load_classifier(tiny_model_dir)


@pytest.fixture(scope="module")
def frames():
    return video_frames(FRAMES, 40, 52, seed=3)


def _backbone(**options) -> STMBackbone:
    return STMBackbone(num_segments=4, width_multiplier=0.125, image_size=32, **options)


def test_rows_of_a_basic_and_a_bottleneck_block_name_existing_layers():
    basic = _backbone(depth=18)
    assert features.block_feature_layers(basic, "conv2_block1") == {
        BLOCK_INPUT_ROW: "pool1_pool",
        CSTM_ROW: "conv2_block1_1_relu",
        CMM_ROW: "conv2_block1_cmm",
        BLOCK_OUTPUT_ROW: "conv2_block1_out",
    }
    bottleneck = _backbone(depth=50)
    layers = features.block_feature_layers(bottleneck, "conv4_block1")
    assert layers == {
        BLOCK_INPUT_ROW: "conv3_block4_out",
        CSTM_ROW: "conv4_block1_2_relu",
        CMM_ROW: "conv4_block1_cmm",
        BLOCK_OUTPUT_ROW: "conv4_block1_out",
    }
    names = {layer.name for layer in bottleneck.layers}
    assert set(layers.values()) <= names


def test_blocks_without_cstm_or_cmm_have_no_such_rows():
    tsn = _backbone(depth=18, use_cstm=False, use_cmm=False)
    layers = features.block_feature_layers(tsn, "conv3_block2")
    assert layers[CSTM_ROW] is None and layers[CMM_ROW] is None
    motion_only = _backbone(depth=18, use_cstm=False)
    layers = features.block_feature_layers(motion_only, "conv3_block2")
    assert layers[CSTM_ROW] is None and layers[CMM_ROW] == "conv3_block2_cmm"


def test_unknown_block_lists_the_valid_names():
    with pytest.raises(UnknownBlockError, match="no block named 'conv9_block1'.*conv2_block1, "):
        features.block_feature_layers(_backbone(depth=18), "conv9_block1")


@pytest.mark.parametrize("block", ["conv2_block1", "conv3_block2"])
def test_rows_equal_the_named_layers_outputs(classifier, frames, block):
    rows = features.compute_feature_rows(classifier, frames, block)
    backbone = classifier.backbone
    assert list(rows.rows) == [BLOCK_INPUT_ROW, CSTM_ROW, CMM_ROW, BLOCK_OUTPUT_ROW]
    # The network input computed independently: sampling keeps all T frames, then the
    # preprocessor's resize, centre crop and normalization.
    preprocessor = classifier.preprocessor
    view = preprocessor.center_view(frames).numpy()
    clips = preprocessor.normalize(view)[np.newaxis]
    np.testing.assert_array_equal(rows.frames, np.round(view).astype(np.uint8))
    for title, layer in rows.layers.items():
        direct = keras.Model(backbone.input, backbone.get_layer(layer).output)
        maps = np.asarray(direct(clips, training=False))  # [T, h, w, c]
        magnitude = np.abs(maps).mean(axis=-1)
        expected = (magnitude - magnitude.min()) / (magnitude.max() - magnitude.min())
        assert rows.rows[title].shape == maps.shape[:3]
        np.testing.assert_allclose(rows.rows[title], expected, atol=1e-5, err_msg=title)
    # The CMM row's last step is the zero map CMM appends: the row's minimum, drawn but noted.
    assert np.all(rows.rows[CMM_ROW][-1] == 0)
    assert features.CMM_PADDING_NOTE in rows.notes
    logits = np.asarray(classifier(clips, training=False))[0]
    assert rows.class_name == classifier.class_names[int(np.argmax(logits))]
    assert 0 < rows.probability <= 1


def test_picture_has_a_column_per_frame_and_is_not_blank(classifier, frames, tmp_path):
    rows = features.compute_feature_rows(classifier, frames)
    path = features.draw_feature_rows(rows, str(tmp_path / "out" / "features.png"))
    # 5 rows of FRAMES columns, each cell 125 px at 100 dpi, plus labels.
    assert_picture(path, min_width=FRAMES * 120, min_height=5 * 120)


def test_tsn_model_draws_the_rows_it_has_and_says_so(frames, tmp_path):
    backbone = STMBackbone(
        depth=18,
        num_segments=FRAMES,
        width_multiplier=0.125,
        image_size=IMAGE_SIZE,
        use_cstm=False,
        use_cmm=False,
    )
    preprocessor = VideoClassifierPreprocessor(num_segments=FRAMES, image_size=IMAGE_SIZE)
    tsn = STMVideoClassifier(backbone, 3, preprocessor, dropout=0.0)
    rows = features.compute_feature_rows(tsn, frames, "conv3_block1")
    assert list(rows.rows) == [BLOCK_INPUT_ROW, BLOCK_OUTPUT_ROW]
    assert any("no CSTM and no CMM" in note for note in rows.notes)
    assert rows.class_name.startswith("class ")  # no class names: indices stand in
    path = features.draw_feature_rows(rows, str(tmp_path / "tsn.png"))
    assert_picture(path, min_width=FRAMES * 120, min_height=3 * 120)
