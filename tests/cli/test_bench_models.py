"""`stm-keras bench flops` and `bench step-time` on tiny models."""

import re

from click.testing import CliRunner

from cli.main import app

TINY = ["--depth", "18", "--frames", "2", "--image-size", "32", "--width-multiplier", "0.25"]


def test_flops_reports_params_and_multiply_adds():
    result = CliRunner().invoke(app, ["bench", "flops", *TINY, "--num-classes", "5"])
    assert result.exit_code == 0, result.output
    assert "model: stm_resnet18  input: 2x32x32" in result.output
    assert re.search(r"parameters: \d+\.\d+M trainable", result.output)
    assert re.search(r"temporal +\d+\.\d+ M", result.output)


def test_flops_rejects_bad_values_as_usage_errors():
    result = CliRunner().invoke(app, ["bench", "flops", "--arch", "i3d"])
    assert result.exit_code == 2 and "'i3d'" in result.output
    result = CliRunner().invoke(app, ["bench", "flops", "--width-multiplier", "0"])
    assert result.exit_code == 2 and "--width-multiplier" in result.output


def test_step_time_prints_the_ratio():
    result = CliRunner().invoke(
        app, ["bench", "step-time", *TINY, "--steps", "2", "--warmup", "1", "--num-classes", "3"]
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"ratio STM/TSN \d+\.\d{3}", result.output)
