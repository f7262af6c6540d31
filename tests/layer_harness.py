"""One test harness for every STM layer and model (in the manner of keras-hub's test_case.py).

Each check builds the object afresh and asserts: config round trip, symbolic and eager calls
with the expected output shape, one ``fit`` step that moves the weights, mixed_float16 and
mixed_bfloat16 forward passes (float32 variables; float32 logits for models), and ``.keras``
save/load with equal outputs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import keras
import numpy as np


def _assert_shape(actual, expected, what: str) -> None:
    assert tuple(actual) == tuple(expected), f"{what}: shape {tuple(actual)} != {expected}"


def _fit_one_step(model: keras.Model, inputs: np.ndarray, outputs_shape: tuple) -> None:
    """Runs one SGD step on random targets and asserts that a trainable weight moved."""
    if not model.trainable_weights:
        return
    before = [np.array(w) for w in model.trainable_weights]
    # metrics=[]: a keras-hub Task compiles itself with its default metrics, which
    # compile(metrics=None) would keep.
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=[])
    targets = np.random.default_rng(1).normal(size=outputs_shape).astype("float32")
    history = model.fit(inputs, targets, batch_size=inputs.shape[0], epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = [np.array(w) for w in model.trainable_weights]
    assert any(not np.allclose(b, a) for b, a in zip(before, after, strict=True)), "no step"


def _assert_save_load(model: keras.Model, inputs: np.ndarray, directory: str) -> keras.Model:
    path = os.path.join(directory, f"{model.name}.keras")
    model.save(path)
    restored = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(
        np.asarray(restored(inputs, training=False)),
        np.asarray(model(inputs, training=False)),
        rtol=1e-6,
        atol=1e-6,
    )
    return restored


def run_layer_test(
    layer_cls: type[keras.layers.Layer],
    init_kwargs: dict[str, Any],
    input_data: np.ndarray,
    expected_output_shape: tuple,
    tmp_path: Any,
    expected_num_trainable_weights: int | None = None,
) -> keras.layers.Layer:
    """Checks a layer class end to end; returns the eagerly called layer."""
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    for key, value in init_kwargs.items():
        if key != "dtype":
            assert config[key] == value, f"get_config()[{key!r}] = {config[key]!r} != {value!r}"
    revived = layer_cls.from_config(config)
    assert revived.get_config() == config, "config round trip changed the config"

    symbolic = layer_cls(**init_kwargs)(keras.KerasTensor(input_data.shape))
    _assert_shape(symbolic.shape, expected_output_shape, "symbolic call")
    outputs = layer(input_data)
    _assert_shape(outputs.shape, expected_output_shape, "eager call")
    _assert_shape(layer.compute_output_shape(input_data.shape), expected_output_shape, "shape fn")
    assert np.all(np.isfinite(np.asarray(outputs)))
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights

    inputs = keras.Input(batch_shape=input_data.shape)
    model = keras.Model(inputs, layer_cls(**init_kwargs)(inputs), name="harness")
    _fit_one_step(model, input_data, expected_output_shape)
    _assert_save_load(model, input_data, str(tmp_path))

    for policy in ("mixed_float16", "mixed_bfloat16"):
        mixed = layer_cls(**{**init_kwargs, "dtype": policy})
        half = mixed(input_data)
        assert keras.backend.standardize_dtype(half.dtype) == policy.removeprefix("mixed_")
        assert np.all(np.isfinite(np.asarray(keras.ops.cast(half, "float32"))))
        assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in mixed.weights)
    return layer


def run_model_test(
    build: Callable[..., keras.Model],
    build_kwargs: dict[str, Any],
    input_data: np.ndarray,
    expected_output_shape: tuple,
    tmp_path: Any,
) -> keras.Model:
    """Checks a model builder end to end; returns a built model.

    The config round trip goes through the model's own class, so keras-hub models (whose
    config is their constructor arguments) and plain Functional models both revive.
    """
    model = build(**build_kwargs)
    revived = type(model).from_config(model.get_config())
    assert revived.get_config() == model.get_config(), "config round trip changed the config"
    assert [x.name for x in revived.layers] == [x.name for x in model.layers]
    assert revived.count_params() == model.count_params()
    assert [tuple(w.shape) for w in revived.weights] == [tuple(w.shape) for w in model.weights]

    _assert_shape(model.output.shape[1:], expected_output_shape[1:], "symbolic output")
    outputs = model(input_data, training=False)
    _assert_shape(outputs.shape, expected_output_shape, "eager call")
    assert keras.backend.standardize_dtype(outputs.dtype) == "float32"
    restored = _assert_save_load(model, input_data, str(tmp_path))
    assert isinstance(restored, keras.Model)
    _fit_one_step(model, input_data, expected_output_shape)

    previous = keras.config.dtype_policy()
    for policy in ("mixed_float16", "mixed_bfloat16"):
        keras.config.set_dtype_policy(policy)
        try:
            mixed = build(**build_kwargs)
        finally:
            keras.config.set_dtype_policy(previous)
        logits = mixed(input_data, training=False)
        assert keras.backend.standardize_dtype(logits.dtype) == "float32"
        assert np.all(np.isfinite(np.asarray(logits)))
        assert any(layer.compute_dtype == policy.removeprefix("mixed_") for layer in mixed.layers)
    return model
