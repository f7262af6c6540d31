"""Kill `stm-keras fit` (SIGKILL) after an epoch's backup, run it again: it resumes."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stm_keras import model_dir
from stm_keras.pipelines.synth.records import class_names

STM_KERAS = str(Path(sys.executable).parent / "stm-keras")
EPOCHS = 4
STEPS = 2


def _command(records, run):
    return [
        STM_KERAS, "fit", "--data-dir", records, "--model-dir", run,
        "--depth", "18", "--width-multiplier", "0.125", "--frames", "2", "--image-size", "32",
        "--init", "none", "--batch-size", "2", "--epochs", str(EPOCHS),
        "--steps-per-epoch", str(STEPS), "--validation-steps", "1", "--verbose", "2",
        # A step schedule that decays at the last epoch: the lr shows the optimizer's step count.
        "--lr-steps", str(EPOCHS - 1),
        # Logical CPU devices are configured in a fresh process here, unlike in-process tests.
        "--cpu-replicas", "2",
    ]  # fmt: skip


def test_killed_fit_resumes_at_the_last_completed_epoch(tiny_train_records_dir, tmp_path):
    records, run = tiny_train_records_dir, str(tmp_path / "run")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    state = Path(run) / "backup" / "state.json"
    first = subprocess.Popen(
        _command(records, run), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 180
        while not state.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state.exists(), first.communicate()[0].decode()[-3000:]
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait()
    completed = json.loads(state.read_text())["epoch"]
    assert 1 <= completed < EPOCHS

    second = subprocess.run(_command(records, run), env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"resuming at epoch {completed + 1}" in second.stdout
    # Keras prints only the epochs this run trained.
    assert f"Epoch {completed}/{EPOCHS}" not in second.stdout
    assert f"Epoch {EPOCHS}/{EPOCHS}" in second.stdout
    assert "MirroredStrategy, 2 replica(s), batch 2/replica = 4 global" in second.stdout

    with open(os.path.join(run, "history.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [int(row["epoch"]) for row in rows] == list(range(EPOCHS))
    # The optimizer state came back too: its step count is that of an uninterrupted run, so the
    # schedule decays at the last epoch (a restarted count would still be below its boundary).
    lrs = [float(row["lr"]) for row in rows]
    assert lrs[:-1] == [lrs[0]] * (EPOCHS - 1)
    assert lrs[-1] == pytest.approx(lrs[0] / 10)
    # The final model is a preset that loads.
    classifier = model_dir.load_classifier(run)
    assert classifier.class_names == class_names(2)
    assert not os.path.exists(os.path.join(run, "backup"))
