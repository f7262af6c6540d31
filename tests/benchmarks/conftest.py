"""Shared helpers of the benchmark-script tests."""

import importlib.util
import pathlib
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
