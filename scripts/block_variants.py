"""Times one STM bottleneck block against a ResNet one, and implementation variants of it.

A developer's tool for finding where STM's overhead goes on an accelerator (Keras on JAX, XLA):
for each ResNet-50 stage's stride-1 block shape it times the block's inference and its train
step (forward + gradients of the weights and the input) for

- ``tsn``, ``cstm_only``, ``cmm_only``, ``stm``: the real ``STMBlock`` layer;
- ``v_*``: the same weights run by ``variant_forward`` below with one implementation choice
  changed (same function, other ops): CMM's 1x1 convs as convs (the layer runs them as matmuls)
  or as multiply-adds over its reduced channels,
  CMM's frame shift by slicing, the block's own 1x1 convs as matmuls, and CMM's expand conv
  folded into the block's last 1x1 conv.
  ``v_same`` rewrites the layer's own choices and checks the rewrite.

Each variant runs the weights of the first row with the same modules (the real layer, in the
default order); its inference output is compared with that row's (``rel_error_vs_layer``,
relative L2 error), and its train-step loss is reported (``train_loss``: equal for variants of
the same function on the same weights). Calls are
dispatched back to back and waited for once (device throughput, not launch latency); medians of
``--repeats``. Writes JSON with ``--output``.

    KERAS_BACKEND=jax python scripts/block_variants.py --batch-size 16 --output blocks.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import keras
import numpy as np
from keras import ops

from stm_keras.layers import STMBlock
from stm_keras.layers.cmm import depthwise_conv3x3_by_slices, next_frame_motion
from stm_keras.layers.conv_bn import pointwise_matmul

# ResNet-50 stages: (bottleneck width, spatial side at 224 px).
STAGES = {"conv2": (64, 56), "conv3": (128, 28), "conv4": (256, 14), "conv5": (512, 7)}
VARIANTS = {
    # name: (use_cstm, use_cmm, options for variant_forward or None for the layer's own call)
    "tsn": (False, False, None),
    "cstm_only": (True, False, None),
    "cmm_only": (False, True, None),
    "stm": (True, True, None),
    "v_same": (True, True, {}),  # the layer's own implementation, rewritten: a check
    "v_cmm_conv": (True, True, {"cmm_pointwise": "conv"}),  # CMM's 1x1s as convs, as before
    # CMM's 1x1s as multiply-adds over its 4-32 reduced channels, for XLA to fuse
    "v_cmm_elementwise": (True, True, {"cmm_pointwise": "elementwise"}),
    "v_shift_slice": (True, True, {"shift": "slice"}),
    "v_fold": (True, True, {"fold": True}),
    "v_tsn_matmul": (False, False, {"pointwise": "matmul"}),
    "v_stm_matmul": (True, True, {"pointwise": "matmul"}),
}


def pointwise(layer, x, mode: str):
    """A bias-free 1x1 stride-1 conv layer applied as a conv, a matmul or (``"elementwise"``)
    multiply-adds: to few output channels, a multiply and a reduction over the input channels;
    from few input channels, a sum of the scaled channels. XLA can fuse either form into the
    passes next to it, where a matmul is a kernel of its own."""
    if mode == "conv":
        return layer(x)
    if mode == "elementwise":
        kernel = ops.cast(layer.kernel[0, 0], x.dtype)
        inputs, outputs = kernel.shape
        if outputs < inputs:
            return ops.sum(ops.expand_dims(x, -1) * kernel, axis=-2)
        out = x[..., :1] * kernel[0]
        for channel in range(1, inputs):
            out = out + x[..., channel : channel + 1] * kernel[channel]
        return out
    return pointwise_matmul(layer, x)


def reduced_motion(cmm, inputs, options):
    """CMM up to (not including) its expand conv: the motion in the reduced channels."""
    reduced = cmm.reduce_bn(pointwise(cmm.reduce_conv, inputs, options["cmm_pointwise"]))
    kernel = ops.cast(cmm.motion_conv.kernel, reduced.dtype)
    filtered = depthwise_conv3x3_by_slices(reduced, kernel)
    t = cmm.num_segments
    shape = ops.shape(reduced)
    channels = reduced.shape[-1]
    if options.get("shift") == "slice":
        f = ops.reshape(filtered, (-1, t, shape[1], shape[2], channels))
        r = ops.reshape(reduced, (-1, t, shape[1], shape[2], channels))
        motion = ops.concatenate([f[:, 1:] - r[:, :-1], ops.zeros_like(r[:, :1])], axis=1)
        return ops.reshape(motion, shape)
    return next_frame_motion(filtered, reduced, t)


def variant_forward(layers, inputs, options):
    """A stride-1 bottleneck STM/TSN block with the implementation choices in ``options``."""
    mode = options.get("pointwise", "conv")
    options = {"cmm_pointwise": "matmul", **options}
    x = layers["1_relu"](layers["1_bn"](pointwise(layers["1_conv"], inputs, mode)))
    motion_input = x
    if "2_temporal" in layers:
        x = layers["2_temporal"](x)
    x = layers["2_relu"](layers["2_bn"](layers["2_conv"](x)))
    if "cmm" in layers:
        cmm = layers["cmm"]
        motion = reduced_motion(cmm, motion_input, options)
        if options.get("fold"):
            w3 = layers["3_conv"].kernel[0, 0]
            we = cmm.expand_conv.kernel[0, 0]
            kernel = ops.cast(ops.concatenate([w3, ops.matmul(we, w3)], axis=0), x.dtype)
            joined = ops.concatenate([x, motion], axis=-1)
            if mode == "conv":
                y = ops.conv(joined, kernel[None, None], padding="same")
            else:
                y = ops.matmul(joined, kernel)
        else:
            x = x + pointwise(cmm.expand_conv, motion, options["cmm_pointwise"])
            y = pointwise(layers["3_conv"], x, mode)
    else:
        y = pointwise(layers["3_conv"], x, mode)
    return layers["out"](inputs + layers["3_bn"](y))


class Block(STMBlock):
    """``STMBlock`` whose call takes ``training`` (passed on to its BNs) and may run a variant."""

    options = None

    def call(self, inputs, training=None):
        if self.options is None:
            return super().call(inputs)
        return variant_forward(self.block_layers, inputs, self.options)


def make_block(width: int, frames: int, use_cstm: bool, use_cmm: bool, options, shape):
    block = Block(width, frames, use_cstm=use_cstm, use_cmm=use_cmm, name="block")
    block.options = options
    block.build(shape)
    return block


def timed(fn, args, calls: int, repeats: int) -> float:
    import jax

    jax.block_until_ready(fn(*args))  # compile
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            out = fn(*args)
        jax.block_until_ready(out)
        seconds.append((time.perf_counter() - start) / calls)
    return statistics.median(seconds)


def main() -> None:
    import jax

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--dtype-policy", default="mixed_bfloat16")
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--image-scale", type=float, default=1.0, help="Shrink sides (tests).")
    parser.add_argument("--width-scale", type=float, default=1.0, help="Shrink widths (tests).")
    parser.add_argument("--deadline", type=float, default=1e9, help="Stop after this many s.")
    parser.add_argument("--output")
    args = parser.parse_args()
    keras.config.set_dtype_policy(args.dtype_policy)
    began = time.perf_counter()
    rows = []
    rng = np.random.default_rng(0)
    for stage in args.stages.split(","):
        width, side = STAGES[stage]
        width = max(4, int(width * args.width_scale))
        side = max(2, int(side * args.image_scale))
        shape = (args.batch_size * args.frames, side, side, 4 * width)
        compute_dtype = keras.DTypePolicy(args.dtype_policy).compute_dtype
        x = jax.numpy.asarray(rng.standard_normal(shape), dtype=compute_dtype)
        # Per module set (CSTM, CMM): the first such row's weights and inference output.
        references: dict[tuple[bool, bool], np.ndarray] = {}
        weights: dict[tuple[bool, bool], list] = {}
        for name in args.variants.split(","):
            if time.perf_counter() - began > args.deadline:
                print(f"deadline: skipping {stage} {name}", flush=True)
                continue
            use_cstm, use_cmm, options = VARIANTS[name]
            block = make_block(width, args.frames, use_cstm, use_cmm, options, shape)
            kind = (use_cstm, use_cmm)
            if kind not in weights:
                weights[kind] = [v.numpy() for v in block.weights]
            else:
                for variable, value in zip(block.weights, weights[kind], strict=True):
                    variable.assign(value)
            trainable = [v.value for v in block.trainable_variables]
            non_trainable = [v.value for v in block.non_trainable_variables]

            def infer(tv, ntv, inputs, block=block):
                return block.stateless_call(tv, ntv, inputs, training=False)[0]

            def loss(tv, ntv, inputs, block=block):
                out, _ = block.stateless_call(tv, ntv, inputs, training=True)
                return ops.mean(ops.square(ops.cast(out, "float32")))

            infer_fn = jax.jit(infer)
            train_fn = jax.jit(jax.value_and_grad(loss, argnums=(0, 2)))
            out = np.asarray(infer_fn(trainable, non_trainable, x), dtype="float32")
            train_loss = float(train_fn(trainable, non_trainable, x)[0])
            reference = references.setdefault(kind, out)
            error = None
            if options is not None:
                error = float(np.linalg.norm(out - reference) / np.linalg.norm(reference))
            row = {
                "stage": stage,
                "variant": name,
                "shape": list(shape),
                "infer_ms": 1e3
                * timed(infer_fn, (trainable, non_trainable, x), args.calls, args.repeats),
                "train_ms": 1e3
                * timed(train_fn, (trainable, non_trainable, x), args.calls, args.repeats),
                "rel_error_vs_layer": error,
                "train_loss": train_loss,
            }
            rows.append(row)
            print(
                f"{stage} {name:<14} infer {row['infer_ms']:8.3f} ms  train "
                f"{row['train_ms']:8.3f} ms  err {error if error is not None else '-'}",
                flush=True,
            )
    # Ratios to the real TSN block per stage.
    tsn = {r["stage"]: r for r in rows if r["variant"] == "tsn"}
    print(f"\n{'stage':<6}{'variant':<15}{'infer/tsn':>10}{'train/tsn':>10}")
    for r in rows:
        base = tsn.get(r["stage"])
        if base:
            r["infer_vs_tsn"] = r["infer_ms"] / base["infer_ms"]
            r["train_vs_tsn"] = r["train_ms"] / base["train_ms"]
            print(
                f"{r['stage']:<6}{r['variant']:<15}{r['infer_vs_tsn']:>10.3f}"
                f"{r['train_vs_tsn']:>10.3f}"
            )
    if args.output:
        device = jax.devices()[0]
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(
                {"device": device.device_kind, "settings": vars(args), "rows": rows}, f, indent=2
            )


if __name__ == "__main__":
    main()
