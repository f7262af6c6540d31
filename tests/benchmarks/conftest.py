"""Shared helpers of the benchmark-script tests."""

import importlib.util
import os
import pathlib
import subprocess
import sys
from types import ModuleType

import pytest

SCRIPTS = pathlib.Path(__file__).parents[2] / "scripts"


@pytest.fixture
def load_script():
    """Imports ``scripts/<name>.py`` (not a package) as a module, for its functions."""

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def run_script():
    """Runs ``scripts/<name>.py`` with ``args`` in a fresh interpreter on ``backend``.

    Returns the completed process; JAX runs on the CPU.
    """

    def run(name: str, args: list[str], backend: str = "tensorflow"):
        env = {**os.environ, "KERAS_BACKEND": backend}
        if backend == "jax":
            env["JAX_PLATFORMS"] = "cpu"
        command = [sys.executable, str(SCRIPTS / f"{name}.py"), *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)

    return run
