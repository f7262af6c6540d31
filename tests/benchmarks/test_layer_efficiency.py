"""scripts/layer_efficiency.py: an inference call's op time by layer, tiny, on TensorFlow."""

import json

import pytest

from stm_keras.models import STMBackbone, backbone_multiply_adds, summarize

TINY = {"num_segments": 2, "image_size": 32, "width_multiplier": 0.25}


def test_ops_map_to_the_unit_of_their_layer(load_script):
    script = load_script("layer_efficiency")
    backbone = STMBackbone(50, **TINY)
    units = script.layer_units(backbone)
    # A conv, its BN, ReLU and padding are one unit; so are a residual add and its ReLU.
    assert units["conv3_block1_2_conv"] == units["conv3_block1_2_bn"] == "conv3_block1_2"
    assert units["conv3_block1_2_pad"] == units["conv3_block1_2_relu"] == "conv3_block1_2"
    assert units["conv3_block1_out"] == units["conv3_block1_add"] == "conv3_block1_add"
    assert units["conv1_conv"] == units["conv1_relu"] == "conv1"
    assert units["conv3_block1_2_temporal"] == "conv3_block1_2_temporal"
    assert units["conv3_block1_cmm"] == "conv3_block1_cmm"
    prefix = "stm_video_classifier_1/stm_backbone_1/"
    cases = {
        "conv2_block1_2_relu_1/Relu": "conv2_block1_2",  # the conv, BN and ReLU, fused
        "conv4_block1_0_bn_1/FusedBatchNormV3": "conv4_block1_0",
        "conv2_block1_cmm_1/reduce_bn_1/FusedBatchNormV3": "conv2_block1_cmm",  # CMM's inside
        "conv2_block3_2_temporal_1/depthwise": "conv2_block3_2_temporal",
        "conv5_block3_out_1/Relu": "conv5_block3_add",
        "conv2_block2_fuse_1/Add": "conv2_block2_fuse",
    }
    for op, unit in cases.items():
        assert script.unit_of_op(prefix + op, units) == unit, op
    assert script.unit_of_op("stm_video_classifier_1/classifier_1/MatMul", units) is None
    kinds = {
        "conv1": "stem 7x7 conv, stride 2",
        "conv3_block1_2": "3x3 conv, stride 2",  # PyTorch style: the 3x3 conv strides
        "conv3_block2_2": "3x3 conv, stride 1",
        "conv3_block1_1": "1x1 conv, stride 1",
        "conv3_block1_0": "1x1 shortcut projection, stride 2",
        "conv2_block1_0": "1x1 shortcut projection, stride 1",
        "conv3_block1_cmm": "CMM",
        "conv3_block1_2_temporal": "CSTM temporal conv",
        "conv3_block1_fuse": "CSTM + CMM fusion",
        "conv3_block1_add": "residual add + ReLU",
        "pool1": "other (pooling, classifier)",
    }
    for unit, kind in kinds.items():
        assert script.unit_kind(unit, backbone) == kind, unit


def test_layer_efficiency_accounts_every_layer_of_a_profiled_call(tmp_path, run_script):
    output = tmp_path / "layers.json"
    args = ["--arch", "stm", "--depth", "18", "--frames", "2", "--image-size", "32"]
    args += ["--width-multiplier", "0.25", "--num-classes", "3", "--batch-size", "2"]
    args += ["--calls", "2", "--warmup", "1", "--matmul-size", "128", "--output", str(output)]
    result = run_script("layer_efficiency", args)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    backbone = STMBackbone(18, **TINY)
    # Every layer's multiply-adds land in some unit (batch 2), and every unit that has any
    # got op time from the trace: the op names were mapped to their layers.
    per_clip = backbone_multiply_adds(backbone, 2, 32)
    assert report["gmacs"] * 1e9 == pytest.approx(2 * sum(per_clip.values()))
    parts = summarize(backbone, 2, 32).multiply_adds_by_part
    assert sum(per_clip.values()) == sum(parts.values())
    timed = [unit for unit in report["units"] if unit["gmacs"] > 0]
    assert len(timed) >= 20 and all(unit["ms"] > 0 for unit in timed), timed
    peak = report["matmul_peak_flops"]
    for unit in timed:
        expected = 2 * unit["gmacs"] * 1e9 / (unit["ms"] / 1e3) / peak
        assert unit["efficiency"] == pytest.approx(expected)
    kinds = report["kinds"]
    for kind in ("CMM", "CSTM temporal conv", "3x3 conv, stride 1", "3x3 conv, stride 2"):
        assert kinds[kind]["ms"] > 0 and kinds[kind]["units"] > 0, kind
    assert kinds["CMM"]["units"] == 8  # one per basic block of ResNet-18
    assert kinds["1x1 shortcut projection, stride 2"]["units"] == 3
    assert sum(entry["ms"] for entry in kinds.values()) == pytest.approx(report["op_ms"])
    assert sum(entry["units"] for entry in kinds.values()) == len(report["units"])
    lines = result.stdout.splitlines()
    assert lines[0].startswith("STM-ResNet-18 x0.25, 2 frames of 32px, batch 2: inference call")
    assert f"op time {report['op_ms']:.1f} ms per call" in lines[0]
    row = next(line for line in lines if line.startswith("CMM "))
    assert f"{kinds['CMM']['ms']:.2f}" in row and f"{kinds['CMM']['efficiency']:.1%}" in row
