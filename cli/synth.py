"""`stm-keras synth`."""

import click

from cli.common import not_built


@click.command("synth", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def command() -> None:
    """Not built yet."""
    not_built("synth", "the Beam preprocessing issue")
