"""What machine a benchmark ran on, for the ``machine`` entry of the ``--output`` JSON files.

Nothing here imports TensorFlow (or any of the packages it reports): versions come from the
installed distributions' metadata, so calling ``machine_info`` costs milliseconds.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
from typing import Any

# Key in the report -> distribution name.
PACKAGES = {
    "tensorflow": "tensorflow",
    "keras": "keras",
    "apache_beam": "apache-beam",
    "av": "av",
    "jax": "jax",
}


def cpu_model() -> str | None:
    """The "model name" of the first CPU in ``/proc/cpuinfo``; None where there is none."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() == "model name":
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def package_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """The CPU, core count, Python and package versions of this machine.

    Returns:
        ``{"cpu_model", "cpu_count", "platform", "python", "versions": {tensorflow, keras,
        apache_beam, av, jax}}``; a version is None for a package that is not installed.
    """
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {key: package_version(name) for key, name in PACKAGES.items()},
    }
