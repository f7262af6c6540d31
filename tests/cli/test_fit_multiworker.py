"""Two `stm-keras fit --strategy multiworker` processes on localhost train one model together."""

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from stm_keras import model_dir

STM_KERAS = str(Path(sys.executable).parent / "stm-keras")


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_train_one_model(tiny_train_records_dir, tmp_path):
    records, run = tiny_train_records_dir, str(tmp_path / "run")
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    command = [
        STM_KERAS, "fit", "--data-dir", records, "--model-dir", run, "--strategy", "multiworker",
        "--depth", "18", "--width-multiplier", "0.125", "--frames", "2", "--image-size", "32",
        "--init", "none", "--batch-size", "2", "--epochs", "2", "--steps-per-epoch", "2",
        "--validation-steps", "1", "--verbose", "2",
    ]  # fmt: skip
    workers = []
    for index in range(2):
        config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(config), "TF_CPP_MIN_LOG_LEVEL": "3"}
        workers.append(
            subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    outputs = []
    for worker in workers:
        try:
            outputs.append(worker.communicate(timeout=300)[0])
        finally:
            worker.kill()
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output[-3000:]
    # Both workers are replicas of one 2-replica run and see the same, global metrics.
    for output in outputs:
        assert "2 replica(s), batch 2/replica = 4 global" in output
    losses = [[line for line in out.splitlines() if "loss:" in line] for out in outputs]
    assert len(losses[0]) == 2
    assert [line.split("loss:")[1] for line in losses[0]] == [
        line.split("loss:")[1] for line in losses[1]
    ]
    # Only the chief (worker 0) writes the model directory.
    config = model_dir.load_config(run)
    assert config["run"]["strategy"] == "CollectiveAllReduceStrategy"
    assert config["run"]["replicas"] == 2
    with open(os.path.join(run, "history.csv")) as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0", "1"]
    assert model_dir.is_preset(os.path.join(run, model_dir.FINAL_PRESET))
    assert not os.path.exists(os.path.join(run, "workers"))
