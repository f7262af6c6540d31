"""evaluate() against a slow reference: every view decoded, cropped and classified by itself."""

import numpy as np
import pytest
import tensorflow as tf
from deploy_testing import CLASSES, FRAMES, IMAGE_SIZE, NUM_VIDEOS

from stm_keras import model_dir
from stm_keras.data import sampling, schema, transforms
from stm_keras.evaluation import evaluate
from stm_keras.models import PROTOCOLS

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def _normalize(view: tf.Tensor) -> np.ndarray:
    return (view.numpy() / 255.0 - IMAGENET_MEAN) / IMAGENET_STD


def _reference(model, files, num_clips, num_crops):
    """Video probabilities and labels, one view and one model call at a time."""
    probabilities, labels = [], []
    # Traced once: per-view eager calls of even a tiny model would dominate the test time.
    classify = tf.function(lambda view: model(view[tf.newaxis], training=False))
    for serialized in tf.data.TFRecordDataset(files):
        record = schema.decode(serialized.numpy())
        frames = [tf.io.decode_jpeg(jpeg, channels=3) for jpeg in record.frames]
        clips = sampling.multi_clip_indices(len(frames), FRAMES, num_clips).numpy()
        total = np.zeros(len(CLASSES))
        for clip_indices in clips:
            clip = tf.stack([frames[i] for i in clip_indices])
            if num_crops == 1:
                resized = transforms.resize_short_side(clip, transforms.scale_size_for(IMAGE_SIZE))
                crops = [transforms.center_crop(resized, IMAGE_SIZE)]
            else:
                crops = list(transforms.three_crop_views(clip, IMAGE_SIZE))
            for crop in crops:
                logits = classify(tf.constant(_normalize(crop)))
                total += tf.nn.softmax(tf.cast(logits, tf.float64))[0].numpy()
        probabilities.append(total / (num_clips * num_crops))
        labels.append(record.label_index)
    return np.stack(probabilities), np.array(labels)


@pytest.mark.parametrize(("protocol", "batch_size"), [("1x1", 2), ("3x10", 7)])
def test_evaluate_matches_view_by_view_reference(tiny_model_dir, protocol, batch_size):
    config = model_dir.load_config(tiny_model_dir)
    model = model_dir.load_classifier(tiny_model_dir)
    assert model.class_names == list(CLASSES)
    files = schema.split_files(config["data_dir"], "validation")
    spec = PROTOCOLS[protocol]
    progress = []
    result = evaluate.evaluate(
        model,
        files,
        spec,
        batch_size=batch_size,
        progress=lambda videos, seen: progress.append((videos, seen)),
    )
    expected, labels = _reference(model, files, spec.num_clips, spec.num_crops)

    np.testing.assert_allclose(result.probabilities, expected, atol=1e-5)
    np.testing.assert_array_equal(result.labels, labels)
    assert sorted(result.video_ids) == [f"validation-{i}" for i in range(NUM_VIDEOS)]
    predicted = expected.argmax(axis=1)
    assert result.metrics["top1"] == pytest.approx(np.mean(predicted == labels))
    assert result.metrics["top5"] == 1.0  # top-5 of 3 classes
    per_class = [np.mean(predicted[labels == c] == c) for c in range(len(CLASSES))]
    assert list(result.metrics["per_class_accuracy"].values()) == pytest.approx(per_class)
    assert result.metrics["mean_class_accuracy"] == pytest.approx(np.mean(per_class))
    matrix = np.zeros((len(CLASSES),) * 2, int)
    for label, prediction in zip(labels, predicted, strict=True):
        matrix[label, prediction] += 1
    assert result.metrics["confusion_matrix"] == matrix.tolist()
    # Every view went through the model, in batches of batch_size.
    assert progress[-1] == (NUM_VIDEOS, NUM_VIDEOS * spec.num_views)
    assert len(progress) == -(-NUM_VIDEOS * spec.num_views // batch_size)


def test_unlabelled_split_is_refused(tiny_model_dir, tmp_path):
    path = str(tmp_path / "test-00000-of-00001.tfrecord")
    record = schema.VideoRecord(
        video_id="x",
        frames=[tf.io.encode_jpeg(np.zeros((36, 36, 3), np.uint8)).numpy()],
        label_index=schema.NO_LABEL,
        label_text="",
        height=36,
        width=36,
        fps=12.0,
    )
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(schema.encode(record))
    model = model_dir.load_classifier(tiny_model_dir)
    with pytest.raises(ValueError, match="unlabelled"):
        evaluate.evaluate(model, [path], PROTOCOLS["1x1"])
