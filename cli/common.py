"""Helpers shared by the CLI verbs."""

from __future__ import annotations

import click

USAGE_ERROR_EXIT = 2


def not_built(verb: str, issue: str) -> None:
    """Tells the user that ``verb`` is not implemented yet and exits with status 2."""
    click.echo(f"stm-keras {verb}: not built yet ({issue}).", err=True)
    raise SystemExit(USAGE_ERROR_EXIT)
