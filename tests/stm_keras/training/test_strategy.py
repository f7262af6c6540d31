"""Strategy choice: logical CPU replicas, one device, and the chief in TF_CONFIG."""

import json

import pytest
import tensorflow as tf

from stm_keras.training import strategy


def test_cpu_replicas_mirror_over_logical_cpus():
    strategy.configure_cpu_replicas(2)  # already configured by tests/conftest.py: no-op
    mirrored = strategy.make_strategy("auto", cpu_replicas=2)
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync == 2
    with pytest.raises(RuntimeError, match="already initialised"):
        strategy.configure_cpu_replicas(4)


def test_single_device_strategies():
    assert strategy.make_strategy("auto").num_replicas_in_sync == 1
    assert isinstance(strategy.make_strategy("one-device"), tf.distribute.OneDeviceStrategy)
    with pytest.raises(ValueError, match="unknown strategy"):
        strategy.make_strategy("parameter-server")


def test_multiworker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        strategy.make_strategy("multiworker")


@pytest.mark.parametrize(
    ("cluster", "task", "chief"),
    [
        ({"worker": ["a:1", "b:2"]}, {"type": "worker", "index": 0}, True),
        ({"worker": ["a:1", "b:2"]}, {"type": "worker", "index": 1}, False),
        ({"chief": ["a:1"], "worker": ["b:2"]}, {"type": "worker", "index": 0}, False),
        ({"chief": ["a:1"], "worker": ["b:2"]}, {"type": "chief", "index": 0}, True),
    ],
)
def test_chief_from_tf_config(monkeypatch, cluster, task, chief):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    assert strategy.is_chief() == chief
    assert strategy.worker_task() == (task["type"], task["index"])
