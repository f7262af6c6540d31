"""Splits a train step of STM- and TSN-ResNet into its parts, against an inference call.

A developer's tool for the question "why does a train step cost N inference calls?" on the
TensorFlow backend (a CPU, no XLA). On the same random batch it times these parts, one part
after the other and, within a part, STM and TSN interleaved (the order reverses every round,
as ``bench model`` does), each part in its own ``tf.function``:

- ``infer``: the model called with ``training=False`` (as ``predict`` runs it);
- ``forward_train``: the loss with ``training=True`` (BN on batch statistics), no gradients;
- ``forward_backward``: the same plus the gradients of every trainable weight, not applied;
- ``apply``: the optimizer (``bench model``'s SGD, momentum 0.9) applying a fixed set of those
  gradients to the weights;
- ``train_step``: ``train_on_batch``, Keras's whole step.

Each part is reported in ms (median) and as a multiple of ``infer``. Writes JSON with
``--output``.

    python scripts/train_step_parts.py --depth 50 --frames 8 --image-size 112 --batch-size 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import keras
import numpy as np

from stm_keras.benchmarks.model import TSN_OPTIONS, _compiled
from stm_keras.models import STMBackbone, STMVideoClassifier

PARTS = ("infer", "forward_train", "forward_backward", "apply", "train_step")


def part_functions(model: keras.Model, clips, labels) -> dict:
    """The timed parts of ``model``'s step, each a callable returning something to wait for."""
    import tensorflow as tf

    loss_fn = model.loss
    variables = model.trainable_variables

    @tf.function
    def infer():
        return model(clips, training=False)

    @tf.function
    def forward_train():
        return loss_fn(labels, model(clips, training=True))

    def gradients():
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(clips, training=True))
        found = tape.gradient(loss, variables)
        missing = [v.path for v, g in zip(variables, found, strict=True) if g is None]
        if missing:
            raise ValueError(f"no gradient for {missing}")
        return found

    @tf.function
    def forward_backward():
        # One scalar from every gradient, so none is pruned from the graph.
        return tf.add_n([tf.reduce_sum(g) for g in gradients()])

    fixed = [tf.constant(g) for g in tf.function(gradients)()]

    @tf.function
    def apply():
        model.optimizer.apply(fixed, variables)
        return model.optimizer.iterations

    return {
        "infer": infer,
        "forward_train": forward_train,
        "forward_backward": forward_backward,
        "apply": apply,
        "train_step": lambda: model.train_on_batch(clips, labels),
    }


def main() -> None:
    """Parses the options, times the parts and prints (and writes) the table."""
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("train_step_parts.py needs the tensorflow backend")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--width-multiplier", type=float, default=1.0)
    parser.add_argument("--num-classes", type=int, default=174)
    parser.add_argument("--steps", type=int, default=10, help="Timed rounds per part.")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed rounds per part first.")
    parser.add_argument("--output")
    args = parser.parse_args()

    backbone = {
        "depth": args.depth,
        "num_segments": args.frames,
        "image_size": args.image_size,
        "width_multiplier": args.width_multiplier,
    }
    variants = {"stm": backbone, "tsn": {**backbone, **TSN_OPTIONS}}
    rng = np.random.default_rng(0)
    shape = (args.batch_size, args.frames, args.image_size, args.image_size, 3)
    clips = keras.ops.convert_to_tensor(rng.normal(size=shape).astype("float32"))
    labels = keras.ops.convert_to_tensor(rng.integers(0, args.num_classes, size=shape[:1]))
    functions, variable_counts = {}, {}
    for arch, kwargs in variants.items():
        model = _compiled(STMVideoClassifier(STMBackbone(**kwargs), args.num_classes), False)
        model.train_on_batch(clips, labels)  # builds the model and the optimizer
        variable_counts[arch] = len(model.trainable_variables)
        for part, function in part_functions(model, clips, labels).items():
            functions[f"{arch}_{part}"] = function

    def timed(function) -> float:
        start = time.perf_counter()
        keras.ops.convert_to_numpy(function())
        return time.perf_counter() - start

    archs = list(variants)
    seconds: dict[str, list[float]] = {key: [] for key in functions}
    # One part at a time, as `bench model` times train steps, then inference: a part runs after
    # the same part of the other model, never after a different kind of call.
    for part in PARTS:
        for round_index in range(args.warmup + args.steps):
            for arch in archs if round_index % 2 == 0 else archs[::-1]:
                elapsed = timed(functions[f"{arch}_{part}"])
                if round_index >= args.warmup:
                    seconds[f"{arch}_{part}"].append(elapsed)
    ms = {key: 1e3 * statistics.median(values) for key, values in seconds.items()}
    report = {
        "ms": {arch: {part: ms[f"{arch}_{part}"] for part in PARTS} for arch in variants},
        "of_infer": {
            arch: {part: ms[f"{arch}_{part}"] / ms[f"{arch}_infer"] for part in PARTS}
            for arch in variants
        },
        "trainable_variables": variable_counts,
        "settings": {**vars(args), "backend": keras.backend.backend()},
    }
    print(
        f"ResNet-{args.depth} x{args.width_multiplier:g}, {args.frames} frames of "
        f"{args.image_size}px, batch {args.batch_size}; median of {args.steps} interleaved "
        "rounds per part"
    )
    print(f"{'':<18}" + "".join(f"{arch.upper():>16}" for arch in variants))
    for part in PARTS:
        cells = "".join(
            f"{report['ms'][arch][part]:>9.1f} ms {report['of_infer'][arch][part]:>4.2f}x"
            for arch in variants
        )
        print(f"{part:<18}{cells}")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
        print(f"figures: {args.output}")


if __name__ == "__main__":
    main()
