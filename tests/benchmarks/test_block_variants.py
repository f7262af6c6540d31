"""scripts/block_variants.py: the per-block overhead probe runs and its rewrites match the layer."""

import json


def test_block_variants_times_each_variant_and_checks_the_rewrites(tmp_path, run_script):
    output = tmp_path / "blocks.json"
    variants = "tsn,stm,v_same,v_cmm_conv,v_cmm_elementwise,v_fold,v_stm_matmul,v_tsn_matmul"
    args = ["--batch-size", "1", "--frames", "4", "--stages", "conv3", "--variants", variants]
    args += ["--image-scale", "0.15", "--width-scale", "0.25", "--calls", "2", "--repeats", "1"]
    args += ["--dtype-policy", "float32", "--output", str(output)]
    result = run_script("block_variants", args, backend="jax")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {row["variant"]: row for row in json.loads(output.read_text())["rows"]}
    assert set(rows) == set(variants.split(","))
    # A 32-channel bottleneck (CMM: 2 reduced channels) on 4 x 4 maps of 4 frames: the shape
    # the probe built.
    assert rows["stm"]["shape"] == [4, 4, 4, 128]
    for row in rows.values():
        assert row["infer_ms"] > 0 and row["train_ms"] > 0
        assert row["infer_vs_tsn"] == row["infer_ms"] / rows["tsn"]["infer_ms"]
    # Every rewrite computes its layer's function on the same weights (float32).
    rewrites = {
        name: "stm"
        for name in ("v_same", "v_cmm_conv", "v_cmm_elementwise", "v_fold", "v_stm_matmul")
    }
    rewrites["v_tsn_matmul"] = "tsn"
    for name, layer in rewrites.items():
        assert rows[name]["rel_error_vs_layer"] < 1e-5, (name, rows[name])
        # ... and the same train step: the loss on batch statistics matches too.
        assert abs(rows[name]["train_loss"] / rows[layer]["train_loss"] - 1) < 1e-5, name
    assert rows["tsn"]["rel_error_vs_layer"] is None and rows["stm"]["rel_error_vs_layer"] is None
    assert rows["tsn"]["train_loss"] != rows["stm"]["train_loss"]
