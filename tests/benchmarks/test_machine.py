"""The `machine` entry every bench JSON carries: CPU, cores, Python and package versions."""

import os
import platform

import keras

from stm_keras.benchmarks import machine


def test_machine_info_names_the_cpu_cores_and_versions():
    info = machine.machine_info()
    assert info["cpu_count"] == os.cpu_count()
    assert info["python"] == platform.python_version()
    assert set(info["versions"]) == {"tensorflow", "keras", "apache_beam", "av", "jax"}
    assert info["versions"]["keras"] == keras.__version__
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    assert info["cpu_model"] == names[0]


def test_a_missing_package_has_no_version():
    assert machine.package_version("no-such-distribution-stm-keras") is None
