"""Train-step time of STM-ResNet vs TSN-ResNet (same input, one run, interleaved).

Example (CPU, small): python benchmarks/bench_step_time.py --frames 8 --image-size 112
Also reachable as: stm-keras bench step-time --depth 50 --frames 8 --image-size 224
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> None:
    """Parses the options, runs the benchmark and prints the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=50, choices=(18, 34, 50, 101, 152))
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--num-classes", type=int, default=174)
    parser.add_argument("--width-multiplier", type=float, default=1.0)
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--jit-compile", action="store_true")
    args = parser.parse_args(argv)

    from stm_keras.models.step_time import measure_step_times

    print(measure_step_times(**vars(args)).format())


if __name__ == "__main__":
    main()
