"""`stm-keras fit`."""

import click

from cli.common import not_built


@click.command("fit", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def command() -> None:
    """Not built yet."""
    not_built("fit", "the training issue")
