"""LiteRT (TensorFlow Lite) export: a ``.tflite`` file that runs with builtin ops only.

The graph is the SavedModel's ``serving_default`` (``stm_keras.export``): uint8 video in, frame
sampling, resize, centre crop and normalization in the graph, ``probabilities`` and ``features``
out. It is converted with ``TFLITE_BUILTINS`` only, so it runs under the plain LiteRT
interpreter (``ai-edge-litert``) and on Android without the TF fallback ("Flex") delegate; the
export checks the flatbuffer's operator codes and refuses a file that would need one.

Quantization: ``dynamic`` stores weights as int8 (activations stay float); ``int8`` also
quantizes activations, calibrated on clips of a ``stm-keras preprocess`` output, and reports
top-1 of the float and the quantized files on that output's validation split.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import tensorflow as tf

from stm_keras import export

MODEL_FILE = "model.tflite"
QUANTIZATION_REPORT_FILE = "quantization.json"
QUANTIZE_MODES = ("none", "dynamic", "int8")


def operator_names(model: bytes) -> list[str]:
    """Names of the operator codes a ``.tflite`` flatbuffer uses (custom ops by custom code).

    A Flex (TF fallback) op appears as a custom op named ``Flex<TF op>``.
    """
    from tensorflow.lite.python import schema_py_generated as schema

    builtin_names = {
        value: name for name, value in vars(schema.BuiltinOperator).items() if name.isupper()
    }
    root = schema.Model.GetRootAsModel(model, 0)
    names = []
    for index in range(root.OperatorCodesLength()):
        code = root.OperatorCodes(index)
        # Codes above 127 live in builtin_code; older files only set deprecated_builtin_code.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            names.append((code.CustomCode() or b"").decode("utf-8"))
        else:
            names.append(builtin_names.get(builtin, str(builtin)))
    return names


def check_builtin_only(model: bytes) -> None:
    """Raises ValueError naming the custom / Flex ops of a ``.tflite`` flatbuffer, if any."""
    from tensorflow.lite.python import schema_py_generated as schema

    builtin_names = {name for name in vars(schema.BuiltinOperator) if name.isupper()}
    custom = sorted(set(operator_names(model)) - builtin_names)
    if custom:
        raise ValueError(
            f"the LiteRT graph needs non-builtin ops {custom}: it would not run under the plain "
            "LiteRT interpreter"
        )


def _convert(
    saved_model_dir: str,
    quantize: str,
    representative: Callable[[], Iterator[list[np.ndarray]]] | None = None,
) -> bytes:
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=[export.SIGNATURE_KEY]
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "int8":
        converter.representative_dataset = representative
        # Integer kernels wherever LiteRT has them; the ops that have none (the in-graph frame
        # sampling and resize) stay float builtins.
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
            tf.lite.OpsSet.TFLITE_BUILTINS,
        ]
    model = converter.convert()
    check_builtin_only(model)
    return model


def _clips(
    data_dir: str,
    split: str,
    preprocessor: Any,
    fixed_input: list[int] | None,
    limit: int | None,
) -> Iterator[tuple[np.ndarray, int]]:
    from stm_keras import predict
    from stm_keras.data import input_pipeline

    for frames, label in input_pipeline.sampled_frames(data_dir, split, preprocessor, limit):
        yield predict.fit_to_input(frames, fixed_input), label


def top1(model: bytes, clips: list[tuple[np.ndarray, int]]) -> float:
    """Top-1 accuracy of a ``.tflite`` model on ``(frames, label)`` clips, batch 1."""
    from stm_keras import predict

    runner = predict.litert_runner(model)
    correct = sum(
        int(np.argmax(runner(frames[np.newaxis])[export.PROBABILITIES_KEY][0]) == label)
        for frames, label in clips
    )
    return correct / max(len(clips), 1)


def export_litert(
    classifier: Any,
    output_dir: str,
    metadata: dict[str, Any] | None = None,
    input_spec: tf.TensorSpec = export.VIDEO_SPEC,
    quantize: str = "none",
    calibration_data: str | None = None,
    calibration_clips: int = 200,
    log: Callable[[str], None] | None = None,
) -> str:
    """Writes ``model.tflite``, ``labels.txt`` and ``preprocessing.json`` into ``output_dir``.

    Args:
        classifier: STMVideoClassifier (TensorFlow backend) with a preprocessor naming classes.
        output_dir: str. An existing directory.
        metadata: dict. Extra keys for ``preprocessing.json``.
        input_spec: tf.TensorSpec. Dynamic (default) or fixed ``video`` input.
        quantize: str. ``none``, ``dynamic`` or ``int8``.
        calibration_data: str or None. A preprocess output: ``int8`` calibrates on its train
            split (or validation when it has no train split) and both quantized modes report
            top-1 on its validation split.
        calibration_clips: int. Clips drawn for calibration.
        log: callable or None. Receives progress lines.

    Returns:
        The ``.tflite`` file's path. With quantization, ``quantization.json`` beside it records
        the float and quantized sizes (and top-1 when ``calibration_data`` is given).
    """
    if quantize not in QUANTIZE_MODES:
        raise ValueError(f"unknown quantization '{quantize}': choose one of {QUANTIZE_MODES}")
    if quantize == "int8" and not calibration_data:
        raise ValueError("int8 quantization needs calibration data (a preprocess output)")
    say = log or (lambda line: None)
    class_names = export.check_class_names(classifier)
    preprocessing = export.preprocessing_record(
        classifier, {"format": "litert", "quantize": quantize, **(metadata or {})}, input_spec
    )
    fixed_input = preprocessing["fixed_input"]
    preprocessor = classifier.preprocessor
    validation: list[tuple[np.ndarray, int]] = []
    calibration: list[np.ndarray] = []
    if calibration_data:
        from stm_keras.data import schema

        splits = schema.load_dataset_info(calibration_data)["splits"]
        if "validation" in splits:
            validation = list(
                _clips(calibration_data, "validation", preprocessor, fixed_input, None)
            )
        if quantize == "int8":
            split = "train" if "train" in splits else "validation"
            calibration = [
                frames
                for frames, _ in _clips(
                    calibration_data, split, preprocessor, fixed_input, calibration_clips
                )
            ]
            if not calibration:
                raise ValueError(f"{calibration_data}: no clips in split '{split}' to calibrate")
            say(f"calibration: {len(calibration)} clips of {calibration_data} ({split})")

    def representative() -> Iterator[list[np.ndarray]]:
        for frames in calibration:
            yield [frames[np.newaxis]]

    report: dict[str, Any] = {"quantize": quantize}
    with tempfile.TemporaryDirectory() as scratch:
        saved_model_dir = os.path.join(scratch, "saved_model")
        export.export_saved_model(classifier, saved_model_dir, metadata, input_spec)
        start = time.perf_counter()
        model = _convert(saved_model_dir, "none")
        say(f"converted (float32, builtin ops only) in {time.perf_counter() - start:.1f} s")
        if quantize != "none":
            float_model = model
            start = time.perf_counter()
            model = _convert(saved_model_dir, quantize, representative)
            say(f"converted ({quantize}) in {time.perf_counter() - start:.1f} s")
            report.update(
                float_bytes=len(float_model),
                quantized_bytes=len(model),
                size_ratio=len(float_model) / len(model),
            )
            if validation:
                report.update(
                    validation_clips=len(validation),
                    float_top1=top1(float_model, validation),
                    quantized_top1=top1(model, validation),
                    calibration_data=os.path.abspath(calibration_data or ""),
                    calibration_clips=len(calibration),
                )
                report["top1_change"] = report["quantized_top1"] - report["float_top1"]
    path = os.path.join(output_dir, MODEL_FILE)
    with open(path, "wb") as f:
        f.write(model)
    export.write_sidecars(output_dir, class_names, preprocessing)
    report_path = os.path.join(output_dir, QUANTIZATION_REPORT_FILE)
    if quantize != "none":
        with open(report_path, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2, sort_keys=True)
    elif os.path.isfile(report_path):  # left by an earlier, quantized export
        os.remove(report_path)
    return path


def read_quantization_report(model_path: str) -> dict[str, Any] | None:
    """The ``quantization.json`` beside a ``.tflite`` file, or None when it was not quantized."""
    path = os.path.join(os.path.dirname(os.path.abspath(model_path)), QUANTIZATION_REPORT_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)
