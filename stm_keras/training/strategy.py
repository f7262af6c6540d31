"""Choosing the tf.distribute strategy for ``fit``, including logical CPU replicas.

``auto`` mirrors over all visible GPUs (or over ``--cpu-replicas`` logical CPUs when there are
none), ``multiworker`` reads the cluster from ``TF_CONFIG``. Logical CPU devices can only be
configured before TensorFlow initialises its devices, so :func:`configure_cpu_replicas` must run
before anything else touches TensorFlow devices.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

STRATEGIES = ("auto", "mirrored", "multiworker", "one-device")


def configure_cpu_replicas(num_replicas: int) -> None:
    """Splits the CPU into ``num_replicas`` logical devices (for the multi-device path on CPUs).

    Does nothing when at least that many logical CPUs are already configured (e.g. by a test
    session).

    Raises:
        RuntimeError: when TensorFlow is already initialised with fewer logical CPUs.
    """
    if num_replicas < 1:
        raise ValueError(f"--cpu-replicas must be at least 1, got {num_replicas}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    configured = tf.config.get_logical_device_configuration(cpu)
    if configured and len(configured) >= num_replicas:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * num_replicas
        )
    except RuntimeError as error:
        raise RuntimeError(
            f"cannot split the CPU into {num_replicas} devices: TensorFlow is already "
            "initialised (configure CPU replicas before any other TensorFlow call)"
        ) from error


def make_strategy(name: str = "auto", cpu_replicas: int = 0) -> tf.distribute.Strategy:
    """Builds the strategy ``fit`` trains under.

    Args:
        name: str. One of ``auto`` (MirroredStrategy over all GPUs, or over ``cpu_replicas``
            logical CPUs when there is no GPU, else the default single-device strategy),
            ``mirrored``, ``multiworker`` (``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``) or
            ``one-device`` (the first GPU, else the CPU). Defaults to "auto".
        cpu_replicas: int. Logical CPU devices to mirror over when there is no GPU; they must
            have been made with :func:`configure_cpu_replicas`. Defaults to 0 (off).
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy '{name}', expected one of {STRATEGIES}")
    if name == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError("--strategy multiworker needs the cluster in the TF_CONFIG variable")
        # Before any device query: collective ops must be configured at TensorFlow startup.
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "one-device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if gpus:
        return tf.distribute.MirroredStrategy([device.name for device in gpus])
    cpus = tf.config.list_logical_devices("CPU")
    if cpu_replicas > 1:
        if len(cpus) < cpu_replicas:
            raise RuntimeError(f"{cpu_replicas} CPU replicas asked, {len(cpus)} configured")
        return tf.distribute.MirroredStrategy([device.name for device in cpus[:cpu_replicas]])
    if name == "mirrored":
        return tf.distribute.MirroredStrategy([cpus[0].name])
    return tf.distribute.get_strategy()


def worker_task() -> tuple[str, int]:
    """``(task type, index)`` of this process in ``TF_CONFIG`` (``("worker", 0)`` without one)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task", {})
    return str(task.get("type", "worker")), int(task.get("index", 0))


def is_chief() -> bool:
    """Whether this process writes the model directory: the chief, or worker 0 without one."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task_type, index = worker_task()
    if "chief" in config.get("cluster", {}):
        return task_type == "chief"
    return task_type == "worker" and index == 0
