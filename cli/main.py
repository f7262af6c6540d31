"""Entry point of the ``stm-keras`` command: one click subcommand per verb.

Each verb lives in its own module and imports TensorFlow/Beam only when it runs, so that
``stm-keras --help`` is instant.
"""

from __future__ import annotations

import click

from cli import bench, evaluate, export, fit, predict, preprocess, synth, visualize
from stm_keras import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="stm-keras")
def app() -> None:
    """STM action recognition for Keras 3: from raw video datasets to a deployed model.

    \b
    Typical run:
      stm-keras synth --layout jester --output-dir raw/
      stm-keras preprocess --dataset jester --data-dir raw/ --output-dir records/
      stm-keras fit --data-dir records/ --model-dir run/ --frames 16
      stm-keras evaluate --model-dir run/ --data-dir records/
      stm-keras export --model-dir run/ --output saved_model/
      stm-keras predict --model saved_model/ clip.mp4
    """


for _module in (synth, preprocess, fit, evaluate, export, predict, bench, visualize):
    app.add_command(_module.command)


def main() -> None:
    """Runs the click app (console script ``stm-keras``)."""
    app()


if __name__ == "__main__":
    main()
