"""Video-level evaluation of a trained model on a preprocessed split (``stm-keras evaluate``).

Views of consecutive videos stream through one tf.data pipeline and are batched together, so the
model always sees full batches whatever the protocol; each video's score is the mean softmax of
its views.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from stm_keras.data import schema
from stm_keras.evaluation import confusion_image, metrics
from stm_keras.models.video_classifier_preprocessor import Protocol, VideoClassifierPreprocessor

ProgressCallback = Callable[[int, int], None]


@dataclasses.dataclass
class EvaluationResult:
    """What :func:`evaluate` measured.

    Attributes:
        video_ids: list of str. Videos in the order of the split's shards.
        labels: int64 ``[num_videos]``. True class indices.
        probabilities: float64 ``[num_videos, num_classes]``. Softmax averaged over the views.
        metrics: dict. :func:`metrics.classification_metrics` of the above.
    """

    video_ids: list[str]
    labels: np.ndarray
    probabilities: np.ndarray
    metrics: dict[str, Any]


def view_dataset(
    files: Sequence[str],
    preprocessor: VideoClassifierPreprocessor,
    protocol: Protocol,
    batch_size: int,
) -> tf.data.Dataset:
    """Batches of views of every video in ``files``, in file order (``preprocessor.test_views``).

    Returns:
        A dataset of dicts: ``views`` float32 ``[≤batch_size, T, S, S, 3]`` and, per view, the
        ``video_index`` (position of its video in the split), ``label`` and ``video_id``.
    """

    def to_views(index: tf.Tensor, video: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        count = [protocol.num_views]
        return {
            "views": preprocessor.test_views(video["frames"], protocol),
            "video_index": tf.fill(count, index),
            "label": tf.fill(count, video["label"]),
            "video_id": tf.fill(count, video["video_id"]),
        }

    dataset = tf.data.TFRecordDataset(list(files)).map(schema.parse)
    dataset = dataset.enumerate().map(to_views, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.unbatch().batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def evaluate(
    model: Any,
    files: Sequence[str],
    protocol: Protocol,
    batch_size: int = 32,
    progress: ProgressCallback | None = None,
) -> EvaluationResult:
    """Scores every video of ``files`` with ``protocol`` and computes the metrics.

    Args:
        model: STMVideoClassifier with a preprocessor that has class names.
        files: sequence of str. TFRecord shards (``schema.split_files``).
        protocol: Protocol. ``PROTOCOLS["1x1"]`` or ``PROTOCOLS["3x10"]``.
        batch_size: int. Views per model call. Defaults to 32.
        progress: callable ``(videos_started, views_done)``, called after every batch.

    Raises:
        ValueError: when the split is empty, unlabelled, or has labels beyond the classes.
    """
    class_names = list(model.class_names or [str(k) for k in range(model.num_classes)])
    num_classes = len(class_names)
    totals = np.zeros((0, num_classes))
    labels = np.zeros((0,), np.int64)
    video_ids: list[str] = []
    views_done = 0
    dataset = view_dataset(files, model.preprocessor, protocol, batch_size)
    for batch in dataset.as_numpy_iterator():
        # The views are preprocessed already: keras.Model's predict_on_batch, not the Task's,
        # which would run the preprocessor again.
        logits = keras.Model.predict_on_batch(model, batch["views"])
        probabilities = _softmax(np.asarray(logits))
        index = batch["video_index"]
        if index.max() >= totals.shape[0]:
            grow = max(2 * totals.shape[0], int(index.max()) + 1) - totals.shape[0]
            totals = np.concatenate([totals, np.zeros((grow, num_classes))])
            labels = np.concatenate([labels, np.zeros((grow,), np.int64)])
        np.add.at(totals, index, probabilities)
        labels[index] = batch["label"]
        for i, video_id in zip(index, batch["video_id"], strict=True):
            if i == len(video_ids):
                video_ids.append(video_id.decode("utf-8"))
        views_done += len(index)
        if progress is not None:
            progress(len(video_ids), views_done)

    num_videos = len(video_ids)
    if num_videos == 0:
        raise ValueError(f"no videos in {list(files)}")
    labels = labels[:num_videos]
    if np.any(labels == schema.NO_LABEL):
        raise ValueError("the split has unlabelled videos (label -1): it cannot be evaluated")
    if labels.max() >= num_classes:
        raise ValueError(f"label {labels.max()} is beyond the model's {num_classes} classes")
    probabilities = totals[:num_videos] / protocol.num_views
    return EvaluationResult(
        video_ids=video_ids,
        labels=labels,
        probabilities=probabilities,
        metrics=metrics.classification_metrics(probabilities, labels, class_names),
    )


def save_report(report: dict[str, Any], json_path: str) -> tuple[str, str]:
    """Writes ``report`` (metrics plus run details) as JSON and its confusion matrix as PNG.

    The PNG sits beside the JSON with the same stem; its path is recorded in the JSON.

    Returns:
        ``(json_path, png_path)``.
    """
    png_path = os.path.splitext(json_path)[0] + ".png"
    directory = os.path.dirname(os.path.abspath(json_path))
    os.makedirs(directory, exist_ok=True)
    confusion_image.save_confusion_matrix(
        np.asarray(report["confusion_matrix"]), report["classes"], png_path
    )
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump({**report, "confusion_matrix_png": png_path}, f, indent=2)
    return json_path, png_path
