"""Video-level classification metrics of ``stm-keras evaluate``, computed with numpy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def top_k_accuracy(probabilities: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of videos whose label is among the ``k`` highest scores (``k`` ≤ classes)."""
    k = min(k, probabilities.shape[1])
    # Stable sort of the negated scores: among equal scores the lower class index ranks first,
    # the same tie rule as argmax.
    top = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=1)))


def confusion_matrix(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """int64 ``[num_classes, num_classes]`` counts; row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def classification_metrics(
    probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Top-1, top-5, mean class accuracy, per-class accuracy and the confusion matrix.

    Args:
        probabilities: float ``[num_videos, num_classes]``. Video-level scores.
        labels: int ``[num_videos]``. True class indices.
        class_names: sequence of str. Names in class-index order.

    Returns:
        A JSON-serializable dict. ``per_class_accuracy`` maps each class name to its accuracy,
        or None for classes without videos in the split, which ``mean_class_accuracy`` skips.
    """
    num_classes = len(class_names)
    labels = np.asarray(labels, np.int64)
    predictions = np.argmax(probabilities, axis=1)
    matrix = confusion_matrix(predictions, labels, num_classes)
    support = matrix.sum(axis=1)
    correct = np.diag(matrix)
    per_class = {
        name: (float(correct[i] / support[i]) if support[i] else None)
        for i, name in enumerate(class_names)
    }
    present = support > 0
    return {
        "num_videos": int(labels.shape[0]),
        "top1": float(np.mean(predictions == labels)),
        "top5": top_k_accuracy(probabilities, labels, 5),
        "mean_class_accuracy": float(np.mean(correct[present] / support[present])),
        "per_class_accuracy": per_class,
        "confusion_matrix": matrix.tolist(),
        "classes": list(class_names),
    }
