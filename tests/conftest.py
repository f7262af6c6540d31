"""Test-session setup shared by every test.

TensorFlow fixes its device list when it first initialises, so the two logical CPU devices that
the MirroredStrategy tests need are configured here, before any test imports a model.

The tests that run Keras on JAX do so in subprocesses, which compile the same tiny models and
the same initializers again and again; a compilation cache of this session (JAX's persistent
cache, in a temporary folder removed at exit) lets them share XLA's executables. It changes no
result: a cache hit is the executable the same computation would compile to.
"""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _jax_cache = tempfile.mkdtemp(prefix="stm-keras-tests-jax-cache-")
    atexit.register(shutil.rmtree, _jax_cache, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _jax_cache
    # Cache every executable, however small or quick to compile (JAX's defaults skip those).
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"

import tensorflow as tf  # noqa: E402

NUM_LOGICAL_CPUS = 2

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration()] * NUM_LOGICAL_CPUS
)

# === Session fixtures: expensive synthetic data, built once per test session (per xdist worker).
# Tests must not change or delete what they hold (adding a report beside it is fine).

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_records_dir(tmp_path_factory) -> str:
    """The tiny validation split of ``deploy_testing`` (shards + dataset_info.json)."""
    from deploy_testing import write_dataset

    return write_dataset(str(tmp_path_factory.mktemp("records")))


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_records_dir, tmp_path_factory) -> str:
    """A fit model directory (config.json recording ``tiny_records_dir`` + final/ preset) of
    ``deploy_testing.build_tiny_model()``."""
    from deploy_testing import build_tiny_model, write_model_dir

    path = str(tmp_path_factory.mktemp("run"))
    return write_model_dir(path, build_tiny_model(), data_dir=tiny_records_dir)


@pytest.fixture(scope="session")
def tiny_saved_model(tiny_model_dir, tmp_path_factory) -> str:
    """``tiny_model_dir`` exported as a SavedModel."""
    from stm_keras import export

    return export.export_model(tiny_model_dir, str(tmp_path_factory.mktemp("saved_model")))


@pytest.fixture(scope="session")
def tiny_litert_model(tiny_model_dir, tmp_path_factory) -> str:
    """``tiny_model_dir`` exported as a float32 LiteRT file (dynamic shapes): its path."""
    from stm_keras import export

    output = str(tmp_path_factory.mktemp("litert"))
    return export.export_model(tiny_model_dir, output, format="litert")


@pytest.fixture(scope="session")
def tiny_onnx_model(tiny_model_dir, tmp_path_factory) -> str:
    """``tiny_model_dir`` exported as ONNX: its path."""
    from stm_keras import export

    return export.export_model(tiny_model_dir, str(tmp_path_factory.mktemp("onnx")), format="onnx")


@pytest.fixture(scope="session")
def tiny_train_records_dir(tmp_path_factory) -> str:
    """Two synthetic Jester classes, 8 train and 4 validation videos of 8 frames, two shards."""
    from stm_keras.pipelines.synth.records import write_records

    path = str(tmp_path_factory.mktemp("train_records"))
    write_records(path, num_classes=2, num_shards=2)
    return path


@pytest.fixture(scope="session")
def jester_demo_model_dir(tmp_path_factory) -> str:
    """A fit model directory of the demo's network (recipe cpu-demo: STM-ResNet-18 x0.25, 8
    frames of 64x64) trained on synthetic Jester videos of the demo's 4 classes (Swiping Left,
    Right, Up, Down; Left and Right are time reversals of each other): 256 train and 16
    validation videos of 16 frames of 72x96, 12 epochs (about 30 s on 2 cores).

    8 epochs at the recipe's learning rate (0.2) left 128 train videos at chance (validation
    top-1 about 0.3). 12 epochs at 0.08 on 128 videos separated the classes on most runs, but
    CPU training is not bit-reproducible (thread scheduling): on fresh clips the true class's
    probability fell to 0.68-0.74 on some runs, and CI's run put two Swiping Left clips of
    test_predict_stream.py in Swiping Up. With 256 videos (twice the steps) five runs, seeds 0-2,
    classified all 58 fresh clips of the stream tests' generator, the true class at >= 0.96.
    """
    from click.testing import CliRunner

    from stm_keras.cli import fit as fit_cli
    from stm_keras.pipelines.synth import records

    data = str(tmp_path_factory.mktemp("jester_records"))
    records.write_records(
        data,
        num_classes=4,
        videos_per_split={"train": 256, "validation": 16},
        num_frames=16,
        height=72,
        width=96,
        dataset="jester",
        layout="jester",
    )
    run = str(tmp_path_factory.mktemp("jester_run"))
    result = CliRunner().invoke(
        fit_cli.command,
        ["--recipe", "cpu-demo", "--data-dir", data, "--model-dir", run]
        + ["--epochs", "12", "--lr-steps", "9", "--lr", "0.08", "--verbose", "0"]
        # One device: in-process MirroredStrategy collectives can clash with those of the
        # models other tests trained earlier in the same process.
        + ["--cpu-replicas", "0"],
    )
    assert result.exit_code == 0, result.output
    return run
