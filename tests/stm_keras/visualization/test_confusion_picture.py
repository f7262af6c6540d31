"""Confusion pictures from evaluate's renderer: the largest confusions listed beside the matrix,
readable at 27 classes and usable at 174."""

from __future__ import annotations

import json

import numpy as np
import pytest
from picture_testing import assert_picture

from stm_keras.evaluation import confusion_image
from stm_keras.visualization import confusion


def test_largest_confusions_are_off_diagonal_and_ordered():
    matrix = np.array([[5, 2, 0], [3, 1, 3], [0, 1, 9]])
    assert confusion_image.largest_confusions(matrix, 10) == [
        (1, 0, 3, 3 / 7),
        (1, 2, 3, 3 / 7),
        (0, 1, 2, 2 / 7),
        (2, 1, 1, 1 / 10),
    ]
    assert confusion_image.largest_confusions(matrix, 1) == [(1, 0, 3, 3 / 7)]
    assert confusion_image.largest_confusions(np.eye(3, dtype=int), 5) == []


@pytest.mark.parametrize("num_classes", [27, 174])
def test_picture_lists_the_largest_confusions_beside_the_matrix(tmp_path, num_classes):
    rng = np.random.default_rng(num_classes)
    matrix = np.diag(rng.integers(5, 20, num_classes)) + rng.binomial(1, 0.02, (num_classes,) * 2)
    names = [f"class number {i} with a long name" for i in range(num_classes)]
    path = confusion.draw_confusion(matrix, names, str(tmp_path / "cm.png"), listed_confusions=20)
    pixels = assert_picture(path, min_width=700, min_height=num_classes)
    alone = np.asarray(confusion_image.render_confusion_matrix(matrix, names))
    # The list is a text column right of the matrix, which is drawn as evaluate draws it.
    assert pixels.shape[1] > alone.shape[1] + 300
    np.testing.assert_array_equal(pixels[: alone.shape[0], : alone.shape[1]], alone)
    listing = pixels[:, alone.shape[1] :]
    assert listing.min() < 128  # dark text


def test_eval_report_is_read_and_checked(tmp_path):
    path = tmp_path / "eval.json"
    path.write_text(json.dumps({"confusion_matrix": [[1, 0], [1, 1]], "classes": ["a", "b"]}))
    matrix, classes = confusion.read_eval_report(str(path))
    assert matrix.tolist() == [[1, 0], [1, 1]] and classes == ["a", "b"]
    path.write_text(json.dumps({"top1": 1.0}))
    with pytest.raises(ValueError, match="not an 'stm-keras evaluate' report"):
        confusion.read_eval_report(str(path))
    path.write_text(json.dumps({"confusion_matrix": [[1]], "classes": ["a", "b"]}))
    with pytest.raises(ValueError, match=r"\(1, 1\) for 2 classes"):
        confusion.read_eval_report(str(path))
