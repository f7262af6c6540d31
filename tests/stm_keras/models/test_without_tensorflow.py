"""The model API on Keras's JAX backend with TensorFlow absent, as on a JAX-only GPU host."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys
    for blocked in ("tensorflow", "tensorflow_text"):
        sys.modules[blocked] = None  # importing them now raises ModuleNotFoundError
    import numpy as np
    import keras
    import stm_keras

    backbone = stm_keras.STMBackbone(depth=18, num_segments=2, width_multiplier=0.125)
    classifier = stm_keras.STMVideoClassifier(backbone, 3)
    logits = classifier(np.zeros((1, 2, 32, 32, 3), "float32"), training=False)
    print(keras.backend.backend(), tuple(logits.shape))
    try:
        stm_keras.VideoClassifierPreprocessor()
    except ModuleNotFoundError as error:
        print("preprocessor:", error)
    """
)


def test_backbone_and_classifier_run_on_jax_without_tensorflow():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "jax (1, 3)"
    assert lines[1].startswith("preprocessor: VideoClassifierPreprocessor needs TensorFlow")
