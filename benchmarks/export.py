"""Deployment formats side by side (``stm-keras bench export``): size, load time, latency,
throughput and agreement with the Keras model, on the same clips in one process.

Each format is exported from the same model into a scratch directory, loaded through
``stm_keras.predict.load_predictor`` (what ``stm-keras predict`` runs) and timed on the same
uint8 clips: single-clip latency (batch 1, median) and clips/s at batch 8. The reference is
the Keras model's own serving function on the same clips.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

# name -> (export format, quantization)
VARIANTS = {
    "saved_model": ("saved_model", "none"),
    "litert": ("litert", "none"),
    "litert_dynamic": ("litert", "dynamic"),
    "litert_int8": ("litert", "int8"),
    "onnx": ("onnx", "none"),
}
DEFAULT_VARIANTS = ("saved_model", "litert", "litert_dynamic", "onnx")


@dataclasses.dataclass(frozen=True)
class FormatRow:
    """One exported variant's figures."""

    variant: str
    file_bytes: int
    export_seconds: float
    load_seconds: float
    latency_ms: float
    clips_per_s_batch8: float
    max_abs_diff: float
    top1_agreement: float


@dataclasses.dataclass(frozen=True)
class ExportBench:
    """``bench export`` results: one row per variant and the settings they share."""

    rows: list[FormatRow]
    settings: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """``{"rows": [...], "settings": {...}}`` for ``--output``."""
        return {"rows": [dataclasses.asdict(row) for row in self.rows], "settings": self.settings}

    def format(self) -> str:
        """The table ``stm-keras bench export`` prints."""
        s = self.settings
        lines = [
            f"{s['model']}: {s['clips']} clips of {s['clip_shape']}, {s['cpu_count']} CPU "
            f"threads; latency = median batch-1 call over {s['repeats']} calls; max |dp| and "
            "top-1 agreement against the Keras model",
            f"{'format':<16}{'size MiB':>10}{'export s':>10}{'load s':>8}{'latency ms':>12}"
            f"{'clips/s @8':>12}{'max |dp|':>11}{'top-1 agree':>13}",
        ]
        for row in self.rows:
            lines.append(
                f"{row.variant:<16}{row.file_bytes / 2**20:>10.2f}{row.export_seconds:>10.1f}"
                f"{row.load_seconds:>8.2f}{row.latency_ms:>12.1f}{row.clips_per_s_batch8:>12.1f}"
                f"{row.max_abs_diff:>11.1e}{row.top1_agreement:>13.3f}"
            )
        return "\n".join(lines)


def _size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(
        os.path.getsize(os.path.join(folder, name))
        for folder, _, names in os.walk(path)
        for name in names
    )


def _measure_variant(
    name: str,
    path: str,
    export_seconds: float,
    batch1: list[np.ndarray],
    batch8: np.ndarray,
    expected: np.ndarray,
    repeats: int,
) -> FormatRow:
    from stm_keras import predict

    start = time.perf_counter()
    serve = predict.load_predictor(path).serve
    load_seconds = time.perf_counter() - start
    serve(batch1[0])  # warm-up: graph tracing, allocation
    got = np.concatenate([serve(video)["probabilities"] for video in batch1])
    latencies = []
    for index in range(repeats):
        start = time.perf_counter()
        serve(batch1[index % len(batch1)])
        latencies.append(time.perf_counter() - start)
    serve(batch8)
    batch_calls = repeats // 4 + 1
    start = time.perf_counter()
    for _ in range(batch_calls):
        serve(batch8)
    batch_seconds = time.perf_counter() - start
    return FormatRow(
        variant=name,
        file_bytes=_size(path),
        export_seconds=export_seconds,
        load_seconds=load_seconds,
        latency_ms=1e3 * statistics.median(latencies),
        clips_per_s_batch8=8 * batch_calls / batch_seconds,
        max_abs_diff=float(np.abs(got - expected).max()),
        top1_agreement=float(np.mean(got.argmax(1) == expected.argmax(1))),
    )


def synthetic_clips(num_clips: int, frames: int, height: int, width: int) -> list[np.ndarray]:
    """uint8 clips of the synthetic generator's moving shapes (the demo's four Jester classes)."""
    from stm_keras.pipelines.synth import records
    from stm_keras.pipelines.synth.motion import render_clip

    classes = records.layout_classes(4, "jester")
    rng = np.random.default_rng(0)
    return [
        render_clip(classes[index % len(classes)][1], rng, frames, height, width)
        for index in range(num_clips)
    ]


def measure_export(
    model_path: str,
    variants: Sequence[str] = DEFAULT_VARIANTS,
    clips: Sequence[np.ndarray] | None = None,
    repeats: int = 20,
    calibration_data: str | None = None,
    work_dir: str | None = None,
    log: Callable[[str], None] | None = None,
) -> ExportBench:
    """Exports ``model_path`` in each variant and times it against the Keras model.

    Args:
        model_path: str. A preset or ``stm-keras fit`` model directory.
        variants: names from ``VARIANTS``.
        clips: uint8 ``[frames, height, width, 3]`` clips of one shape; defaults to 16
            synthetic clips of 16 frames of 120x160.
        repeats: int. Timed batch-1 calls per variant (and batch-8 calls: repeats // 4 + 1).
        calibration_data: str or None. A preprocess output; ``litert_int8`` needs it.
        work_dir: str or None. Where exports are written; a temporary directory by default.
        log: callable or None. Receives progress lines.
    """
    from stm_keras import export, predict

    say = log or (lambda line: None)
    unknown = [name for name in variants if name not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants {unknown}: choose from {', '.join(VARIANTS)}")
    if "litert_int8" in variants and not calibration_data:
        raise ValueError("litert_int8 needs calibration data (a preprocess output)")
    clips = list(clips) if clips is not None else synthetic_clips(16, 16, 120, 160)
    batch1 = [clip[np.newaxis] for clip in clips]
    batch8 = np.stack([clips[index % len(clips)] for index in range(8)])

    reference = predict.load_predictor(model_path)
    expected = np.concatenate([reference.serve(video)["probabilities"] for video in batch1])
    rows = []
    with tempfile.TemporaryDirectory(dir=work_dir) as scratch:
        for name in variants:
            say(f"{name}: exporting")
            format, quantize = VARIANTS[name]
            start = time.perf_counter()
            path = export.export_model(
                model_path,
                os.path.join(scratch, name),
                format=format,
                quantize=quantize,
                calibration_data=calibration_data if quantize == "int8" else None,
            )
            export_seconds = time.perf_counter() - start
            rows.append(
                _measure_variant(name, path, export_seconds, batch1, batch8, expected, repeats)
            )
            say(f"{name}: {rows[-1].latency_ms:.1f} ms per clip")
    settings = {
        "model": model_path,
        "clips": len(clips),
        "clip_shape": list(clips[0].shape),
        "repeats": repeats,
        "cpu_count": os.cpu_count(),
        "calibration_data": calibration_data,
    }
    return ExportBench(rows, settings)
