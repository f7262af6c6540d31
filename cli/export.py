"""`stm-keras export`."""

import click

from cli.common import not_built


@click.command(
    "export", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
def command() -> None:
    """Not built yet."""
    not_built("export", "the evaluate/export/predict issue")
