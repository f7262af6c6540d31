"""The click app: help lists every verb; the console script is installed; errors map to exits."""

import errno
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from stm_keras import __version__
from stm_keras.cli.common import (
    RUNTIME_ERROR_EXIT,
    USAGE_ERROR_EXIT,
    RuntimeProblem,
    UsageProblem,
    maps_errors,
)
from stm_keras.cli.main import app

VERBS = ("synth", "preprocess", "fit", "evaluate", "export", "predict", "bench", "visualize")


def test_help_lists_every_verb():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for verb in VERBS:
        assert f"  {verb} " in result.output


def test_console_script_runs():
    bin_dir = __import__("pathlib").Path(sys.executable).parent
    result = subprocess.run(
        [str(bin_dir / "stm-keras"), "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert f"stm-keras, version {__version__}" in result.stdout


class LibraryUsageError(Exception):
    """Stands for a library's own usage error, such as the pipelines' LayoutError."""


@pytest.mark.parametrize(
    ("raised", "exit_code", "expected"),
    [
        (UsageProblem("--depth 7: choose 18, 34 or 50"), USAGE_ERROR_EXIT, "--depth 7: choose"),
        (LibraryUsageError("no labels in /data/raw"), USAGE_ERROR_EXIT, "no labels in /data/raw"),
        # Listed as usage, so it is one although every FileNotFoundError is an OSError.
        (
            FileNotFoundError(errno.ENOENT, "No such file or directory", "/run/config.json"),
            USAGE_ERROR_EXIT,
            "/run/config.json: No such file or directory",
        ),
        (
            click.BadParameter("must be even", param_hint="'--frames'"),
            USAGE_ERROR_EXIT,
            "Invalid value for '--frames': must be even",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "/out/model.keras"),
            RUNTIME_ERROR_EXIT,
            "/out/model.keras: Permission denied",
        ),
        (
            RuntimeProblem("2 of 9 inputs failed; see /out/failures.jsonl"),
            RUNTIME_ERROR_EXIT,
            "2 of 9 inputs failed; see /out/failures.jsonl",
        ),
        (ArithmeticError("diverged at step 40"), RUNTIME_ERROR_EXIT, "diverged at step 40"),
    ],
)
def test_maps_errors_gives_the_exit_code_and_names_the_value(raised, exit_code, expected):
    @click.command()
    @maps_errors(usage=(LibraryUsageError, FileNotFoundError), runtime=(ArithmeticError,))
    def verb() -> None:
        raise raised

    result = CliRunner().invoke(verb)
    assert result.exit_code == exit_code, result.output
    assert f"Error: {expected}" in result.output
    assert ("--help' for help" in result.output) == (exit_code == USAGE_ERROR_EXIT)


def test_maps_errors_lets_click_exits_and_bugs_through():
    @click.command()
    @click.option("--code", type=int)
    @maps_errors(runtime=(RuntimeError,))  # click's Exit is a RuntimeError: still passes through
    @click.pass_context
    def verb(ctx: click.Context, code: int) -> None:
        if code is None:
            raise KeyError("a bug keeps its traceback")
        ctx.exit(code)

    assert CliRunner().invoke(verb, ["--code", "3"]).exit_code == 3
    result = CliRunner().invoke(verb)
    assert isinstance(result.exception, KeyError)
