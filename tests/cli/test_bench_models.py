"""`stm-keras bench flops` (table and JSON rows) and `bench step-time` on tiny models."""

import json
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


def test_flops_json_rows_for_both_archs_and_frame_counts(tmp_path):
    output = tmp_path / "flops.json"
    text = _flops("--arch", "both", "--frames", "2,4", "--output", str(output))
    rows = json.loads(output.read_text())["rows"]
    assert [(r["arch"], r["frames"]) for r in rows] == [
        ("stm", 2),
        ("stm", 4),
        ("tsn", 2),
        ("tsn", 4),
    ]
    for row in rows:
        options = {} if row["arch"] == "stm" else {"use_cstm": False, "use_cmm": False}
        backbone = STMBackbone(18, num_segments=row["frames"], width_multiplier=0.25, **options)
        expected = summarize(STMVideoClassifier(backbone, 5), row["frames"], 32)
        assert row["params"] == expected.trainable_params
        assert row["gmacs"] == expected.multiply_adds / 1e9
        assert row["paper_gmacs"] is None  # the paper gives ResNet-50, 16 x 224^2 only
        assert f"model: {row['arch']}_resnet18  input: {row['frames']}x32x32" in text
    # STM costs more than TSN at each frame count, and twice the frames twice the work.
    assert rows[0]["gmacs"] > rows[2]["gmacs"] and rows[1]["gmacs"] > rows[3]["gmacs"]
    assert abs(rows[1]["gmacs"] / rows[0]["gmacs"] - 2) < 0.01


def test_flops_rejects_bad_frame_lists():
    result = CliRunner().invoke(app, ["bench", "flops", "--frames", "8,x"])
    assert result.exit_code == 2 and "--frames" in result.output
