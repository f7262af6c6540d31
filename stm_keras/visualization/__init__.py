"""Pictures of a trained model: the paper's Figure 1 (feature rows of one block), Grad-CAM over
time, training curves and the confusion matrix of an evaluation.

Each picture has a function that computes what is drawn (arrays a test or a notebook can check)
and one that draws it with matplotlib's Agg backend (no display needed). ``stm-keras visualize``
is the command line over them.
"""

from stm_keras.visualization.confusion import draw_confusion, read_eval_report
from stm_keras.visualization.features import (
    FeatureRows,
    block_feature_layers,
    compute_feature_rows,
    draw_feature_rows,
)
from stm_keras.visualization.grad_cam import GradCam, compute_grad_cam, draw_grad_cam
from stm_keras.visualization.history import draw_history, read_history_columns

__all__ = [
    "FeatureRows",
    "GradCam",
    "block_feature_layers",
    "compute_feature_rows",
    "compute_grad_cam",
    "draw_confusion",
    "draw_feature_rows",
    "draw_grad_cam",
    "draw_history",
    "read_eval_report",
    "read_history_columns",
]
