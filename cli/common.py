"""Helpers shared by the CLI verbs."""

from __future__ import annotations

from collections.abc import Callable

import click

USAGE_ERROR_EXIT = 2


def not_built(verb: str, issue: str) -> None:
    """Tells the user that ``verb`` is not implemented yet and exits with status 2."""
    click.echo(f"stm-keras {verb}: not built yet ({issue}).", err=True)
    raise SystemExit(USAGE_ERROR_EXIT)


def trained_model_dir_option(function: Callable) -> Callable:
    """``--model-dir``: a 'stm-keras fit' output read by evaluate and export."""
    return click.option(
        "--model-dir",
        required=True,
        type=click.Path(file_okay=False),
        help="Output directory of 'stm-keras fit' (config.json + model.keras).",
    )(function)


def load_model_config(model_dir: str) -> dict:
    """``model_dir``'s config.json; a missing or incomplete one is a usage error naming it."""
    from stm_keras import model_dir as model_dir_lib

    try:
        return model_dir_lib.load_config(model_dir)
    except (FileNotFoundError, ValueError) as error:
        raise click.UsageError(str(error)) from error
