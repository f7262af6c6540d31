"""Resumable-training callbacks: atomic epoch backup, de-duplicated history, best-so-far."""

import csv

import keras
import numpy as np

from stm_keras.training import callbacks


def _model():
    model = keras.Sequential([keras.Input([3]), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    return model


def test_backup_restores_weights_optimizer_and_epoch(tmp_path):
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)
    model = _model()
    backup = callbacks.EpochBackup(str(tmp_path))
    model.fit(x, y, epochs=3, batch_size=2, callbacks=[backup], verbose=0)
    assert callbacks.EpochBackup.saved_epoch(str(tmp_path)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0003.weights.h5", "state.json"]

    restored = _model()
    history = restored.fit(
        x, y, epochs=4, batch_size=2, callbacks=[callbacks.EpochBackup(str(tmp_path))], verbose=0
    )
    assert len(history.history["loss"]) == 1  # only epoch 4 ran
    assert int(restored.optimizer.iterations.numpy()) == 8
    assert callbacks.EpochBackup.saved_epoch(str(tmp_path / "none")) == 0


def test_history_keeps_each_epoch_once_after_resume(tmp_path):
    path = str(tmp_path / "history.csv")
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerows([["epoch", "loss"], [0, 0.9], [1, 0.8], [2, 0.7]])
    model = _model()
    # Epoch 2 was logged but not backed up before the kill: it is trained again.
    history = callbacks.HistoryCSV(path, resume_epoch=2)
    history.set_model(model)
    history.on_train_begin()
    history.on_epoch_end(2, {"loss": 0.5})
    history.on_epoch_end(3, {"loss": 0.4})
    rows = callbacks.read_history(path)
    assert [(r["epoch"], r["loss"]) for r in rows] == [
        ("0", "0.9"), ("1", "0.8"), ("2", "0.5"), ("3", "0.4"),
    ]  # fmt: skip
    assert float(rows[-1]["lr"]) == 0.1


def test_best_so_far_reads_history_before_resume(tmp_path):
    path = str(tmp_path / "history.csv")
    with open(path, "w") as f:
        f.write("epoch,val_top1\n0,0.5\n1,0.75\n2,0.9\n")
    assert callbacks.best_so_far(path, "val_top1", resume_epoch=2) == 0.75
    assert callbacks.best_so_far(path, "val_top1", resume_epoch=0) is None


def test_tensorboard_scalars_written(tmp_path):
    import tensorflow as tf

    model = _model()
    board = callbacks.TensorBoardScalars(str(tmp_path))
    board.set_model(model)
    board.on_epoch_end(0, {"loss": 1.5, "val_loss": 2.0})
    board.on_train_end()
    tags = set()
    for split in ("train", "validation"):
        for event_file in (tmp_path / split).iterdir():
            for event in tf.compat.v1.train.summary_iterator(str(event_file)):
                tags.update(f"{split}/{v.tag}" for v in event.summary.value)
    assert {"train/epoch_loss", "validation/epoch_loss", "train/epoch_learning_rate"} <= tags
