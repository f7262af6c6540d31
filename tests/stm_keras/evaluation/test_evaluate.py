"""evaluate() against a slow reference: every view decoded, cropped and classified by itself."""

import numpy as np
import pytest
import tensorflow as tf
from deploy_testing import CLASSES, FRAMES, IMAGE_SIZE, NUM_VIDEOS, tiny_model_dir

from stm_keras import model_dir
from stm_keras.data import sampling, schema, transforms
from stm_keras.evaluation import evaluate, views


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
                crops = [transforms.single_view(clip, IMAGE_SIZE)]
            else:
                crops = list(transforms.three_crop_views(clip, IMAGE_SIZE))
            for crop in crops:
                logits = classify(sampling.normalize(crop))
                total += tf.nn.softmax(tf.cast(logits, tf.float64))[0].numpy()
        probabilities.append(total / (num_clips * num_crops))
        labels.append(record.label_index)
    return np.stack(probabilities), np.array(labels)


@pytest.mark.parametrize(("protocol", "batch_size"), [("1x1", 2), ("3x10", 7)])
def test_evaluate_matches_view_by_view_reference(protocol, batch_size):
    directory = tiny_model_dir()
    config = model_dir.load_config(directory)
    model = model_dir.load_model(directory)
    files = schema.split_files(config["data_dir"], "validation")
    spec = views.PROTOCOLS[protocol]
    progress = []
    result = evaluate.evaluate(
        model,
        files,
        CLASSES,
        FRAMES,
        IMAGE_SIZE,
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


def test_unlabelled_split_is_refused(tmp_path):
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
    model = model_dir.load_model(tiny_model_dir())
    with pytest.raises(ValueError, match="unlabelled"):
        evaluate.evaluate(model, [path], CLASSES, FRAMES, IMAGE_SIZE, views.PROTOCOLS["1x1"])
