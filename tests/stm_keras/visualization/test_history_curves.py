"""Training curves from history.csv, with and without validation columns."""

from __future__ import annotations

import numpy as np
import pytest
from picture_testing import assert_picture

from stm_keras.visualization import history

HEADER = "epoch,loss,top1,top5,val_loss,val_top1,val_top5,lr\n"


def _write(path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_columns_are_numbers_with_nan_for_empty_cells(tmp_path):
    path = _write(
        tmp_path / "history.csv", HEADER + "0,2.5,0.25,1,3.1,0.3,1,0.05\n1,1.5,0.5,1,,,,0.005\n"
    )
    columns = history.read_history_columns(path)
    np.testing.assert_array_equal(columns["epoch"], [0, 1])
    np.testing.assert_allclose(columns["lr"], [0.05, 0.005])
    assert np.isnan(columns["val_top1"][1])


def test_curves_picture(tmp_path):
    rows = [
        f"{epoch},{2.0 / (epoch + 1)},{min(1.0, 0.1 * epoch)},1,{2.2 / (epoch + 1)},"
        f"{min(1.0, 0.09 * epoch)},1,{0.1 if epoch < 8 else 0.01}"
        for epoch in range(12)
    ]
    _write(tmp_path / "history.csv", HEADER + "\n".join(rows) + "\n")
    path = history.draw_history(
        history.read_history_columns(history.history_path(str(tmp_path))),
        str(tmp_path / "curves.png"),
    )
    assert_picture(path, min_width=1000, min_height=300)


def test_a_run_without_validation_draws_train_curves(tmp_path):
    path = _write(
        tmp_path / "history.csv", "epoch,loss,top1,top5,lr\n0,2,0.2,1,0.1\n1,1,0.6,1,0.1\n"
    )
    out = history.draw_history(history.read_history_columns(path), str(tmp_path / "c.png"))
    assert_picture(out, min_width=1000, min_height=300)


def test_missing_or_empty_history_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="history.csv not found"):
        history.history_path(str(tmp_path))
    path = _write(tmp_path / "history.csv", "epoch\n")
    with pytest.raises(ValueError, match="holds no epochs"):
        history.read_history_columns(path)
