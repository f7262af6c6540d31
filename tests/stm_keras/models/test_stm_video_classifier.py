"""STMVideoClassifier: TSN consensus head, mixed precision, preprocessing, arguments."""

import keras
import numpy as np
import pytest

from stm_keras.models import STMBackbone, STMVideoClassifier, VideoClassifierPreprocessor

FRAMES = 3
SIZE = 32
TINY = {"depth": 18, "num_segments": FRAMES, "width_multiplier": 0.125, "image_size": SIZE}
CLASSES = ["push", "pull", "swipe left", "swipe right"]


def _clips(clips: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(clips, FRAMES, SIZE, SIZE, 3)).astype("float32")


def _randomize_head(classifier: STMVideoClassifier, seed: int = 0) -> None:
    """Replaces the near-zero initial head by one whose logits clearly differ per class."""
    rng = np.random.default_rng(seed)
    dense = classifier.get_layer("classifier")
    dense.set_weights([rng.normal(size=w.shape).astype("float32") for w in dense.weights])


def test_logits_are_the_dense_head_on_frame_averaged_features():
    classifier = STMVideoClassifier(STMBackbone(**TINY), num_classes=len(CLASSES))
    _randomize_head(classifier)
    x = _clips()
    extractor = classifier.backbone.feature_extractor(["avg_pool"])
    frame_features = np.asarray(extractor(x)["avg_pool"]).reshape(2, FRAMES, -1)
    kernel, bias = (np.asarray(w) for w in classifier.get_layer("classifier").weights)
    expected = frame_features.mean(axis=1) @ kernel + bias
    logits = np.asarray(classifier(x, training=False))
    assert logits.shape == (2, len(CLASSES))
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    # TSN's consensus: by linearity, the average of per-frame logits.
    per_frame = (frame_features @ kernel + bias).mean(axis=1)
    np.testing.assert_allclose(logits, per_frame, rtol=1e-5, atol=1e-5)


def test_logits_are_float32_under_mixed_bfloat16():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        classifier = STMVideoClassifier(STMBackbone(**TINY), num_classes=len(CLASSES))
    finally:
        keras.config.set_dtype_policy(previous)
    assert keras.config.dtype_policy().name == previous.name
    assert classifier.backbone.get_layer("conv2_block1_1_conv").compute_dtype == "bfloat16"
    assert classifier.backbone.get_layer("conv2_block1_1_conv").kernel.dtype == "float32"
    features = classifier.backbone(_clips(), training=False)
    assert keras.backend.standardize_dtype(features.dtype) == "bfloat16"
    logits = classifier(_clips(), training=False)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert np.all(np.isfinite(np.asarray(logits)))


def test_predict_runs_the_preprocessor_on_raw_videos():
    preprocessor = VideoClassifierPreprocessor(
        num_segments=FRAMES, image_size=SIZE, class_names=CLASSES
    )
    classifier = STMVideoClassifier(STMBackbone(**TINY), len(CLASSES), preprocessor=preprocessor)
    _randomize_head(classifier)
    assert classifier.class_names == CLASSES
    videos = np.random.default_rng(1).integers(0, 256, size=(3, 7, 40, 52, 3), dtype=np.uint8)
    predicted = classifier.predict(videos, batch_size=2, verbose=0)
    expected = np.asarray(classifier(preprocessor(videos), training=False))
    assert predicted.shape == (3, len(CLASSES))
    np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-5)


def test_default_compile_matches_the_activation():
    logits = STMVideoClassifier(STMBackbone(**TINY), num_classes=3)
    assert logits.loss.get_config()["from_logits"] is True
    softmax = STMVideoClassifier(STMBackbone(**TINY), num_classes=3, activation="softmax")
    assert softmax.loss.get_config()["from_logits"] is False
    np.testing.assert_allclose(np.asarray(softmax(_clips())).sum(axis=-1), 1.0, rtol=1e-5)
    metrics = {m["config"]["name"]: m["config"] for m in softmax.get_compile_config()["metrics"]}
    assert set(metrics) == {"top1", "top5"} and metrics["top5"]["k"] == 3  # capped at 3 classes


def test_rejects_inconsistent_arguments():
    backbone = STMBackbone(**TINY)
    with pytest.raises(ValueError, match="num_classes"):
        STMVideoClassifier(backbone, num_classes=0)
    other = VideoClassifierPreprocessor(num_segments=FRAMES + 1, image_size=SIZE)
    with pytest.raises(ValueError, match=f"samples {FRAMES + 1} frames .* takes {FRAMES}"):
        STMVideoClassifier(backbone, num_classes=3, preprocessor=other)
