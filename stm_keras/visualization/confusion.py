"""The confusion matrix of an ``stm-keras evaluate`` report, drawn by evaluate's own renderer
(:mod:`stm_keras.evaluation.confusion_image`) with the largest confusions listed beside it."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np

from stm_keras.evaluation import confusion_image

DEFAULT_LISTED_CONFUSIONS = 20


def read_eval_report(path: str) -> tuple[np.ndarray, list[str]]:
    """The confusion matrix and class names of an evaluation JSON written by ``evaluate``.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: naming ``path`` when it is not such a report.
    """
    with open(path, encoding="utf-8") as f:
        try:
            report = json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON ({error})") from error
    if not isinstance(report, dict) or not {"confusion_matrix", "classes"} <= set(report):
        raise ValueError(
            f"{path} is not an 'stm-keras evaluate' report: it needs 'confusion_matrix' and "
            "'classes'"
        )
    matrix = np.asarray(report["confusion_matrix"], np.int64)
    classes = [str(name) for name in report["classes"]]
    if matrix.shape != (len(classes), len(classes)):
        raise ValueError(
            f"{path}: the confusion matrix is {matrix.shape} for {len(classes)} classes"
        )
    return matrix, classes


def draw_confusion(
    matrix: np.ndarray,
    class_names: Sequence[str],
    path: str,
    listed_confusions: int = DEFAULT_LISTED_CONFUSIONS,
) -> str:
    """Writes the row-normalized confusion matrix, with up to ``listed_confusions`` of its
    largest off-diagonal cells listed beside it, to the PNG ``path``; returns ``path``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return confusion_image.save_confusion_matrix(matrix, class_names, path, listed_confusions)
