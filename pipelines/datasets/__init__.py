"""One adapter per supported dataset, looked up by its ``--dataset`` name."""

from __future__ import annotations

import importlib

from stm_keras.pipelines.datasets.base import DatasetAdapter

# name -> module defining ADAPTER; modules are imported on use so a bad one cannot break others.
MODULES = {
    "jester": "stm_keras.pipelines.datasets.jester",
    "something-v1": "stm_keras.pipelines.datasets.something_v1",
    "something-v2": "stm_keras.pipelines.datasets.something_v2",
    "kinetics400": "stm_keras.pipelines.datasets.kinetics400",
    "ucf101": "stm_keras.pipelines.datasets.ucf101",
    "hmdb51": "stm_keras.pipelines.datasets.hmdb51",
}


def names() -> list[str]:
    """The supported dataset names."""
    return list(MODULES)


def get_adapter(name: str) -> DatasetAdapter:
    """The adapter of dataset ``name``.

    Raises:
        KeyError: for an unknown name.
    """
    if name not in MODULES:
        raise KeyError(name)
    return importlib.import_module(MODULES[name]).ADAPTER
