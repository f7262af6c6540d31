"""The package's Conv2D: Keras's conv, with 1x1 stride-1 train steps as matmuls on TensorFlow."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from stm_keras.layers.conv_bn import Conv2D, conv2d

SHAPE = (3, 5, 6, 8)


def _inputs(shape=SHAPE):
    return tf.constant(np.random.default_rng(0).normal(size=shape).astype("float32"))


def _op_types(layer, training, jit_compile=False):
    spec = tf.TensorSpec(SHAPE, "float32")
    function = tf.function(lambda x: layer(x, training=training), jit_compile=jit_compile)
    return {op.type for op in function.get_concrete_function(spec).graph.get_operations()}


def _outputs_and_gradients(layer, x, training):
    weights = tf.range(1, layer.filters + 1, dtype="float32")
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        loss = tf.reduce_sum(tf.square(y) * weights)
    variables = [layer.kernel] + ([layer.bias] if layer.use_bias else [])
    return [y, *tape.gradient(loss, [x, *variables])]


@pytest.mark.parametrize("use_bias", [False, True])
def test_pointwise_training_matches_the_convolution(use_bias):
    layer = Conv2D(4, 1, use_bias=use_bias, activation="relu", bias_initializer="ones")
    layer.build(SHAPE)
    x = _inputs()
    as_matmul = _outputs_and_gradients(layer, x, training=True)
    layer.matmul_in_training = False
    as_conv = _outputs_and_gradients(layer, x, training=True)
    for a, b in zip(as_matmul, as_conv, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # The ReLU and (with use_bias) the bias were applied.
    assert np.min(as_matmul[0]) == 0.0 and np.max(as_matmul[0]) > 0.0
    np.testing.assert_allclose(as_matmul[0], layer(x), rtol=1e-5, atol=1e-5)


def test_pointwise_train_steps_run_a_matmul_and_inference_the_convolution():
    layer = conv2d(4, 1, "pointwise")
    layer.build(SHAPE)
    training = _op_types(layer, training=True)
    assert "MatMul" in training and "Conv2D" not in training
    assert "Conv2D" in _op_types(layer, training=False)
    assert "Conv2D" in _op_types(layer, training=None)
    # Under XLA the compiler lowers the conv itself: the layer leaves it alone.
    assert "Conv2D" in _op_types(layer, training=True, jit_compile=True)
    layer.matmul_in_training = False
    assert "Conv2D" in _op_types(layer, training=True)


@pytest.mark.parametrize(
    "kwargs",
    [{"kernel_size": 3}, {"kernel_size": 1, "strides": 2}, {"kernel_size": 1, "dilation_rate": 2}],
)
def test_other_convs_stay_convolutions_in_training(kwargs):
    layer = Conv2D(4, padding="same", **kwargs)
    layer.build(SHAPE)
    assert "Conv2D" in _op_types(layer, training=True)


def test_model_train_steps_reach_the_layer_with_training_set():
    """In a Functional model, fit's training=True reaches the conv (Keras passes it on)."""
    inputs = keras.Input(SHAPE[1:])
    layer = conv2d(4, 1, "pointwise")
    model = keras.Model(inputs, layer(inputs))
    assert "MatMul" in _op_types(model, training=True)
    assert "MatMul" not in _op_types(model, training=False)


def test_serializes_as_a_registered_layer():
    layer = conv2d(4, 1, "pointwise")
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(clone) is Conv2D
    assert clone.get_config() == layer.get_config()
    assert isinstance(clone, keras.layers.Conv2D)


def test_hosts_with_a_gpu_keep_the_convolution(monkeypatch):
    """The matmul path is measured on CPUs only; where TensorFlow sees a GPU, nothing changes."""
    from stm_keras.layers import conv_bn

    layer = conv2d(4, 1, "pointwise")
    layer.build(SHAPE)
    monkeypatch.setattr(conv_bn, "_tensorflow_sees_a_gpu", lambda: True)
    assert "Conv2D" in _op_types(layer, training=True)
    monkeypatch.setattr(conv_bn, "_tensorflow_sees_a_gpu", lambda: False)
    assert "MatMul" in _op_types(layer, training=True)
