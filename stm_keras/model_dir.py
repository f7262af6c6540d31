"""The model directory of ``stm-keras fit`` and loading a trained classifier from anywhere.

Layout: ``config.json`` (every option of the run, its recipe and overrides, the classes and the
backbone config), ``final/`` and ``best/`` (keras-hub presets of the final model and of the
epoch with the best monitored accuracy) and training state (history, logs, backup) described in
the training docs. ``load_classifier`` takes such a directory, a preset directory, an ``hf://``
or ``kaggle://`` preset handle, or a model directory written by stm-keras 0.1 (``model.keras``,
converted in memory). ``weights_digest`` names the weights of any of these by a content hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from typing import Any

CONFIG_FILE = "config.json"
FINAL_PRESET = "final"
BEST_PRESET = "best"
LEGACY_MODEL_FILE = "model.keras"
REQUIRED_CONFIG_KEYS = ("arch", "frames", "image_size", "classes")
PRESET_TASK_FILE = "task.json"
# keras-hub's backbone and task weight files, in the order weights_digest reads them.
PRESET_WEIGHTS_FILES = ("model.weights.h5", "task.weights.h5")
REMOTE_PREFIXES = ("hf://", "kaggle://", "modelscope://", "gs://", "s3://")


def save_config(model_dir: str, config: dict[str, Any]) -> str:
    """Writes ``config`` as ``model_dir/config.json`` and returns its path."""
    missing = [key for key in REQUIRED_CONFIG_KEYS if key not in config]
    if missing:
        raise ValueError(f"model config lacks required keys {missing}")
    os.makedirs(model_dir, exist_ok=True)
    path = os.path.join(model_dir, CONFIG_FILE)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    return path


def load_config(model_dir: str) -> dict[str, Any]:
    """Reads ``model_dir/config.json``, naming the file and what is wrong when it is unusable."""
    path = os.path.join(model_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: not a 'stm-keras fit' model directory")
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    missing = [key for key in REQUIRED_CONFIG_KEYS if key not in config]
    if missing:
        raise ValueError(f"{path} lacks required keys {missing}")
    return config


def is_preset(path: str) -> bool:
    """Whether ``path`` is a local keras-hub preset directory of a classifier."""
    return os.path.isfile(os.path.join(path, PRESET_TASK_FILE))


def is_legacy_model_dir(path: str) -> bool:
    """Whether ``path`` is a model directory of stm-keras 0.1 (``model.keras``, no presets)."""
    return os.path.isfile(os.path.join(path, LEGACY_MODEL_FILE)) and not os.path.isdir(
        os.path.join(path, FINAL_PRESET)
    )


def resolve_preset(path: str, which: str = FINAL_PRESET) -> str:
    """The preset a user's ``path`` stands for.

    Args:
        path: str. A preset directory or handle, or a ``stm-keras fit`` model directory.
        which: str. In a model directory, ``"final"`` or ``"best"``. Defaults to ``"final"``.

    Raises:
        FileNotFoundError: naming ``path`` and what was expected there.
    """
    if path.startswith(REMOTE_PREFIXES) or is_preset(path):
        return path
    inside = os.path.join(path, which)
    if is_preset(inside):
        return inside
    if os.path.isfile(os.path.join(path, CONFIG_FILE)):
        raise FileNotFoundError(
            f"{inside} holds no preset ({PRESET_TASK_FILE}): has 'stm-keras fit' finished in "
            f"{path}?"
        )
    raise FileNotFoundError(
        f"{path} is neither a preset (no {PRESET_TASK_FILE}) nor a 'stm-keras fit' model "
        f"directory (no {CONFIG_FILE})"
    )


def load_classifier(path: str, which: str = FINAL_PRESET, dtype: str | None = None) -> Any:
    """Loads the ``STMVideoClassifier`` a preset, handle or model directory holds.

    A model directory written by stm-keras 0.1 (``config.json`` + ``model.keras``) is converted
    in memory; ``convert_legacy_model_dir`` writes it as a preset once and for all.

    Args:
        path: str. Preset directory or handle, fit model directory, or 0.1 model directory.
        which: str. In a model directory, ``"final"`` or ``"best"``. Defaults to ``"final"``.
        dtype: str or None. A dtype policy to compute in (e.g. ``"float32"`` for exports to
            runtimes without mixed precision); None keeps the one it was saved with.

    Raises:
        FileNotFoundError: naming ``path``, when it holds no model.
    """
    from stm_keras.models import STMVideoClassifier

    if not path.startswith(REMOTE_PREFIXES) and is_legacy_model_dir(path):
        return _load_legacy(path)
    kwargs = {} if dtype is None else {"dtype": dtype}
    return STMVideoClassifier.from_preset(resolve_preset(path, which), **kwargs)


def weights_digest(path: str, which: str = FINAL_PRESET) -> str:
    """SHA-256 over the weight files of the model ``path`` holds, as a hex string.

    For a preset (or the ``which`` preset of a model directory) the bytes of
    ``model.weights.h5`` then ``task.weights.h5``; for a model directory of stm-keras 0.1 those
    of ``model.keras``. A remote handle's files are downloaded (into keras-hub's cache) first.

    Args:
        path: str. What ``load_classifier`` takes: a preset directory or handle, a ``fit``
            model directory or a 0.1 model directory.
        which: str. In a model directory, ``"final"`` or ``"best"``. Defaults to ``"final"``.

    Raises:
        FileNotFoundError: naming ``path``, when it holds no model or no weight file.
    """
    if not path.startswith(REMOTE_PREFIXES) and is_legacy_model_dir(path):
        files = [os.path.join(path, LEGACY_MODEL_FILE)]
    else:
        files = _preset_weight_files(resolve_preset(path, which))
    digest = hashlib.sha256()
    for file in files:
        with open(file, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _preset_weight_files(preset: str) -> list[str]:
    """Local paths of the ``PRESET_WEIGHTS_FILES`` a preset has (downloaded when remote)."""
    if not preset.startswith(REMOTE_PREFIXES):
        files = [os.path.join(preset, name) for name in PRESET_WEIGHTS_FILES]
        files = [file for file in files if os.path.isfile(file)]
    else:
        from keras_hub.src.utils.preset_utils import check_file_exists, get_file

        files = [
            get_file(preset, name)
            for name in PRESET_WEIGHTS_FILES
            if check_file_exists(preset, name)
        ]
    if not files:
        raise FileNotFoundError(
            f"{preset} holds none of {', '.join(PRESET_WEIGHTS_FILES)}: no weights to hash"
        )
    return files


def backbone_config(path: str) -> dict[str, Any]:
    """The ``STMBackbone`` arguments of the model at ``path`` (as ``load_classifier`` takes it).

    Read from the preset's ``config.json`` (or a 0.1 directory's ``config.json``) without
    building the model.
    """
    if not path.startswith(REMOTE_PREFIXES) and is_legacy_model_dir(path):
        legacy = dict(load_config(path).get("model") or {})
        legacy.pop("num_classes", None)
        legacy.pop("dropout", None)
        return legacy
    from keras_hub.src.utils.preset_utils import CONFIG_FILE as PRESET_CONFIG_FILE
    from keras_hub.src.utils.preset_utils import load_json

    return dict(load_json(resolve_preset(path), PRESET_CONFIG_FILE)["config"])


def save_preset(model: Any, preset_dir: str) -> str:
    """Writes ``model`` as a preset, replacing ``preset_dir`` whole only once it is complete."""
    parent = os.path.dirname(os.path.abspath(preset_dir))
    os.makedirs(parent, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=f".{os.path.basename(preset_dir)}-", dir=parent)
    os.chmod(scratch, 0o755)  # mkdtemp's 0700 would hide the preset from other users
    try:
        model.save_to_preset(scratch)
        # A kill between the two renames leaves the old preset as `.old` and the new one whole.
        old = f"{preset_dir}.old"
        if os.path.exists(preset_dir):
            shutil.rmtree(old, ignore_errors=True)
            os.rename(preset_dir, old)
        os.rename(scratch, preset_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return preset_dir


def convert_legacy_model_dir(model_dir: str) -> str:
    """Writes the ``model.keras`` of a stm-keras 0.1 model directory as ``model_dir/final``."""
    return save_preset(_load_legacy(model_dir), os.path.join(model_dir, FINAL_PRESET))


def _load_legacy(model_dir: str) -> Any:
    """Rebuilds a 0.1 model (``build_stm_resnet`` kwargs in config.json) as a classifier."""
    import keras

    from stm_keras.models import (
        STMBackbone,
        STMVideoClassifier,
        VideoClassifierPreprocessor,
        transfer_weights,
    )

    config = load_config(model_dir)
    kwargs = dict(config.get("model") or {})
    if not kwargs:
        raise ValueError(f"{os.path.join(model_dir, CONFIG_FILE)} has no 'model' entry to rebuild")
    num_classes = int(kwargs.pop("num_classes"))
    dropout = float(kwargs.pop("dropout", 0.5))
    if config["arch"] == "tsn":
        kwargs.update(use_cstm=False, use_cmm=False)
    backbone = STMBackbone(**kwargs)
    preprocessor = VideoClassifierPreprocessor(
        num_segments=int(config["frames"]),
        image_size=int(config["image_size"]),
        class_names=config["classes"],
    )
    classifier = STMVideoClassifier(backbone, num_classes, preprocessor, dropout=dropout)
    legacy = keras.saving.load_model(os.path.join(model_dir, LEGACY_MODEL_FILE), compile=False)
    report = transfer_weights(legacy, classifier)
    weighted = [layer.name for layer in legacy.layers if layer.weights]
    if sorted(report.copied) != sorted(weighted):
        missing = sorted(set(weighted) - set(report.copied))
        raise ValueError(f"{model_dir}: layers {missing[:5]} of model.keras have no counterpart")
    return classifier
