"""`stm-keras visualize`."""

import click

from stm_keras.cli.common import not_built


@click.command(
    "visualize", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
def command() -> None:
    """Not built yet."""
    not_built("visualize", "planned: feature-map visualization")
