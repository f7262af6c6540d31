"""The click app: help lists every verb; the console script is installed."""

import subprocess
import sys

from click.testing import CliRunner

from cli.main import app

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
    assert "stm-keras, version 0.1.0" in result.stdout
