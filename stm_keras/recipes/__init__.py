"""Training recipes as data: the paper's recipes and the CPU demo, one JSON file each.

A recipe file holds a ``description``, the ``options`` of ``stm-keras fit`` it sets (by their
Python names: ``frames``, ``lr_steps``, ``depth``, ...) and optionally ``requires``: options the
user must still give (``init_from`` for fine-tuning recipes). ``stm-keras fit --recipe NAME``
starts from the recipe and lets every flag given on the command line override it; the run's
``config.json`` records the recipe and the overrides.
"""

from __future__ import annotations

import dataclasses
import json
import os
from importlib import resources
from typing import Any

RECIPE_SUFFIX = ".json"


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A named set of ``fit`` options.

    Attributes:
        name: str. File name without ``.json`` (or the path given for a user's file).
        description: str. What it trains and how.
        options: dict. ``fit`` option values by Python name.
        requires: tuple of str. Options the user must give besides the recipe.
    """

    name: str
    description: str
    options: dict[str, Any]
    requires: tuple[str, ...] = ()


def recipe_names() -> list[str]:
    """Names of the recipes shipped with the package, sorted."""
    return sorted(
        entry.name.removesuffix(RECIPE_SUFFIX)
        for entry in resources.files(__name__).iterdir()
        if entry.name.endswith(RECIPE_SUFFIX)
    )


def load_recipe(name_or_path: str) -> Recipe:
    """Reads a shipped recipe by name, or a user's recipe file by path.

    Raises:
        ValueError: naming the recipe, when it is unknown or malformed (listing the names).
    """
    if os.path.isfile(name_or_path):
        with open(name_or_path, encoding="utf-8") as f:
            text, name = f.read(), name_or_path
    else:
        entry = resources.files(__name__).joinpath(name_or_path + RECIPE_SUFFIX)
        if not entry.is_file():
            raise ValueError(
                f"unknown recipe {name_or_path!r}: choose one of {', '.join(recipe_names())} "
                "or give the path of a recipe JSON file"
            )
        text, name = entry.read_text(encoding="utf-8"), name_or_path
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"recipe {name}: not valid JSON ({error})") from error
    if not isinstance(data, dict) or not isinstance(data.get("options"), dict):
        raise ValueError(f"recipe {name}: expected an object with an 'options' object")
    return Recipe(
        name=name,
        description=str(data.get("description", "")),
        options=dict(data["options"]),
        requires=tuple(data.get("requires", ())),
    )
