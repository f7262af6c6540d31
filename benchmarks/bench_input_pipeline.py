"""Clips/s the tf.data input pipeline delivers vs clips/s a train step consumes (demo, paper).

Example (CPU): python benchmarks/bench_input_pipeline.py --config both --steps 5
Also reachable as: stm-keras bench input --config paper --steps 20 --mixed-precision
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> None:
    """Parses the options, runs the benchmark and prints one ratio per configuration."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=("demo", "paper", "both"), default="both")
    parser.add_argument("--data-dir", default=None, help="preprocess output [default: synthetic]")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--jit-compile", action="store_true")
    args = parser.parse_args(argv)
    options = vars(args)
    config = options.pop("config")
    names = ("demo", "paper") if config == "both" else (config,)

    from stm_keras.training.input_benchmark import measure_input_pipeline

    for result in measure_input_pipeline(names, **options):
        print(result.format())


if __name__ == "__main__":
    main()
