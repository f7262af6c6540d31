"""Click options generated from ``STMBackbone``'s constructor, where the option set is declared.

Each argument of ``STMBackbone.__init__`` (but those a verb sets itself, such as
``num_segments``) becomes an option named after it (``width_multiplier`` →
``--width-multiplier``; a ``use_x`` flag → ``--x/--no-x``), typed after its default, with the
help text of its ``Args:`` entry in the class docstring.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
import re
from collections.abc import Callable, Sequence
from typing import Any

import click

# Set by the verbs from their own options (--frames, --image-size) or not user-facing.
NOT_OPTIONS = ("self", "num_segments", "image_size", "dtype", "kwargs")


BACKBONE_MODULE = "stm_keras.models.stm_backbone"
BACKBONE_CLASS = "STMBackbone"


@dataclasses.dataclass(frozen=True)
class BackboneArgument:
    """One ``STMBackbone`` constructor argument: its name, default and docstring help."""

    name: str
    default: Any
    help: str


def _docstring_help(docstring: str) -> dict[str, str]:
    """``{argument: its Args: entry without the type}`` of a Google-style docstring."""
    section = docstring.split("Args:", 1)[-1]
    entries = re.findall(r"^ {4}(\w+): [^.]*\.\s*(.*?)(?=^ {4}\S|\Z)", section, re.M | re.S)
    helps = {}
    for name, text in entries:
        text = re.sub(r"\s*Defaults to [^.]*\.\s*$", "", " ".join(text.split()))
        helps[name] = text.replace('``"', "").replace('"``', "").replace("``", "")
    return helps


@functools.cache
def backbone_arguments() -> tuple[BackboneArgument, ...]:
    """The ``STMBackbone`` arguments exposed as CLI options, in signature order.

    Read from the module's source with ``ast``, so building the CLI needs no model code.
    """
    spec = importlib.util.find_spec(BACKBONE_MODULE)
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    constants = {
        target.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == BACKBONE_CLASS)
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    helps = _docstring_help(ast.get_docstring(cls) or "")
    args = init.args.args[len(init.args.args) - len(init.args.defaults) :]
    arguments = []
    for arg, default in zip(args, init.args.defaults, strict=True):
        if arg.arg in NOT_OPTIONS:
            continue
        if isinstance(default, ast.Name):
            default = constants[default.id]
        arguments.append(
            BackboneArgument(arg.arg, ast.literal_eval(default), helps.get(arg.arg, ""))
        )
    return tuple(arguments)


def parse_int_list(text: str | Sequence[int], option: str) -> tuple[int, ...]:
    """``"2,3,4"`` → ``(2, 3, 4)``; a usage error naming ``option`` for anything else."""
    if not isinstance(text, str):
        return tuple(int(part) for part in text)
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated integers, got '{text}'", param_hint=option
        ) from None


def _option(argument: BackboneArgument) -> Callable:
    name, default, help_text = argument.name, argument.default, argument.help
    flag = "--" + name.replace("_", "-")
    if isinstance(default, bool):
        stem = name.removeprefix("use_").replace("_", "-")
        return click.option(f"--{stem}/--no-{stem}", name, default=default, help=help_text)
    if isinstance(default, (tuple, list)):
        text = ",".join(str(v) for v in default)
        return click.option(flag, name, default=text, help=help_text + " Comma-separated.")
    if default is None:
        return click.option(flag, name, type=int, default=None, help=help_text)
    return click.option(flag, name, type=type(default), default=default, help=help_text)


def backbone_options(function: Callable) -> Callable:
    """Adds one option per ``STMBackbone`` argument to a click command."""
    for argument in reversed(backbone_arguments()):
        function = _option(argument)(function)
    return function


def backbone_values(params: dict[str, Any]) -> dict[str, Any]:
    """Pops the backbone options out of a command's ``params``, lists parsed."""
    values = {}
    for argument in backbone_arguments():
        value = params.pop(argument.name)
        if isinstance(argument.default, (tuple, list)):
            value = parse_int_list(value, "--" + argument.name.replace("_", "-"))
        values[argument.name] = value
    return values


def model_option(function: Callable) -> Callable:
    """``--model``: a trained classifier, as every verb that reads one takes it."""
    return click.option(
        "--model",
        "model_path",
        required=True,
        help="A preset directory (e.g. MODEL_DIR/final), an hf:// or kaggle:// preset handle, "
        "or a 'stm-keras fit' model directory (its final preset is used).",
    )(function)
