"""`stm-keras bench export`: every variant exported, loaded and compared with the Keras model,
a table and the JSON figures (the timings themselves are not checked: they are benchmarks)."""

import json

from click.testing import CliRunner

from stm_keras.cli.main import app


def test_bench_export_table_and_json(tiny_model_dir, tiny_records_dir, tmp_path):
    output = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        ["bench", "export", "--model", tiny_model_dir]
        + ["--formats", "saved_model,litert,litert_int8,onnx", "--calibration-data"]
        + [tiny_records_dir, "--clips", "3", "--repeats", "2", "--output", str(output)],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(output.read_text())
    rows = {row["variant"]: row for row in figures["rows"]}
    assert list(rows) == ["saved_model", "litert", "litert_int8", "onnx"]
    assert figures["settings"]["clips"] == 3
    for name, row in rows.items():
        assert name in result.stdout
        assert row["file_bytes"] > 0 and row["latency_ms"] > 0 and row["clips_per_s_batch8"] > 0
    # Float exports compute what Keras computes; int8 is near it.
    for name in ("saved_model", "litert", "onnx"):
        assert rows[name]["max_abs_diff"] < 1e-4 and rows[name]["top1_agreement"] == 1.0
    assert rows["litert_int8"]["max_abs_diff"] < 0.1
    assert rows["litert_int8"]["file_bytes"] < rows["litert"]["file_bytes"]


def test_bench_export_refuses_unknown_formats_and_int8_without_data(tiny_model_dir):
    runner = CliRunner()
    result = runner.invoke(app, ["bench", "export", "--model", tiny_model_dir, "--formats", "tf"])
    assert result.exit_code == 2 and "--formats" in result.output and "litert_int8" in result.output
    result = runner.invoke(
        app, ["bench", "export", "--model", tiny_model_dir, "--formats", "litert_int8"]
    )
    assert result.exit_code == 2 and "--calibration-data" in result.output
