"""The package's BatchNormalization: Keras's math, TensorFlow's fused kernel in training and in
inference."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from stm_keras.layers.conv_bn import BATCH_NORM_EPSILON, BatchNormalization, batch_norm

SHAPE = (4, 5, 6, 7)


def _pair(**kwargs):
    """Ours and Keras's, built on the same shape with the same (non-trivial) weights."""
    ours = batch_norm("ours", **kwargs)
    theirs = keras.layers.BatchNormalization(
        epsilon=ours.epsilon, momentum=ours.momentum, name="theirs", **kwargs
    )
    for layer in (ours, theirs):
        layer.build(SHAPE)
        layer.gamma.assign(np.linspace(0.5, 2.0, SHAPE[-1]))
        layer.beta.assign(np.linspace(-1.0, 1.0, SHAPE[-1]))
    return ours, theirs


def _inputs():
    return tf.constant(np.random.default_rng(0).normal(2.0, 3.0, SHAPE).astype("float32"))


def test_training_matches_keras_outputs_gradients_and_moving_statistics():
    ours, theirs = _pair()
    x = _inputs()
    weights = tf.range(SHAPE[-1], dtype="float32")
    grads = {}
    for layer in (ours, theirs):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * weights)
        grads[layer.name] = (y, *tape.gradient(loss, [x, layer.gamma, layer.beta]))
    for a, b in zip(grads["ours"], grads["theirs"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    # Moving statistics: the batch mean and the *biased* variance, as Keras tracks them.
    np.testing.assert_allclose(ours.moving_mean, theirs.moving_mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.moving_variance, theirs.moving_variance, rtol=1e-5)
    assert not np.allclose(ours.moving_variance, 1.0)  # they did move
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-5, atol=1e-5)  # inference


def _set_moving_statistics(*layers):
    """Non-trivial moving statistics (the built layer's are zeros and ones)."""
    for layer in layers:
        layer.moving_mean.assign(np.linspace(-1.5, 2.5, SHAPE[-1]))
        layer.moving_variance.assign(np.linspace(0.25, 9.0, SHAPE[-1]))


def _outputs_and_gradients(layer, x, training):
    weights = tf.range(1, SHAPE[-1] + 1, dtype="float32")
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        loss = tf.reduce_sum(tf.cast(y, "float32") * weights)
    return (y, *tape.gradient(loss, [x, *layer.trainable_weights]))


def test_inference_matches_keras_outputs_and_gradients():
    ours, theirs = _pair()
    _set_moving_statistics(ours, theirs)
    x = _inputs()
    ours_out, theirs_out = (_outputs_and_gradients(layer, x, False) for layer in (ours, theirs))
    for a, b in zip(ours_out, theirs_out, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _fused_batch_norms(layer, training):
    spec = tf.TensorSpec(SHAPE, "float32")
    graph = tf.function(lambda x: layer(x, training=training)).get_concrete_function(spec).graph
    return [op for op in graph.get_operations() if op.type == "FusedBatchNormV3"], {
        op.type for op in graph.get_operations()
    }


def test_training_and_inference_graphs_use_the_fused_kernel():
    """One FusedBatchNormV3 per call in both modes; in inference nothing else touches the
    activations (no separate multiply-add), so TensorFlow can fold it into the conv before."""
    layer = batch_norm("bn")
    layer.build(SHAPE)
    fused, _ = _fused_batch_norms(layer, True)
    assert [op.get_attr("is_training") for op in fused] == [True]
    fused, inference_op_types = _fused_batch_norms(layer, False)
    assert [op.get_attr("is_training") for op in fused] == [False]
    assert not {"Mul", "AddV2", "Sub", "Rsqrt"} & inference_op_types


def test_frozen_layer_uses_its_moving_statistics_in_training_mode():
    """Partial BN: a frozen layer normalizes with its moving statistics, leaves them alone and
    passes the input gradient as Keras's does, with Keras's ops (the fused kernel's
    inference-mode gradient measured slower)."""
    ours, theirs = _pair()
    _set_moving_statistics(ours, theirs)
    ours.trainable = theirs.trainable = False
    x = _inputs()
    (y_ours, dx_ours), (y_theirs, dx_theirs) = (
        _outputs_and_gradients(layer, x, True) for layer in (ours, theirs)
    )
    np.testing.assert_allclose(y_ours, y_theirs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx_ours, dx_theirs, rtol=1e-5, atol=1e-5)
    moving_mean = np.linspace(-1.5, 2.5, SHAPE[-1], dtype="float32")
    np.testing.assert_array_equal(ours.moving_mean, moving_mean)
    fused, _ = _fused_batch_norms(ours, True)
    assert fused == []
    fused, _ = _fused_batch_norms(ours, False)  # frozen, in inference: fused
    assert [op.get_attr("is_training") for op in fused] == [False]


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_keeps_float32_statistics(policy):
    ours, theirs = _pair(dtype=policy)
    x = _inputs()
    y_ours, y_theirs = ours(x, training=True), theirs(x, training=True)
    assert y_ours.dtype == y_theirs.dtype == keras.DTypePolicy(policy).compute_dtype
    assert ours.moving_mean.dtype == "float32"
    tolerance = 2e-2 if policy == "mixed_bfloat16" else 2e-3
    np.testing.assert_allclose(
        np.asarray(tf.cast(y_ours, "float32")),
        np.asarray(tf.cast(y_theirs, "float32")),
        atol=tolerance * 4,
        rtol=tolerance,
    )
    np.testing.assert_allclose(ours.moving_mean, theirs.moving_mean, rtol=tolerance, atol=1e-2)
    # Inference, on the moving statistics just updated.
    y_ours, y_theirs = ours(x, training=False), theirs(x, training=False)
    assert y_ours.dtype == y_theirs.dtype == keras.DTypePolicy(policy).compute_dtype
    np.testing.assert_allclose(
        np.asarray(tf.cast(y_ours, "float32")),
        np.asarray(tf.cast(y_theirs, "float32")),
        atol=tolerance * 4,
        rtol=tolerance,
    )


def test_other_shapes_fall_back_to_keras():
    ours = BatchNormalization(epsilon=BATCH_NORM_EPSILON)
    theirs = keras.layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON)
    x = tf.constant(np.random.default_rng(1).normal(size=(6, 3)).astype("float32"))
    np.testing.assert_allclose(ours(x, training=True), theirs(x, training=True), rtol=1e-6)


def test_serializes_as_a_registered_layer():
    layer = batch_norm("bn")
    config = keras.saving.serialize_keras_object(layer)
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is BatchNormalization
    assert restored.epsilon == layer.epsilon and restored.momentum == layer.momentum
