"""The exported SavedModel: TensorFlow alone loads it (TF2 and TF1-style loaders) and it gives
the Keras model's outputs."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf
from deploy_testing import CLASSES, FRAMES, IMAGE_SIZE

from stm_keras import export, model_dir
from stm_keras.models import VideoClassifierPreprocessor

# Runs in a fresh interpreter where importing stm_keras fails: the SavedModel must carry
# everything it needs (preprocessing graph, weights, labels).
LOAD_WITHOUT_STM_KERAS = textwrap.dedent(
    """
    import importlib.abc
    import sys

    class BlockStmKeras(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "stm_keras":
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, BlockStmKeras())
    try:
        import stm_keras.export
    except ImportError:
        pass
    else:
        raise SystemExit("stm_keras is importable: the test proves nothing")
    import numpy as np
    import tensorflow as tf

    saved_model_dir, inputs_path, outputs_path = sys.argv[1:]
    signature = tf.saved_model.load(saved_model_dir).signatures["serving_default"]
    inputs = np.load(inputs_path)
    outputs = {}
    for key in inputs.files:
        result = signature(video=tf.constant(inputs[key]))
        outputs[key + "/probabilities"] = result["probabilities"].numpy()
        outputs[key + "/top_class"] = result["top_class"].numpy()
    # The TF1-style loader of saved_model_cli run and TF Serving: variables restored by name.
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], saved_model_dir)
        signature_def = meta_graph.signature_def["serving_default"]
        for key in inputs.files:
            outputs[key + "/session"] = session.run(
                signature_def.outputs["probabilities"].name,
                {signature_def.inputs["video"].name: inputs[key]},
            )
    np.savez(outputs_path, **outputs)
    assert not [name for name in sys.modules if name.startswith("stm_keras")]
    """
)


def _videos() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        # A batch of two, more frames than T; a single video with fewer frames than T;
        # a tall video of exactly T frames, smaller than the model's input.
        "wide": rng.integers(0, 256, (2, 9, 40, 70, 3), dtype=np.uint8),
        "short": rng.integers(0, 256, (1, 2, 48, 48, 3), dtype=np.uint8),
        "tall": rng.integers(0, 256, (1, FRAMES, 30, 20, 3), dtype=np.uint8),
    }


def _keras_probabilities(classifier, video: np.ndarray) -> np.ndarray:
    # A preprocessor of the model's frames and size, not the classifier's own: the export must
    # carry the same preprocessing.
    preprocessor = VideoClassifierPreprocessor(num_segments=FRAMES, image_size=IMAGE_SIZE)
    clips = preprocessor(tf.constant(video))
    return tf.nn.softmax(classifier(clips, training=False)).numpy()


def test_saved_model_runs_without_stm_keras_and_matches_keras(
    tmp_path, tiny_model_dir, tiny_saved_model
):
    saved_model_dir = tiny_saved_model
    videos = _videos()
    np.savez(tmp_path / "inputs.npz", **videos)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_STM_KERAS, saved_model_dir]
        + [str(tmp_path / "inputs.npz"), str(tmp_path / "outputs.npz")],
        check=True,
        cwd=tmp_path,
        env=env,
    )
    outputs = np.load(tmp_path / "outputs.npz")
    classifier = model_dir.load_classifier(tiny_model_dir)
    for key, video in videos.items():
        expected = _keras_probabilities(classifier, video)
        probabilities = outputs[f"{key}/probabilities"]
        assert probabilities.dtype == np.float32 and probabilities.shape == (len(video), 3)
        np.testing.assert_allclose(probabilities, expected, atol=1e-5)
        np.testing.assert_allclose(outputs[f"{key}/session"], expected, atol=1e-5)
        assert outputs[f"{key}/top_class"].dtype == np.int64
        np.testing.assert_array_equal(outputs[f"{key}/top_class"], expected.argmax(axis=1))


def test_saved_model_cli_shows_the_signature(tiny_saved_model):
    saved_model_cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = subprocess.run(
        [saved_model_cli, "show", "--dir", tiny_saved_model, "--all"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    signature = result.stdout.split("signature_def['serving_default']:")[1]
    signature = signature.split("signature_def[")[0]
    assert "inputs['video']" in signature
    assert "dtype: DT_UINT8" in signature and "shape: (-1, -1, -1, -1, 3)" in signature
    assert "outputs['probabilities']" in signature and "DT_FLOAT" in signature
    assert "outputs['top_class']" in signature and "DT_INT64" in signature
    assert "outputs['features']" in signature


def test_assets_name_the_classes_and_the_preprocessing(tiny_saved_model):
    saved_model_dir = tiny_saved_model
    assert export.read_labels(saved_model_dir) == list(CLASSES)
    with open(os.path.join(saved_model_dir, "assets", "labels.txt"), encoding="utf-8") as f:
        assert f.read() == "".join(f"{name}\n" for name in CLASSES)
    preprocessing = export.read_preprocessing(saved_model_dir)
    assert (preprocessing["frames"], preprocessing["image_size"]) == (FRAMES, IMAGE_SIZE)
    assert preprocessing["arch"] == "stm"
    config = preprocessing["preprocessor"]
    assert (config["num_segments"], config["image_size"]) == (FRAMES, IMAGE_SIZE)
    # Enough to rebuild the preprocessing without the model (what predict does).
    rebuilt = VideoClassifierPreprocessor(**config)
    reference = VideoClassifierPreprocessor(num_segments=FRAMES, image_size=IMAGE_SIZE)
    for key in ("num_segments", "image_size", "scale_size", "mean", "std", "flip"):
        assert rebuilt.get_config()[key] == reference.get_config()[key], key
