"""Callbacks that make ``fit`` resumable after being killed at any moment.

``EpochBackup`` is Keras's ``BackupAndRestore`` with an atomic commit: each epoch's weights and
optimizer state go to a new file and a small JSON, replaced atomically, names the last complete
one — so a kill while writing leaves the previous epoch intact. ``HistoryCSV`` and
``BestPreset`` are told the resume epoch so ``history.csv`` holds every epoch exactly once and
the best epoch's preset is not overwritten by a worse epoch after resuming.
"""

from __future__ import annotations

import csv
import json
import math
import os
from typing import Any

import keras

BACKUP_STATE_FILE = "state.json"


def _atomic_write_text(path: str, text: str) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


class EpochBackup(keras.callbacks.BackupAndRestore):
    """Backs up weights + optimizer state after every epoch; restores them when fit restarts.

    Args:
        backup_dir: str. Directory used by this callback only.
        delete_checkpoint: bool. Delete the backup when training ends. Defaults to False (the
            trainer deletes it once the final model is safely written).
    """

    def __init__(self, backup_dir: str, delete_checkpoint: bool = False) -> None:
        super().__init__(backup_dir, save_freq="epoch", delete_checkpoint=delete_checkpoint)

    @staticmethod
    def saved_epoch(backup_dir: str) -> int:
        """Epochs completed according to the backup in ``backup_dir`` (0 when there is none)."""
        path = os.path.join(backup_dir, BACKUP_STATE_FILE)
        if not os.path.isfile(path):
            return 0
        with open(path, encoding="utf-8") as f:
            return int(json.load(f)["epoch"])

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        path = os.path.join(self.backup_dir, BACKUP_STATE_FILE)
        if not os.path.isfile(path):
            return
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
        if not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(os.path.join(self.backup_dir, state["weights"]))
        self.model._initial_epoch = int(state["epoch"])

    def _save_model(self) -> None:
        os.makedirs(self.backup_dir, exist_ok=True)
        weights = f"epoch-{self._current_epoch:04d}.weights.h5"
        # save_weights includes the optimizer variables (momentum, iterations) of a compiled model.
        self.model.save_weights(os.path.join(self.backup_dir, weights), overwrite=True)
        state = {"epoch": self._current_epoch, "weights": weights}
        _atomic_write_text(os.path.join(self.backup_dir, BACKUP_STATE_FILE), json.dumps(state))
        for name in os.listdir(self.backup_dir):
            if name.endswith(".weights.h5") and name != weights:
                os.remove(os.path.join(self.backup_dir, name))


def read_history(path: str) -> list[dict[str, str]]:
    """Rows of a ``history.csv`` (empty when the file does not exist)."""
    if not os.path.isfile(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


class HistoryCSV(keras.callbacks.Callback):
    """Writes one ``history.csv`` row per epoch; on resume, keeps only rows before the restart.

    Rows of epochs at or after ``resume_epoch`` are from an interrupted attempt (the backup was
    taken before them or they were never finished) and are dropped, so the file ends with every
    epoch exactly once.

    Args:
        path: str. The CSV file.
        resume_epoch: int. First epoch this run will train.
    """

    def __init__(self, path: str, resume_epoch: int = 0) -> None:
        super().__init__()
        self.path = path
        self.resume_epoch = resume_epoch
        self._rows: list[dict[str, str]] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._rows = [
            row for row in read_history(self.path) if int(row["epoch"]) < self.resume_epoch
        ]
        self._write()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        row = {"epoch": str(epoch)}
        row.update({key: f"{float(value):.6g}" for key, value in sorted((logs or {}).items())})
        row["lr"] = f"{float(_current_lr(self.model)):.6g}"
        self._rows.append(row)
        self._write()

    def _write(self) -> None:
        fields: list[str] = []
        for row in self._rows:
            fields += [key for key in row if key not in fields]
        temporary = f"{self.path}.tmp"
        with open(temporary, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=fields or ["epoch"])
            writer.writeheader()
            writer.writerows(self._rows)
        os.replace(temporary, self.path)


def _current_lr(model: keras.Model) -> float:
    """The learning rate of the last step taken."""
    optimizer = model.optimizer
    learning_rate = optimizer._learning_rate
    if callable(learning_rate):
        learning_rate = learning_rate(keras.ops.maximum(optimizer.iterations - 1, 0))
    return float(keras.ops.convert_to_numpy(learning_rate))


def best_so_far(history_path: str, monitor: str, resume_epoch: int) -> float | None:
    """Best (highest) ``monitor`` value among the epochs before ``resume_epoch`` in history."""
    values = [
        float(row[monitor])
        for row in read_history(history_path)
        if int(row["epoch"]) < resume_epoch and row.get(monitor) not in (None, "")
    ]
    values = [value for value in values if not math.isnan(value)]
    return max(values) if values else None


class BestPreset(keras.callbacks.Callback):
    """Writes the model as a keras-hub preset whenever ``monitor`` reaches a new maximum.

    The preset directory is replaced whole once the new one is complete
    (``stm_keras.model_dir.save_preset``), so a kill while writing keeps the previous best.

    Args:
        preset_dir: str. Where the preset goes.
        monitor: str. The epoch log to maximise (``"val_top1"`` or ``"top1"``).
        best: float or None. The value to beat (the best before a resume). Defaults to None.
    """

    def __init__(self, preset_dir: str, monitor: str, best: float | None = None) -> None:
        super().__init__()
        self.preset_dir = preset_dir
        self.monitor = monitor
        self.best = best

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        from stm_keras import model_dir

        value = (logs or {}).get(self.monitor)
        if value is None or math.isnan(float(value)):
            return
        if self.best is None or float(value) > self.best:
            self.best = float(value)
            model_dir.save_preset(self.model, self.preset_dir)


class TensorBoardScalars(keras.callbacks.Callback):
    """Writes each epoch's metrics as TensorBoard scalars under ``log_dir/{train,validation}``.

    Keras's ``TensorBoard`` callback needs the ``tensorboard`` package for ``tf.summary.scalar``;
    this writes the same event files with TensorFlow's core ``tf.summary.write``, so logs exist
    without it and TensorBoard (installed wherever it is viewed) reads them as scalars.

    Args:
        log_dir: str. Event files go to its ``train`` and ``validation`` subdirectories.
    """

    def __init__(self, log_dir: str) -> None:
        super().__init__()
        self.log_dir = log_dir
        self._writers: dict[str, Any] = {}

    def _writer(self, name: str) -> Any:
        import tensorflow as tf

        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(os.path.join(self.log_dir, name))
        return self._writers[name]

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
        )
        logs = dict(logs or {})
        logs.setdefault("learning_rate", _current_lr(self.model))
        for key, value in logs.items():
            split, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self._writer(split).as_default():
                tf.summary.write(
                    f"epoch_{name}", tf.constant(float(value)), step=epoch, metadata=metadata
                )
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
