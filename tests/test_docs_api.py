"""docs/api.md's fine-tuning example runs as written, on a tiny preset, and does what it says."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from stm_keras.models import STMBackbone, STMVideoClassifier, VideoClassifierPreprocessor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API_DOC = os.path.join(REPO, "docs", "api.md")
PRESET_LINE = re.compile(r'^PRESET = "runs/jester/final".*$', re.M)
OUTPUT_LINE = re.compile(r'^OUTPUT = "runs/my-10-classes".*$', re.M)
NUM_CLASSES = 10


def python_blocks(markdown: str) -> list[str]:
    """The bodies of the fenced ```python blocks of a Markdown text, in order."""
    return re.findall(r"^```python\n(.*?)^```$", markdown, re.M | re.S)


def fine_tuning_example() -> str:
    """The one python block of docs/api.md that starts with the PRESET and OUTPUT lines."""
    with open(API_DOC, encoding="utf-8") as f:
        blocks = [
            block
            for block in python_blocks(f.read())
            if PRESET_LINE.match(block) and OUTPUT_LINE.search(block)
        ]
    assert len(blocks) == 1, f"expected one fine-tuning example in {API_DOC}, found {len(blocks)}"
    (block,) = blocks
    first_lines = block.splitlines()[:2]
    assert PRESET_LINE.match(first_lines[0]) and OUTPUT_LINE.match(first_lines[1]), first_lines
    return block


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory) -> str:
    """A 3-class STM-ResNet-18 x0.125 preset, T=4 at 32 px: stands in for runs/jester/final."""
    backbone = STMBackbone(depth=18, num_segments=4, width_multiplier=0.125, image_size=32)
    preprocessor = VideoClassifierPreprocessor(
        num_segments=4, image_size=32, class_names=["Swiping Left", "Swiping Right", "Thumb Up"]
    )
    classifier = STMVideoClassifier(backbone, 3, preprocessor=preprocessor)
    path = str(tmp_path_factory.mktemp("preset") / "jester-final")
    classifier.save_to_preset(path)
    return path


def _arrays(weights) -> list[np.ndarray]:
    return [np.asarray(w) for w in weights]


# Keras warns that fit's shuffle=True does not apply to a tf.data.Dataset (the example shuffles).
@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")
def test_fine_tuning_example_runs_and_saves_a_10_class_preset(tiny_preset, tmp_path):
    block = fine_tuning_example()
    output = str(tmp_path / "my-10-classes")
    code = PRESET_LINE.sub(f"PRESET = {tiny_preset!r}", block, count=1)
    code = OUTPUT_LINE.sub(f"OUTPUT = {output!r}", code, count=1)
    namespace: dict = {"__name__": "docs_api_example"}
    exec(compile(code, API_DOC, "exec"), namespace)

    tuned = namespace["classifier"]
    assert isinstance(tuned, STMVideoClassifier)
    source = STMVideoClassifier.from_preset(tiny_preset)
    # fit trained the preset's backbone (BN statistics move in any case), not a fresh one.
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(
            _arrays(tuned.backbone.weights), _arrays(source.backbone.weights), strict=True
        )
    )

    saved = STMVideoClassifier.from_preset(output)
    assert saved.num_classes == NUM_CLASSES
    assert tuple(saved.get_layer("classifier").kernel.shape) == (
        saved.backbone.num_features,
        NUM_CLASSES,
    )
    assert saved.class_names == list(namespace["CLASS_NAMES"])
    assert len(saved.class_names) == NUM_CLASSES
    for ours, theirs in zip(
        _arrays(saved.backbone.weights), _arrays(tuned.backbone.weights), strict=True
    ):
        np.testing.assert_array_equal(ours, theirs)
    for ours, theirs in zip(
        _arrays(saved.get_layer("classifier").weights),
        _arrays(tuned.get_layer("classifier").weights),
        strict=True,
    ):
        np.testing.assert_array_equal(ours, theirs)
    assert saved.preprocessor.get_config() == tuned.preprocessor.get_config()
