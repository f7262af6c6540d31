"""Video-level metrics and the confusion-matrix image, against hand-computed values."""

import numpy as np
import pytest
from PIL import Image

from stm_keras.evaluation import confusion_image, metrics

NAMES = ["a", "b", "c", "d", "e", "f"]


def _scores(order_per_video):
    """Probabilities whose ranking per video is the given class order (best first)."""
    probabilities = np.zeros((len(order_per_video), len(NAMES)))
    for row, order in enumerate(order_per_video):
        for rank, cls in enumerate(order):
            probabilities[row, cls] = 1.0 / (rank + 2)
    return probabilities


def test_classification_metrics_by_hand():
    probabilities = _scores(
        [
            [0, 1, 2, 3, 4, 5],  # label 0: top-1 hit
            [1, 2, 3, 4, 5, 0],  # label 0: rank 6, miss for top-5 too
            [2, 3, 4, 5, 1, 0],  # label 1: rank 5, top-5 hit
            [1, 0, 2, 3, 4, 5],  # label 1: top-1 hit
            [1, 2, 0, 3, 4, 5],  # label 2: predicted 1
        ]
    )
    labels = np.array([0, 0, 1, 1, 2])
    result = metrics.classification_metrics(probabilities, labels, NAMES)
    assert result["num_videos"] == 5
    assert result["top1"] == pytest.approx(2 / 5)
    assert result["top5"] == pytest.approx(4 / 5)
    assert result["per_class_accuracy"] == {
        "a": 0.5, "b": 0.5, "c": 0.0, "d": None, "e": None, "f": None
    }  # fmt: skip
    assert result["mean_class_accuracy"] == pytest.approx((0.5 + 0.5 + 0.0) / 3)
    matrix = np.array(result["confusion_matrix"])
    assert matrix.shape == (6, 6) and matrix.sum() == 5
    assert matrix[0, 0] == 1 and matrix[0, 1] == 1 and matrix[1, 2] == 1
    assert matrix[1, 1] == 1 and matrix[2, 1] == 1
    assert result["classes"] == NAMES


def test_top_k_is_capped_by_the_class_count():
    probabilities = np.array([[0.1, 0.9], [0.8, 0.2]])
    assert metrics.top_k_accuracy(probabilities, np.array([0, 1]), 5) == 1.0
    assert metrics.top_k_accuracy(probabilities, np.array([0, 1]), 1) == 0.0


@pytest.mark.parametrize("num_classes", [3, 200])
def test_confusion_image_is_a_row_normalized_heat_map(tmp_path, num_classes):
    matrix = np.zeros((num_classes, num_classes), np.int64)
    matrix[0, 0] = 4  # a perfectly recognized class: darkest cell
    matrix[1, 0] = matrix[1, 1] = 1  # half right
    names = [f"class number {i}" for i in range(num_classes)]
    path = confusion_image.save_confusion_matrix(matrix, names, str(tmp_path / "cm.png"))
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    cell = confusion_image._cell_size(num_classes)
    # The matrix is drawn in the bottom-right corner, 4 px from the border.
    top = image.shape[0] - 4 - num_classes * cell
    left = image.shape[1] - 4 - num_classes * cell

    def pixel(row, column):
        return image[top + row * cell + cell // 2, left + column * cell + cell // 2]

    assert pixel(0, 0).sum() < pixel(1, 0).sum() < pixel(2, 2).sum()
    assert pixel(1, 0).tolist() == pixel(1, 1).tolist()
    assert pixel(2, 2).tolist() == [255, 255, 255]
    # Class names are drawn between the axis title and the matrix, only while they fit.
    labelled = image[18 : top - 2, left:].min() < 128
    assert labelled == (num_classes == 3)
