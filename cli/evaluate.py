"""`stm-keras evaluate`."""

import click

from cli.common import not_built


@click.command(
    "evaluate", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
def command() -> None:
    """Not built yet."""
    not_built("evaluate", "the evaluate/export/predict issue")
