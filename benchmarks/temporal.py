"""The paper's central claim and its ablations on data that only temporal order separates.

``stm-keras bench temporal`` trains the same small network six times, changing only the block's
temporal modules, on synthetic Jester clips of four classes: Swiping Left, Right, Up and Down
(:mod:`pipelines.synth.motion`). "Left" is "Right" played backwards (and "Up" "Down"), so the
set of frames of a clip says nothing about its direction: a model that averages per-frame
features (TSN) can tell horizontal from vertical but not left from right, and tops out near
0.5; a model that encodes temporal order should reach about 1.

Rows (``STMBackbone`` options; the paper's tables in brackets):

- ``stm``: CSTM + CMM, summed (the paper's STM block);
- ``tsn``: neither module (the 2-D baseline, Tables 5 and 6);
- ``cstm_only`` / ``cmm_only``: one module (Table 5);
- ``stm_concat``: CSTM and CMM concatenated, then a 1x1 conv (Table 6's fusion);
- ``stm_full_temporal``: CSTM's temporal conv over all channels instead of channel-wise
  (Table 8).

Every row uses the same data, seed and recipe (``cpu-demo``'s network: ResNet-18 x0.25 on
8 frames of 64x64, from scratch, one CPU device), with TensorFlow's op determinism on, so a
second run gives the same figures.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from stm_keras.recipes import load_recipe

VARIANTS: dict[str, dict[str, Any]] = {
    "stm": {},
    "tsn": {"use_cstm": False, "use_cmm": False},
    "cstm_only": {"use_cmm": False},
    "cmm_only": {"use_cstm": False},
    "stm_concat": {"fusion": "concat"},
    "stm_full_temporal": {"temporal_conv": "full"},
}
# Expectations of issue 10 / the paper: STM near perfect where TSN cannot tell the time
# reversals apart, and each module alone above TSN.
STM_AT_LEAST = 0.95
TSN_AT_MOST = 0.60
# The network of the cpu-demo recipe (stm_keras/recipes/cpu-demo.json), read from it.
_DEMO = load_recipe("cpu-demo").options
NETWORK = {"depth": _DEMO["depth"], "width_multiplier": _DEMO["width_multiplier"]}
FRAMES, IMAGE_SIZE = _DEMO["frames"], _DEMO["image_size"]
CLASSES = 4  # Swiping Left, Right, Up, Down


@dataclasses.dataclass(frozen=True)
class TemporalBench:
    """Validation top-1 per variant, the training time each took, and the shared settings."""

    top1: dict[str, float]
    val_loss: dict[str, float]
    seconds: dict[str, float]
    epochs: int
    settings: dict[str, Any]

    def checks(self) -> dict[str, bool]:
        """The issue's expectations, each True or False for these figures."""
        top1 = self.top1
        checks = {}
        if "stm" in top1:
            checks[f"stm >= {STM_AT_LEAST}"] = top1["stm"] >= STM_AT_LEAST
        if "tsn" in top1:
            checks[f"tsn <= {TSN_AT_MOST}"] = top1["tsn"] <= TSN_AT_MOST
            for single in ("cstm_only", "cmm_only"):
                if single in top1:
                    checks[f"{single} > tsn"] = top1[single] > top1["tsn"]
        return checks

    def to_json(self) -> dict[str, Any]:
        """What ``--output`` writes."""
        return {
            "top1": self.top1,
            "val_loss": self.val_loss,
            "epochs": self.epochs,
            "seconds": self.seconds,
            "checks": self.checks(),
            "settings": self.settings,
        }

    def format(self) -> str:
        """The table ``stm-keras bench temporal`` prints."""
        s = self.settings
        lines = [
            f"temporal-order benchmark: {s['train_videos']} train / {s['validation_videos']} "
            f"validation synthetic Jester videos, classes {', '.join(s['classes'])}; "
            f"ResNet-{s['depth']} x{s['width_multiplier']:g}, {s['frames']} frames of "
            f"{s['image_size']}px, {self.epochs} epochs, seed {s['seed']}",
            f"{'variant':<20}{'val top-1':>10}{'val loss':>10}{'train s':>10}",
        ]
        for name, top1 in self.top1.items():
            lines.append(
                f"{name:<20}{top1:>10.3f}{self.val_loss[name]:>10.4f}{self.seconds[name]:>10.1f}"
            )
        for check, passed in self.checks().items():
            lines.append(f"  {'ok  ' if passed else 'FAIL'} {check}")
        return "\n".join(lines)


@contextlib.contextmanager
def _op_determinism() -> Iterator[None]:
    """TensorFlow's op determinism (kernels and tf.data order) on inside, as it was after."""
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    was_on = tf_config.is_op_determinism_enabled()
    # Same seed, same numbers: deterministic kernels and input order, tf.data included.
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if not was_on:
            tf_config.disable_op_determinism()


def write_dataset(
    output_dir: str, train_videos: int, validation_videos: int, seed: int
) -> dict[str, Any]:
    """Synthetic Jester shards of the four swiping classes (16 frames of 72x96, as the demo)."""
    from stm_keras.pipelines.synth import records

    return records.write_records(
        output_dir,
        num_classes=CLASSES,
        videos_per_split={"train": train_videos, "validation": validation_videos},
        num_frames=16,
        height=72,
        width=96,
        num_shards=4,
        dataset="jester",
        seed=seed,
        layout="jester",
    )


def measure_temporal(
    variants: Sequence[str] = tuple(VARIANTS),
    epochs: int = 12,
    lr: float = 0.08,
    lr_steps: Sequence[int] = (9,),
    batch_size: int = 8,
    train_videos: int = 128,
    validation_videos: int = 64,
    seed: int = 0,
    data_dir: str | None = None,
    work_dir: str | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> TemporalBench:
    """Trains each variant on the same data with the same settings; returns validation top-1.

    Args:
        variants: names from ``VARIANTS``, in report order. Defaults to all six.
        epochs: int. Epochs per variant. Defaults to 12.
        lr: float. Learning rate (scaled linearly to the batch, as ``fit`` does). Defaults to
            0.08.
        lr_steps: epochs at which the learning rate drops tenfold. Defaults to (9,).
        batch_size: int. Clips per step. Defaults to 8.
        train_videos: int. Synthetic training videos (a multiple of 4 keeps classes balanced).
            Defaults to 128.
        validation_videos: int. Synthetic validation videos. Defaults to 64.
        seed: int. Seed of the data, the weights, the shuffling and the augmentation.
            Defaults to 0.
        data_dir: str or None. A ``preprocess`` output to use instead of the synthetic data.
            Defaults to None.
        work_dir: str or None. Where the data and the models go while the benchmark runs;
            None for the system's temporary directory. Defaults to None.
        log: called with a line per finished variant.

    Returns:
        A ``TemporalBench``: the last epoch's validation top-1 and loss of each variant.

    Raises:
        ValueError: for an unknown variant.
    """
    unknown = [name for name in variants if name not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}, expected some of {list(VARIANTS)}")
    from stm_keras.data import schema
    from stm_keras.training.trainer import FitOptions, fit

    top1: dict[str, float] = {}
    val_loss: dict[str, float] = {}
    seconds: dict[str, float] = {}
    synthetic = data_dir is None
    with _op_determinism(), tempfile.TemporaryDirectory(dir=work_dir) as root:
        if data_dir is None:
            data_dir = os.path.join(root, "data")
            write_dataset(data_dir, train_videos, validation_videos, seed)
        info = schema.load_dataset_info(data_dir)
        for name in variants:
            options = FitOptions(
                data_dir=data_dir,
                model_dir=os.path.join(root, name),
                backbone={**NETWORK, **VARIANTS[name]},
                frames=FRAMES,
                image_size=IMAGE_SIZE,
                batch_size=batch_size,
                epochs=epochs,
                lr=lr,
                lr_steps=tuple(lr_steps),
                init="none",
                cpu_replicas=0,
                seed=seed,
                verbose=0,
            )
            start = time.perf_counter()
            logs = fit(options, log=lambda line: None)
            seconds[name] = time.perf_counter() - start
            top1[name] = float(logs["val_top1"])
            val_loss[name] = float(logs["val_loss"])
            log(f"{name}: validation top-1 {top1[name]:.3f} ({seconds[name]:.0f} s)")
    splits = info.get("splits", {})
    settings = {
        **NETWORK,
        "frames": FRAMES,
        "image_size": IMAGE_SIZE,
        "batch_size": batch_size,
        "lr": lr,
        "lr_steps": list(lr_steps),
        "seed": seed,
        "classes": list(info.get("classes", [])),
        "train_videos": splits.get("train", {}).get("num_written", train_videos),
        "validation_videos": splits.get("validation", {}).get("num_written", validation_videos),
        "data_dir": "synthetic" if synthetic else data_dir,
    }
    return TemporalBench(
        top1=top1, val_loss=val_loss, seconds=seconds, epochs=epochs, settings=settings
    )
