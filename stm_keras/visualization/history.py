"""Training curves of a ``stm-keras fit`` run: loss, top-1 and learning rate per epoch, train
and validation, from the model directory's ``history.csv``."""

from __future__ import annotations

import math
import os

import numpy as np

from stm_keras.visualization import clips as clip_utils

HISTORY_FILE = "history.csv"
# (panel title, train column, validation column or None, logarithmic y axis)
PANELS = (
    ("loss", "loss", "val_loss", True),
    ("top-1 accuracy", "top1", "val_top1", False),
    ("learning rate", "lr", None, True),
)


def history_path(model_dir: str) -> str:
    """``model_dir/history.csv``; a path to a CSV file is taken as it is.

    Raises:
        FileNotFoundError: naming the path, when there is no such file.
    """
    path = model_dir if model_dir.endswith(".csv") else os.path.join(model_dir, HISTORY_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} not found: --model-dir takes the directory of a 'stm-keras fit' run"
        )
    return path


def _number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def read_history_columns(path: str) -> dict[str, np.ndarray]:
    """The columns of a ``history.csv`` as float64 arrays (NaN where a cell is empty).

    Raises:
        ValueError: naming ``path`` when it has no epoch rows or no ``epoch`` column.
    """
    from stm_keras.training.callbacks import read_history

    rows = read_history(path)
    if not rows or "epoch" not in rows[0]:
        raise ValueError(f"{path} holds no epochs (expected a header with 'epoch' and rows)")
    columns = {key for row in rows for key in row if key}
    return {key: np.array([_number(row.get(key)) for row in rows]) for key in sorted(columns)}


def draw_history(columns: dict[str, np.ndarray], path: str, title: str = "training") -> str:
    """Draws loss, top-1 and learning rate against the epoch (1 = the first) into ``path``.

    Train curves are solid, validation curves dashed; a column the run did not log is left
    out of its panel. Loss and learning rate use a logarithmic axis while they are positive.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(13, 4))
    panels = figure.subplots(1, len(PANELS))
    epochs = columns["epoch"] + 1
    for axes, (panel_title, train, validation, logarithmic) in zip(panels, PANELS, strict=True):
        drawn = []
        for column, label, style in ((train, "train", "-"), (validation, "validation", "--")):
            values = columns.get(column) if column else None
            if values is None or np.isnan(values).all():
                continue
            axes.plot(epochs, values, style, marker="o", markersize=3, label=label)
            drawn.append(values)
        if logarithmic and drawn and min(np.nanmin(values) for values in drawn) > 0:
            axes.set_yscale("log")
        axes.set_title(panel_title)
        axes.set_xlabel("epoch")
        axes.grid(True, alpha=0.3)
        if len(drawn) > 1:
            axes.legend(fontsize=8)
        elif not drawn:
            axes.text(0.5, 0.5, "not logged", ha="center", va="center", transform=axes.transAxes)
    figure.suptitle(title)
    figure.tight_layout()
    return clip_utils.save_figure(figure, path)
