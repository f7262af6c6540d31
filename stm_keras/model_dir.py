"""The model directory written by ``stm-keras fit`` and read by evaluate/export/predict.

Layout: ``config.json`` (every option used, so later verbs need no repeated flags; it holds at
least ``arch``, ``frames``, ``image_size``, ``classes`` and ``model`` — the keyword arguments of
the model builder), ``model.keras`` (the final model) and training state (checkpoints, history,
logs) described in the training docs.
"""

from __future__ import annotations

import json
import os
from typing import Any

CONFIG_FILE = "config.json"
MODEL_FILE = "model.keras"
REQUIRED_CONFIG_KEYS = ("arch", "frames", "image_size", "classes", "model")


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
        raise FileNotFoundError(f"{path} not found: --model-dir must be a 'stm-keras fit' output.")
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    missing = [key for key in REQUIRED_CONFIG_KEYS if key not in config]
    if missing:
        raise ValueError(f"{path} lacks required keys {missing}")
    return config


def load_model(model_dir: str, compile: bool = False) -> Any:
    """Loads ``model_dir/model.keras`` (custom STM layers are registered by importing them)."""
    import keras

    import stm_keras.layers  # noqa: F401  (registers the serializable layers)

    path = os.path.join(model_dir, MODEL_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: has 'stm-keras fit' finished in {model_dir}?")
    return keras.saving.load_model(path, compile=compile)
