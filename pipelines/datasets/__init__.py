"""One adapter per supported dataset, looked up by its ``--dataset`` name.

Importing this package is cheap (no Beam), so the CLI can list the names in its ``--help``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stm_keras.pipelines.datasets.base import DatasetAdapter

# name -> module defining ADAPTER; modules are imported on use so a bad one cannot break others.
MODULES = {
    "jester": "stm_keras.pipelines.datasets.jester",
    "something-v1": "stm_keras.pipelines.datasets.something_v1",
    "something-v2": "stm_keras.pipelines.datasets.something_v2",
    "kinetics400": "stm_keras.pipelines.datasets.kinetics400",
    "ucf101": "stm_keras.pipelines.datasets.ucf101",
    "hmdb51": "stm_keras.pipelines.datasets.hmdb51",
    "folders": "stm_keras.pipelines.datasets.folders",
    "csv": "stm_keras.pipelines.datasets.csv_manifest",
}
# Layouts for your own videos: configured by OwnVideoOptions (--manifest, --val-fraction, ...).
OWN_VIDEO_LAYOUTS = ("folders", "csv")


def names() -> list[str]:
    """The supported dataset names, the published datasets first."""
    return list(MODULES)


def get_adapter(name: str) -> DatasetAdapter:
    """The adapter of dataset ``name`` (for ``OWN_VIDEO_LAYOUTS``, with default options).

    Raises:
        KeyError: for an unknown name.
    """
    if name not in MODULES:
        raise KeyError(name)
    return importlib.import_module(MODULES[name]).ADAPTER
