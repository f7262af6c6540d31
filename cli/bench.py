"""`stm-keras bench`: speed and size reports (benchmarks, never tests)."""

import click


@click.group("bench")
def command() -> None:
    """Speed and size benchmarks. Ratios are measured side by side in one run."""
