"""`stm-keras bench flops` and `bench step-time` on tiny models."""

import re

from click.testing import CliRunner

from stm_keras.cli.main import app
from stm_keras.models import STMBackbone, STMVideoClassifier, summarize

TINY = ["--depth", "18", "--frames", "2", "--image-size", "32", "--width-multiplier", "0.25"]


def _flops(*args: str) -> str:
    result = CliRunner().invoke(app, ["bench", "flops", *TINY, "--num-classes", "5", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_flops_prints_the_summary_of_the_classifier():
    output = _flops()
    backbone = STMBackbone(18, num_segments=2, width_multiplier=0.25)
    expected = summarize(STMVideoClassifier(backbone, 5, name="stm_resnet18"), 2, 32)
    assert output.strip() == expected.format()
    assert "model: stm_resnet18  input: 2x32x32" in output
    assert re.search(r"parameters: \d+\.\d+M trainable", output)
    assert expected.multiply_adds_by_part["temporal"] > 0
    assert expected.multiply_adds_by_part["motion"] > 0


def test_flops_of_tsn_is_the_backbone_without_cstm_and_cmm():
    output = _flops("--arch", "tsn")
    assert "model: tsn_resnet18  input: 2x32x32" in output
    assert re.search(r"temporal +0\.000 M", output)
    assert re.search(r"motion +0\.000 M", output)
    backbone = STMBackbone(18, num_segments=2, width_multiplier=0.25, use_cstm=False, use_cmm=False)
    expected = summarize(STMVideoClassifier(backbone, 5, name="tsn_resnet18"), 2, 32)
    assert output.strip() == expected.format()


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
    assert "ResNet-18 x0.25, 2 frames of 32px, batch 1" in result.output
    match = re.search(
        r"STM (\d+\.\d) ms/step, TSN (\d+\.\d) ms/step, ratio STM/TSN (\d+\.\d{3})", result.output
    )
    assert match, result.output
    stm, tsn, ratio = (float(group) for group in match.groups())
    assert stm > 0 and tsn > 0 and ratio > 0
