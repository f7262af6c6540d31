"""The layers' XLA paths: the train-mode BN kernel on JAX and max-pooling by slices.

Each is checked against Keras's own layer on the same inputs and weights: outputs, gradients
and moving statistics. The JAX checks run in a fresh interpreter on the JAX backend.
"""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from stm_keras.layers.conv_bn import MaxPooling2D, max_pool_by_slices

JAX_BATCH_NORM = textwrap.dedent(
    """
    import jax
    import keras
    import numpy as np
    from keras import ops
    from stm_keras.layers.conv_bn import batch_norm, jax_batch_norm_train

    def rel(a, b):
        a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
        return float(np.linalg.norm(a - b) / np.linalg.norm(b))

    def train_step(bn, x, w):
        # Outputs, moving statistics after one training call, and the gradients of a loss
        # with respect to gamma, beta and the inputs, from a jitted stateless call.
        tv = [v.value for v in bn.trainable_variables]
        ntv = [v.value for v in bn.non_trainable_variables]

        def loss(tv, x):
            out, new_ntv = bn.stateless_call(tv, ntv, x, training=True)
            return ops.sum(ops.cast(out, "float32") * w), (out, new_ntv)

        grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))
        (_, (out, new_ntv)), (d_weights, d_x) = grad(tv, x)
        text = str(jax.make_jaxpr(lambda tv, x: loss(tv, x)[0])(tv, x))
        return out, new_ntv, [*d_weights, d_x], "custom_vjp_call" in text

    rng = np.random.default_rng(0)
    for policy, shape, tolerance in [
        ("float32", (6, 5, 5, 8), 1e-5),
        ("float32", (12, 8), 1e-5),
        ("mixed_bfloat16", (16, 7, 7, 32), 2e-3),
    ]:
        keras.config.set_dtype_policy(policy)
        x = (rng.normal(2.0, 3.0, shape) + np.linspace(0, 1, shape[-1])).astype("float32")
        w = rng.normal(size=shape).astype("float32")
        results = []
        for kernel in (True, False):
            bn = batch_norm("bn")
            bn.build(shape)
            bn.xla_kernels = kernel
            bn.gamma.assign(np.linspace(0.5, 1.5, shape[-1]))
            bn.beta.assign(np.linspace(-1.0, 1.0, shape[-1]))
            inputs = jax.numpy.asarray(x, dtype=bn.compute_dtype)
            results.append(train_step(bn, inputs, w))
        (out, stats, grads, custom), (ref_out, ref_stats, ref_grads, ref_custom) = results
        assert custom and not ref_custom, (custom, ref_custom)  # each took its own path
        assert out.dtype == ref_out.dtype == keras.DTypePolicy(policy).compute_dtype
        assert rel(out, ref_out) < tolerance, (policy, rel(out, ref_out))
        for a, b in zip(stats, ref_stats):
            assert rel(a, b) < 1e-5, (policy, rel(a, b))
        for name, a, b in zip(("gamma", "beta", "x"), grads, ref_grads):
            assert rel(a, b) < tolerance, (policy, name, rel(a, b))
    keras.config.set_dtype_policy("float32")

    # A mean far from 0 against its spread, where one-pass statistics without a shift cancel:
    # still within float32 rounding of the exact (float64) normalization.
    x = (rng.normal(300.0, 0.5, (6, 5, 5, 8)) + np.linspace(0, 1, 8)).astype("float32")
    exact = x.astype("float64")
    mean, variance = exact.mean((0, 1, 2)), exact.var((0, 1, 2))
    out, batch_mean, batch_variance = jax_batch_norm_train(
        jax.numpy.asarray(x), jax.numpy.ones(8), jax.numpy.zeros(8), 1e-3
    )
    assert rel(out, (exact - mean) / np.sqrt(variance + 1e-3)) < 5e-5
    assert rel(batch_mean, mean) < 1e-6 and rel(batch_variance, variance) < 1e-5

    # The statistics are outputs with gradients of their own.
    x = jax.numpy.asarray(rng.normal(2.0, 3.0, (4, 3, 3, 5)).astype("float32"))
    a, b = np.linspace(-1, 1, 5), np.linspace(0.5, 1.5, 5)
    gamma, beta = jax.numpy.ones(5), jax.numpy.zeros(5)

    def of_statistics(x):
        _, mean, variance = jax_batch_norm_train(x, gamma, beta, 1e-3)
        return jax.numpy.sum(a * mean + b * variance)

    def exact(x):
        return jax.numpy.sum(a * x.mean((0, 1, 2)) + b * x.var((0, 1, 2)))

    assert rel(jax.grad(of_statistics)(x), jax.grad(exact)(x)) < 1e-5

    # A frozen layer (partial BN) in training normalizes with its moving statistics: Keras's.
    bn = batch_norm("frozen")
    bn.build((4, 3, 3, 5))
    bn.trainable = False
    bn.moving_mean.assign(np.full(5, 2.0))
    out = bn(x, training=True)
    expected = (np.asarray(x) - 2.0) / np.sqrt(1.0 + bn.epsilon)
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    print("BN-KERNEL-OK")
    """
)

JAX_MAX_POOL = textwrap.dedent(
    """
    import jax
    import keras
    import numpy as np
    from stm_keras.layers.conv_bn import MaxPooling2D

    rng = np.random.default_rng(0)
    cases = [  # pool, strides, padding, input shape, pooled by slices
        (3, 2, "valid", (2, 114, 114, 4), True),  # the stem's pool after its 1-pixel padding
        (2, 2, "same", (3, 56, 28, 5), True),  # CMM's pool in a strided block
        (2, 2, "same", (3, 7, 7, 5), False),  # odd sides: "same" pads, Keras's layer runs
        (3, 2, "valid", (1, 9, 8, 3), True),
    ]
    for pool, strides, padding, shape, sliced in cases:
        # A permutation: no ties, so the gradient goes to the same element in both.
        x = jax.numpy.asarray(rng.permutation(np.prod(shape)).reshape(shape).astype("float32"))
        ours = MaxPooling2D(pool, strides=strides, padding=padding)
        keras_layer = keras.layers.MaxPooling2D(pool, strides=strides, padding=padding)
        w = rng.normal(size=keras_layer.compute_output_shape(shape)).astype("float32")

        def loss(layer):
            return lambda x: (layer(x) * w).sum()

        assert ours._by_slices(x) == sliced, (shape, padding)
        np.testing.assert_array_equal(ours(x), keras_layer(x))
        np.testing.assert_array_equal(jax.grad(loss(ours))(x), jax.grad(loss(keras_layer))(x))
        hlo = jax.jit(jax.grad(loss(ours))).lower(x).as_text()
        assert ("select_and_scatter" in hlo) != sliced, (shape, padding)
        ours.xla_kernels = False
        assert not ours._by_slices(x)
    print("MAX-POOL-OK")
    """
)


JAX_TRAINING = textwrap.dedent(
    """
    import keras
    import numpy as np
    from stm_keras.benchmarks.model import use_keras_ops
    from stm_keras.models import STMBackbone, STMVideoClassifier

    def build():
        keras.utils.set_random_seed(0)
        backbone = STMBackbone(18, num_segments=2, width_multiplier=0.25, image_size=32)
        model = STMVideoClassifier(backbone, 3)
        model.compile(
            optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[],
            jit_compile=True,
        )
        return model

    rng = np.random.default_rng(0)
    clips = rng.normal(size=(4, 2, 32, 32, 3)).astype("float32")
    labels = np.array([0, 1, 2, 0])
    fast, reference = build(), build()
    assert use_keras_ops(reference) > 0
    for a, b in zip(fast.weights, reference.weights, strict=True):
        np.testing.assert_array_equal(a, b)
    losses = []
    for model in (fast, reference):
        losses.append([float(model.train_on_batch(clips, labels)) for _ in range(6)])
    # The same training run: losses, then inference on the moving statistics it left.
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)
    assert losses[0][-1] < losses[0][0]
    np.testing.assert_allclose(
        fast.predict_on_batch(clips), reference.predict_on_batch(clips), rtol=1e-3, atol=1e-4
    )
    print("TRAINING-OK")
    """
)


def _run_on_jax(script: str, marker: str) -> None:
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert marker in result.stdout


def test_jax_train_mode_batch_norm_matches_keras():
    _run_on_jax(JAX_BATCH_NORM, "BN-KERNEL-OK")


def test_jax_training_with_the_xla_paths_follows_keras_ops():
    # A whole STM-ResNet's train steps with the paths on and off, from the same weights.
    _run_on_jax(JAX_TRAINING, "TRAINING-OK")


def test_jax_max_pooling_by_slices_matches_keras():
    _run_on_jax(JAX_MAX_POOL, "MAX-POOL-OK")


@pytest.mark.parametrize(
    ("pool", "strides", "padding", "shape"),
    [(3, 2, "valid", (2, 10, 12, 3)), (2, 2, "same", (2, 8, 6, 3)), (2, 2, "same", (1, 5, 7, 2))],
)
def test_max_pooling_matches_keras_on_tensorflow_with_and_without_xla(
    pool, strides, padding, shape
):
    rng = np.random.default_rng(1)
    x = tf.constant(rng.permutation(np.prod(shape)).reshape(shape).astype("float32"))
    ours = MaxPooling2D(pool, strides=strides, padding=padding)
    keras_layer = keras.layers.MaxPooling2D(pool, strides=strides, padding=padding)
    w = tf.constant(rng.normal(size=keras_layer.compute_output_shape(shape)).astype("float32"))

    def value_and_grad(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = layer(x)
            loss = tf.reduce_sum(out * w)
        return out, tape.gradient(loss, x)

    expected = value_and_grad(keras_layer)
    for run in (value_and_grad, tf.function(value_and_grad, jit_compile=True)):
        out, grad = run(ours)
        np.testing.assert_array_equal(out, expected[0])
        np.testing.assert_array_equal(grad, expected[1])


def test_max_pool_by_slices_is_valid_pooling():
    x = np.arange(2 * 7 * 6 * 1, dtype="float32").reshape(2, 7, 6, 1)
    out = np.asarray(max_pool_by_slices(tf.constant(x), 3, 2))
    assert out.shape == (2, 3, 2, 1)
    # Values grow along rows and columns: each window's max is its bottom-right element.
    np.testing.assert_array_equal(out, x[:, 2::2, 2::2][:, :3, :2])


def test_max_pooling_is_a_registered_layer():
    layer = MaxPooling2D(2, strides=2, padding="same", name="pool")
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(restored) is MaxPooling2D
    assert restored.get_config() == layer.get_config()
