"""`stm-keras evaluate`: report files, defaults from config.json, and errors naming the input."""

import json
import os
import shutil

from click.testing import CliRunner
from deploy_testing import NUM_VIDEOS
from PIL import Image

from stm_keras import model_dir
from stm_keras.cli.main import app
from stm_keras.data import schema
from stm_keras.evaluation import evaluate
from stm_keras.models import PROTOCOLS


def test_evaluate_writes_report_and_confusion_png(tiny_model_dir):
    directory = tiny_model_dir
    result = CliRunner().invoke(
        app, ["evaluate", "--model", directory, "--protocol", "1x1", "--batch-size", "3"]
    )
    assert result.exit_code == 0, result.output
    json_path = os.path.join(directory, "eval-validation-1x1.json")
    with open(json_path, encoding="utf-8") as f:
        report = json.load(f)
    # data_dir came from config.json; the model from its final preset, so the library agrees.
    config = model_dir.load_config(directory)
    expected = evaluate.evaluate(
        model_dir.load_classifier(os.path.join(directory, model_dir.FINAL_PRESET)),
        schema.split_files(config["data_dir"], "validation"),
        PROTOCOLS["1x1"],
    ).metrics
    for key in ("top1", "top5", "mean_class_accuracy", "per_class_accuracy", "confusion_matrix"):
        assert report[key] == expected[key]
    assert report["num_videos"] == NUM_VIDEOS and report["views_per_video"] == 1
    assert report["protocol"] == "1x1" and report["split"] == "validation"
    assert report["data_dir"] == os.path.abspath(config["data_dir"])
    assert f"top-1 {100 * expected['top1']:.2f}%" in result.stdout
    assert json_path in result.stdout
    png = Image.open(report["confusion_matrix_png"])
    assert png.format == "PNG" and report["confusion_matrix_png"] == json_path[:-5] + ".png"


def test_evaluate_a_preset_with_the_output_option(tiny_model_dir, tmp_path):
    output = tmp_path / "reports" / "paper.json"
    data_dir = model_dir.load_config(tiny_model_dir)["data_dir"]
    preset = os.path.join(tiny_model_dir, model_dir.FINAL_PRESET)
    result = CliRunner().invoke(
        app,
        ["evaluate", "--model", preset, "--data-dir", data_dir]
        + ["--protocol", "3x10", "--batch-size", "16", "--output", str(output)],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(output.read_text())
    assert report["views_per_video"] == 30
    assert sum(map(sum, report["confusion_matrix"])) == NUM_VIDEOS
    assert (tmp_path / "reports" / "paper.png").is_file()


def test_evaluate_usage_errors_name_the_input(tiny_model_dir, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["evaluate", "--model", str(tmp_path)])
    assert result.exit_code == 2 and "config.json" in result.output
    data_dir = model_dir.load_config(tiny_model_dir)["data_dir"]
    result = runner.invoke(app, ["evaluate", "--model", str(tmp_path), "--data-dir", data_dir])
    assert result.exit_code == 2 and "config.json" in result.output
    assert str(tmp_path) in result.output

    # A preset records no data directory: --data-dir is needed.
    preset = os.path.join(tiny_model_dir, model_dir.FINAL_PRESET)
    result = runner.invoke(app, ["evaluate", "--model", preset])
    assert result.exit_code == 2 and "--data-dir" in result.output and preset in result.output

    directory = tiny_model_dir
    result = runner.invoke(app, ["evaluate", "--model", directory, "--split", "test"])
    assert result.exit_code == 2 and "split 'test'" in result.output

    result = runner.invoke(
        app, ["evaluate", "--model", directory, "--data-dir", str(tmp_path / "nowhere")]
    )
    assert result.exit_code == 2 and "dataset_info.json" in result.output


def test_evaluate_refuses_a_dataset_with_other_classes(tiny_model_dir, tmp_path):
    data_dir = model_dir.load_config(tiny_model_dir)["data_dir"]
    other = tmp_path / "other"
    shutil.copytree(data_dir, other)
    info = schema.load_dataset_info(str(other))
    info["classes"] = list(reversed(info["classes"]))
    (other / schema.DATASET_INFO_FILE).write_text(json.dumps(info))
    result = CliRunner().invoke(
        app, ["evaluate", "--model", tiny_model_dir, "--data-dir", str(other)]
    )
    assert result.exit_code == 1 and "classes" in result.output and str(other) in result.output
