"""scripts/train_step_parts.py: a train step split into its parts, tiny, on TensorFlow."""

import json

import pytest

PARTS = {"infer", "forward_train", "forward_backward", "apply", "train_step"}


def test_train_step_parts_times_every_part_of_both_models(tmp_path, run_script):
    from stm_keras.models import STMBackbone, STMVideoClassifier

    output = tmp_path / "parts.json"
    args = ["--depth", "18", "--frames", "2", "--image-size", "32", "--width-multiplier", "0.25"]
    args += ["--num-classes", "3", "--steps", "2", "--warmup", "1", "--output", str(output)]
    result = run_script("train_step_parts", args)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    assert set(report["ms"]) == {"stm", "tsn"}
    for arch in ("stm", "tsn"):
        assert set(report["ms"][arch]) == PARTS
        assert all(value > 0 for value in report["ms"][arch].values())
        for part in PARTS:
            assert report["of_infer"][arch][part] == pytest.approx(
                report["ms"][arch][part] / report["ms"][arch]["infer"]
            )
        assert report["of_infer"][arch]["infer"] == 1.0
    # Gradients were taken for every trainable weight of the models the script built.
    for arch, off in (("stm", {}), ("tsn", {"use_cstm": False, "use_cmm": False})):
        backbone = STMBackbone(18, num_segments=2, image_size=32, width_multiplier=0.25, **off)
        model = STMVideoClassifier(backbone, 3)
        assert report["trainable_variables"][arch] == len(model.trainable_variables)
    assert report["trainable_variables"]["stm"] > report["trainable_variables"]["tsn"]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ResNet-18 x0.25, 2 frames of 32px, batch 2")
    row = next(line for line in lines if line.startswith("forward_backward"))
    assert f"{report['ms']['stm']['forward_backward']:.1f} ms" in row
