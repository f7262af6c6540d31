"""Entry point of the ``stm-keras`` command: one click subcommand per verb.

Each verb lives in its own module. Apache Beam is imported only by the verbs that run a
pipeline; Keras and TensorFlow come with ``import stm_keras`` itself.
"""

from __future__ import annotations

import click

from stm_keras import __version__
from stm_keras.cli import bench, evaluate, export, fit, predict, preprocess, synth, visualize


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="stm-keras")
def app() -> None:
    """STM action recognition for Keras 3: from raw video datasets to a deployed model.

    \b
    Typical run:
      stm-keras synth --layout jester --output-dir raw/
      stm-keras preprocess --dataset jester --data-dir raw/ --output-dir records/
      stm-keras fit --recipe jester-imagenet-16f --data-dir records/ --model-dir run/
      stm-keras evaluate --model run/ --data-dir records/
      stm-keras export --model run/ --output-dir saved_model/
      stm-keras predict --model saved_model/ clip.mp4
    """


for _module in (synth, preprocess, fit, evaluate, export, predict, bench, visualize):
    app.add_command(_module.command)


def main() -> None:
    """Runs the click app (console script ``stm-keras``)."""
    app()


if __name__ == "__main__":
    main()
