"""Videos/s of the Beam preprocess job (1 and 2 DirectRunner workers) vs a plain Python loop.

Example: python benchmarks/bench_preprocess.py --layout ucf101 --videos-per-class 10
Also reachable as: stm-keras bench preprocess --layout ucf101 --videos-per-class 10
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> None:
    """Parses the options, runs the benchmark and prints the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", default="ucf101")
    parser.add_argument("--videos-per-class", type=int, default=10)
    parser.add_argument("--classes", dest="num_classes", type=int, default=4)
    parser.add_argument("--frames", dest="num_frames", type=int, default=32)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--short-side", type=int, default=256)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    args = parser.parse_args(argv)
    options = vars(args)
    options["workers"] = [int(w) for w in args.workers.split(",")]

    from pipelines.benchmark import measure_preprocess_speed

    print(measure_preprocess_speed(**options).format())


if __name__ == "__main__":
    main()
