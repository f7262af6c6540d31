"""The wheel installs one top-level package, ``stm_keras``, holding every repository module."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Repository folder -> the package it installs as.
SOURCE_FOLDERS = {
    "stm_keras": "stm_keras",
    "cli": "stm_keras/cli",
    "pipelines": "stm_keras/pipelines",
    "benchmarks": "stm_keras/benchmarks",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    """A wheel built from a copy of the repository (no network, no build/ left behind)."""
    source = tmp_path_factory.mktemp("source") / "repo"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "demo-output", "tests"
        ),
    )
    output = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation"]
        + ["--quiet", "--wheel-dir", str(output)],
        check=True,
        capture_output=True,
    )
    (path,) = glob.glob(str(output / "*.whl"))
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_wheel_has_no_top_level_package_but_stm_keras(wheel: zipfile.ZipFile) -> None:
    top_level = {name.split("/")[0] for name in wheel.namelist()}
    assert {name for name in top_level if not name.endswith(".dist-info")} == {"stm_keras"}


def test_wheel_holds_every_module_and_recipe(wheel: zipfile.ZipFile) -> None:
    expected = set()
    for folder, package in SOURCE_FOLDERS.items():
        for path in glob.glob(os.path.join(REPO, folder, "**", "*.py"), recursive=True):
            relative = os.path.relpath(path, os.path.join(REPO, folder)).replace(os.sep, "/")
            expected.add(f"{package}/{relative}")
    expected |= {
        f"stm_keras/recipes/{os.path.basename(path)}"
        for path in glob.glob(os.path.join(REPO, "stm_keras", "recipes", "*.json"))
    }
    assert len(expected) > 40
    assert expected - set(wheel.namelist()) == set()


def test_console_script_points_into_the_package(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [name for name in wheel.namelist() if name.endswith("entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "stm-keras = stm_keras.cli.main:main" in text


def test_import_stm_keras_does_not_import_beam() -> None:
    script = (
        "import sys, stm_keras; "
        "print(any(m == 'apache_beam' or m.startswith('apache_beam.') for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.stdout.strip().splitlines()[-1] == "False"
