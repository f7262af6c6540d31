"""CMM: harness checks and the motion it computes against a numpy reference."""

import numpy as np
import pytest
import tensorflow as tf
from layer_harness import run_layer_test

from stm_keras.layers import CMM

FRAMES = 3
CLIPS = 2


def _features(size: int = 6, channels: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(CLIPS * FRAMES, size, size, channels)).astype("float32")


@pytest.mark.parametrize(("strides", "size", "out_size"), [(1, 6, 6), (2, 6, 3), (2, 5, 3)])
def test_layer_harness(strides, size, out_size, tmp_path):
    run_layer_test(
        CMM,
        {"num_segments": FRAMES, "filters": 12, "reduction": 16, "strides": strides},
        _features(size),
        (CLIPS * FRAMES, out_size, out_size, 12),
        tmp_path,
        expected_num_trainable_weights=5,  # reduce conv, BN gamma/beta, depthwise, expand
    )


def _depthwise_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros_like(x, dtype="float64")
    for i in range(3):
        for j in range(3):
            out += padded[:, i : i + x.shape[1], j : j + x.shape[2]] * kernel[i, j, :, 0]
    return out


def test_motion_is_next_frame_filtered_minus_current_frame():
    x = _features()
    layer = CMM(FRAMES, filters=12)
    y = np.asarray(layer(x, training=False))
    reduce_kernel = np.asarray(layer.reduce_conv.kernel)[0, 0]
    bn = layer.reduce_bn
    scale = np.asarray(bn.gamma) / np.sqrt(np.asarray(bn.moving_variance) + bn.epsilon)
    reduced = (x @ reduce_kernel - np.asarray(bn.moving_mean)) * scale + np.asarray(bn.beta)
    filtered = _depthwise_same(reduced, np.asarray(layer.motion_conv.kernel))
    clips_r = reduced.reshape(CLIPS, FRAMES, 6, 6, -1)
    clips_f = filtered.reshape(CLIPS, FRAMES, 6, 6, -1)
    motion = np.zeros_like(clips_r)
    motion[:, :-1] = clips_f[:, 1:] - clips_r[:, :-1]
    expected = motion.reshape(x.shape[:-1] + (-1,)) @ np.asarray(layer.expand_conv.kernel)[0, 0]
    np.testing.assert_allclose(y, expected, atol=1e-4)
    # The last frame of every clip has no successor: its motion map is zero.
    np.testing.assert_array_equal(y.reshape(CLIPS, FRAMES, 6, 6, 12)[:, -1], 0.0)


def test_strided_output_is_max_pooled_unstrided_output():
    x = _features()
    strided = CMM(FRAMES, filters=12, strides=2)
    plain = CMM(FRAMES, filters=12)
    plain.build(x.shape)
    strided.build(x.shape)
    for target, source in zip(strided.weights, plain.weights, strict=True):
        target.assign(source)
    full = np.asarray(plain(x, training=False)).reshape(CLIPS * FRAMES, 3, 2, 3, 2, 12)
    np.testing.assert_allclose(
        np.asarray(strided(x, training=False)), full.max(axis=(2, 4)), atol=1e-6
    )


def test_xla_path_matches_the_convolutions():
    x = _features(seed=2)
    layer = CMM(FRAMES, filters=12, strides=2)
    layer.build(x.shape)
    kernel = np.random.default_rng(3).normal(size=layer.motion_conv.kernel.shape)
    layer.motion_conv.kernel.assign(kernel.astype("float32"))
    compiled = tf.function(lambda x: layer(x, training=False), jit_compile=True)
    np.testing.assert_allclose(
        np.asarray(compiled(x)), np.asarray(layer(x, training=False)), atol=1e-4
    )


def test_rejects_bad_stride():
    with pytest.raises(ValueError, match="strides"):
        CMM(FRAMES, strides=3)


def test_xla_path_runs_the_pointwise_convs_as_matmuls_with_the_same_gradients():
    # CMM's 1x1 convs (C -> C/r -> filters) are matmuls (on a GPU, XLA runs a conv with so few
    # channels padded in cuDNN). Under XLA the depthwise 3x3 is slices too: same function, same
    # gradients as the conv layers outside XLA, and no convolution left in the graph.
    x = tf.constant(_features(seed=4))
    layer = CMM(FRAMES, filters=12, reduction=2)
    layer.build(x.shape)

    def loss_and_grads(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_sum(tf.sin(layer(inputs, training=True)))
        return loss, tape.gradient(loss, [inputs, *layer.trainable_variables])

    compiled = tf.function(loss_and_grads, jit_compile=True)
    want_loss, want_grads = loss_and_grads(x)
    got_loss, got_grads = compiled(x)
    np.testing.assert_allclose(got_loss, want_loss, rtol=1e-4)
    for got, want in zip(got_grads, want_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
    ops = {op.type for op in compiled.get_concrete_function(x).graph.get_operations()}
    assert not ops & {"Conv2D", "DepthwiseConv2dNative"}, ops
    # Outside XLA the depthwise convs stay (TF's CPU slices are slower), the 1x1s do not.
    ops = {
        op.type
        for op in tf.function(loss_and_grads).get_concrete_function(x).graph.get_operations()
    }
    assert "DepthwiseConv2dNative" in ops and "Conv2D" not in ops, ops


def test_pointwise_matmul_is_the_layers_conv():
    from stm_keras.layers.conv_bn import conv2d, pointwise_matmul

    x = _features(seed=5)
    conv = conv2d(7, 1, "pointwise")
    want = conv(x)
    np.testing.assert_allclose(pointwise_matmul(conv, tf.constant(x)), want, atol=1e-5)


def test_tensorflow_train_graph_shifts_frames_by_a_roll_and_slices_no_kernel():
    """In a TF train step the next frame is a Roll (not a second depthwise conv), and the 1x1
    kernels are reshaped, not sliced (a slice's gradient is a scatter op per conv)."""
    layer = CMM(FRAMES, filters=12)
    layer.build((None, 6, 6, 32))
    spec = tf.TensorSpec((CLIPS * FRAMES, 6, 6, 32), "float32")

    def train_step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, training=True))
        return tape.gradient(loss, layer.trainable_weights)

    operations = tf.function(train_step).get_concrete_function(spec).graph.get_operations()
    op_types = [op.type for op in operations]
    assert op_types.count("DepthwiseConv2dNative") == 1  # the motion 3x3 only
    assert "Roll" in op_types
    assert "StridedSliceGrad" not in op_types
    # (The BN slices its input's integer shape; no float tensor is sliced.)
    sliced = [op for op in operations if op.type == "StridedSlice"]
    assert not [op for op in sliced if op.inputs[0].dtype.is_floating]


def test_inference_graph_has_no_roll():
    """LiteRT has no builtin Roll: inference (what every export traces) keeps the conv shift."""
    layer = CMM(FRAMES, filters=12)
    layer.build((None, 6, 6, 32))
    spec = tf.TensorSpec((CLIPS * FRAMES, 6, 6, 32), "float32")
    function = tf.function(lambda x: layer(x, training=False))
    op_types = [op.type for op in function.get_concrete_function(spec).graph.get_operations()]
    assert "Roll" not in op_types
    assert op_types.count("DepthwiseConv2dNative") == 2  # the motion 3x3 and the shift
