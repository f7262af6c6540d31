"""Where an inference call's time goes, layer by layer, against a matmul's FLOP/s.

A developer's tool for the question "why does inference reach only N % of a matmul's FLOP/s?"
on the TensorFlow backend (a CPU, no XLA). It builds STM- or TSN-ResNet, profiles a few
``predict_on_batch`` calls with TensorFlow's profiler and assigns every op's time to the layer
it came from: a convolution with the BN and ReLU TensorFlow fused into it is one unit
(``conv4_block2_3``), as are CSTM's temporal conv, each CMM, the fusion add, each residual
add with its ReLU, and the stem. Each unit's achieved FLOP/s (2 x the multiply-adds
``bench flops`` counts) is reported as a fraction of a square float32 matmul's FLOP/s timed
in the same process, per unit and per kind of unit (3x3 conv by stride, 1x1 conv, shortcut
projection, CMM, ...).

Op times come from the executor's threads. Where two ops run at the same time (a block's
shortcut projection beside its main path) each one's time grows, so the op times of a call
sum to more than its wall time, which is printed beside them.

    python scripts/layer_efficiency.py --arch tsn --depth 50 --frames 8 --image-size 112 \
        --batch-size 2
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import re
import statistics
import tempfile
import time

import keras
import numpy as np

from stm_keras.benchmarks.model import TSN_OPTIONS, matmul_timer
from stm_keras.models import STMBackbone, STMVideoClassifier, backbone_multiply_adds

# Suffixes of the layers that make up one unit with the name before them.
UNIT_SUFFIXES = ("_conv", "_bn", "_relu", "_pad", "_pool")
BLOCK_CONV = re.compile(r"conv\d+_block\d+_(\d)$")


def layer_units(backbone: STMBackbone) -> dict[str, str]:
    """Maps each backbone layer name to its unit (``conv3_block1_2_bn`` -> ``conv3_block1_2``).

    A conv, its BN, ReLU and padding form one unit, as do a residual ``add`` and the ReLU
    (``out``) after it; every other layer is a unit of its own.
    """
    units = {}
    for layer in backbone.layers:
        name = layer.name
        unit = name
        if name.endswith("_out"):
            unit = name[: -len("_out")] + "_add"
        elif name.endswith(UNIT_SUFFIXES) and not name.endswith("_temporal"):
            unit = name.rsplit("_", 1)[0]
        units[name] = unit
    return units


def unit_kind(unit: str, backbone: STMBackbone) -> str:
    """What a unit is, for grouping: ``"3x3 conv, stride 2"``, ``"CMM"``, ..."""
    if unit == "conv1":
        return "stem 7x7 conv, stride 2"
    if unit.endswith("_temporal"):
        return "CSTM temporal conv"
    if unit.endswith("_cmm"):
        return "CMM"
    if unit.endswith("_fuse"):
        return "CSTM + CMM fusion"
    if unit.endswith("_add"):
        return "residual add + ReLU"
    match = BLOCK_CONV.search(unit)
    if match:
        conv = backbone.get_layer(f"{unit}_conv")
        size, stride = conv.kernel_size[0], conv.strides[0]
        if match.group(1) == "0":
            return f"1x1 shortcut projection, stride {stride}"
        return f"{size}x{size} conv, stride {stride}"
    return "other (pooling, classifier)"


def op_seconds(log_dir: str) -> dict[str, float]:
    """Total seconds per TensorFlow op (node path) in the host trace written to ``log_dir``."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = sorted(glob.glob(os.path.join(log_dir, "plugins", "profile", "*", "*.xplane.pb")))
    if not paths:
        raise RuntimeError(f"the profiler wrote no trace under {log_dir}")
    space = xplane_pb2.XSpace()
    with open(paths[-1], "rb") as f:
        space.ParseFromString(f.read())
    totals: dict[str, float] = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                path, _, op_type = name.rpartition(":")
                if "/" in path and op_type:  # an op: "scope/node:OpType"
                    totals[path] += event.duration_ps * 1e-12
    return dict(totals)


def unit_of_op(path: str, units: dict[str, str]) -> str | None:
    """The unit an op belongs to: the deepest scope in its path that names a backbone layer."""
    for segment in reversed(path.split("/")):
        for candidate in (segment, re.sub(r"_\d+$", "", segment)):
            if candidate in units:
                return units[candidate]
    return None


def main() -> None:
    """Parses the options, profiles the calls and prints (and writes) the tables."""
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("layer_efficiency.py needs the tensorflow backend")
    import tensorflow as tf

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=("stm", "tsn"), default="stm")
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--width-multiplier", type=float, default=1.0)
    parser.add_argument("--num-classes", type=int, default=174)
    parser.add_argument("--calls", type=int, default=3, help="Profiled inference calls.")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed calls first.")
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--top", type=int, default=10, help="Least efficient units to list.")
    parser.add_argument("--output")
    args = parser.parse_args()

    options = {} if args.arch == "stm" else TSN_OPTIONS
    backbone = STMBackbone(
        args.depth,
        num_segments=args.frames,
        image_size=args.image_size,
        width_multiplier=args.width_multiplier,
        **options,
    )
    model = STMVideoClassifier(backbone, args.num_classes)
    shape = (args.batch_size, args.frames, args.image_size, args.image_size, 3)
    clips = tf.constant(np.random.default_rng(0).normal(size=shape).astype("float32"))
    for _ in range(args.warmup):
        model.predict_on_batch(clips)
    matmul = matmul_timer(args.matmul_size, "float32")
    matmul_seconds, call_seconds = [], []
    for _ in range(max(3, args.calls)):
        matmul_seconds.append(matmul())
        start = time.perf_counter()
        model.predict_on_batch(clips)
        call_seconds.append(time.perf_counter() - start)
    peak = 2.0 * args.matmul_size**3 / statistics.median(matmul_seconds)
    with tempfile.TemporaryDirectory() as log_dir:
        tf.profiler.experimental.start(log_dir)
        try:
            for _ in range(args.calls):
                model.predict_on_batch(clips)
        finally:
            tf.profiler.experimental.stop()
        ops = op_seconds(log_dir)

    units = layer_units(backbone)
    macs: dict[str, int] = collections.Counter()
    for layer, count in backbone_multiply_adds(backbone, args.frames, args.image_size).items():
        macs[units[layer]] += count * args.batch_size
    seconds: dict[str, float] = collections.Counter()
    for path, total in ops.items():
        seconds[unit_of_op(path, units) or "outside the backbone"] += total / args.calls

    def efficiency(unit_macs: float, unit_seconds: float) -> float | None:
        return 2.0 * unit_macs / unit_seconds / peak if unit_macs and unit_seconds else None

    rows = []
    known = set(units.values())
    for unit in dict.fromkeys([*macs, *seconds]):
        kind = unit_kind(unit, backbone) if unit in known else "other (outside)"
        rows.append(
            {
                "unit": unit,
                "kind": kind,
                "ms": 1e3 * seconds.get(unit, 0.0),
                "gmacs": macs.get(unit, 0) / 1e9,
                "efficiency": efficiency(macs.get(unit, 0), seconds.get(unit, 0.0)),
            }
        )
    kinds: dict[str, dict] = {}
    for row in rows:
        entry = kinds.setdefault(row["kind"], {"ms": 0.0, "gmacs": 0.0, "units": 0})
        entry["ms"] += row["ms"]
        entry["gmacs"] += row["gmacs"]
        entry["units"] += 1
    for entry in kinds.values():
        entry["efficiency"] = efficiency(entry["gmacs"] * 1e9, entry["ms"] / 1e3)
    op_ms = sum(row["ms"] for row in rows)
    report = {
        "arch": args.arch,
        "matmul_peak_flops": peak,
        "call_ms": 1e3 * statistics.median(call_seconds),
        "op_ms": op_ms,
        "gmacs": sum(row["gmacs"] for row in rows),
        "kinds": kinds,
        "units": rows,
        "settings": {**vars(args), "backend": keras.backend.backend()},
    }

    print(
        f"{args.arch.upper()}-ResNet-{args.depth} x{args.width_multiplier:g}, {args.frames} "
        f"frames of {args.image_size}px, batch {args.batch_size}: inference call "
        f"{report['call_ms']:.1f} ms (median, unprofiled), op time {op_ms:.1f} ms per call "
        f"(profiled, {args.calls} calls); float32 matmul {peak / 1e12:.3f} TFLOP/s"
    )
    print(f"{'kind':<36}{'units':>6}{'ms':>9}{'GMACs':>9}{'of matmul':>11}")
    for kind, entry in sorted(kinds.items(), key=lambda item: -item[1]["ms"]):
        share = "" if entry["efficiency"] is None else f"{entry['efficiency']:.1%}"
        print(f"{kind:<36}{entry['units']:>6}{entry['ms']:>9.2f}{entry['gmacs']:>9.3f}{share:>11}")
    timed = [row for row in rows if row["efficiency"] is not None]
    print(f"least efficient units (of {len(timed)} with multiply-adds):")
    for row in sorted(timed, key=lambda row: row["efficiency"])[: args.top]:
        print(f"  {row['unit']:<28}{row['kind']:<36}{row['ms']:>8.2f} ms{row['efficiency']:>8.1%}")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
        print(f"figures: {args.output}")


if __name__ == "__main__":
    main()
