"""Conv, BN and max-pool layers shared by the STM layers and model builders (one initialisation)."""

from __future__ import annotations

import functools
from typing import Any

import keras
from keras import ops

from stm_keras.layers.channelwise_temporal_conv import compiled_by_xla

BATCH_NORM_EPSILON = 1.001e-5  # keras.applications' ResNet value, so ImageNet features match
BATCH_NORM_MOMENTUM = 0.9  # PyTorch's 0.1, as the authors trained


def conv_initializer() -> keras.initializers.Initializer:
    """He-normal over fan-out, the torchvision ResNet initialisation of every conv."""
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="untruncated_normal"
    )


def pointwise_matmul(layer: keras.layers.Conv2D, inputs):
    """Runs a built stride-1 1x1 ``Conv2D``'s kernel as a matmul over the channels (no bias).

    Same result as a bias-free ``layer(inputs)`` (``inputs`` already in its compute dtype). For a
    conv with few input or output channels (CMM's C -> C/16 -> C) a matmul is cheaper: XLA on a
    GPU runs such a conv as a padded cuDNN convolution, and oneDNN's CPU convolution gradients
    cost more than a matmul's.
    """
    kernel = ops.cast(layer.kernel, inputs.dtype)
    # A reshape, not kernel[0, 0]: a slice's gradient is a scatter into the kernel's shape,
    # one more op per conv in every TensorFlow train step.
    return ops.matmul(inputs, ops.reshape(kernel, kernel.shape[2:]))


@functools.cache
def _tensorflow_sees_a_gpu() -> bool:
    """Whether TensorFlow has a GPU device (fixed once TensorFlow has initialised)."""
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


@keras.saving.register_keras_serializable(package="stm_keras")
class Conv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` whose 1x1 stride-1 form runs as a matmul in CPU train steps.

    A 1x1 stride-1 conv over channels-last inputs is a matmul over the channels, and its
    gradients as two matmuls cost less than TensorFlow's convolution backprop ops on a CPU
    (oneDNN): with this path, the train step of STM-ResNet-50 (8 x 112², batch 2) took 3-5 %
    less time and TSN-ResNet-50's 2-6 % (`bench model --keras-ops`, two runs). So on the
    TensorFlow backend, outside XLA and on a host where TensorFlow sees no GPU (the path is
    not measured on GPUs), a call with ``training=True`` runs ``pointwise_matmul``. Inference
    keeps the convolution, which TensorFlow's graph optimizer fuses with the BN and ReLU after
    it (as matmuls, inference was 3-8 % slower); under XLA (JAX, or TF with ``jit_compile``)
    the compiler lowers a 1x1 conv to a matmul itself. Strided 1x1 convs stay convolutions
    (as a slice and a matmul, two of three shortcut projections' gradients were slower). The
    weights, config and results are Keras's (to float rounding).
    """

    # False (per layer or class): the convolution in training too, for A/B timing (`bench
    # model --keras-ops`); the results agree to rounding. Not part of the config.
    matmul_in_training = True

    def _as_matmul(self, training: Any) -> bool:
        return (
            self.matmul_in_training
            and keras.backend.backend() == "tensorflow"
            and bool(training)
            and not compiled_by_xla()
            and self.kernel_size == (1, 1)
            and self.strides == (1, 1)
            and self.dilation_rate == (1, 1)
            and self.groups == 1
            and self.data_format == "channels_last"
            and not _tensorflow_sees_a_gpu()
        )

    def call(self, inputs: Any, training: Any = None) -> Any:
        if not self._as_matmul(training):
            return super().call(inputs)
        outputs = pointwise_matmul(self, inputs)
        if self.use_bias:
            outputs = ops.add(outputs, ops.cast(self.bias, outputs.dtype))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs


def conv2d(
    filters: int,
    kernel_size: int,
    name: str,
    strides: int = 1,
    padding: str = "same",
    dtype: Any = None,
) -> keras.layers.Conv2D:
    """A bias-free ``Conv2D`` (a BN or a linear layer follows every one of ours)."""
    return Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=False,
        kernel_initializer=conv_initializer(),
        name=name,
        dtype=dtype,
    )


@functools.cache
def _jax_batch_norm_train_fn():
    """Builds the custom-VJP train-mode BN for JAX once (JAX is imported only when used)."""
    import jax
    import jax.numpy as jnp

    def layout(x):
        """The reduced axes (all but channels) and the count of values per channel."""
        return tuple(range(x.ndim - 1)), x.size // x.shape[-1]

    def statistics(x32):
        axes, count = layout(x32)
        # One read of the input for both sums (XLA fuses sibling reductions). The shift, a value
        # of the data per channel, keeps E[d^2] - E[d]^2 from cancelling when |mean| >> spread.
        shift = x32[(0,) * (x32.ndim - 1)]
        centred = x32 - shift
        mean_centred = jnp.sum(centred, axes) / count
        variance = jnp.maximum(jnp.sum(centred * centred, axes) / count - mean_centred**2, 0.0)
        return mean_centred + shift, variance

    @functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
    def batch_norm(x, gamma, beta, epsilon):
        return forward(x, gamma, beta, epsilon)[0]

    def forward(x, gamma, beta, epsilon):
        x32 = x.astype(jnp.float32)
        mean, variance = statistics(x32)
        inv = jax.lax.rsqrt(variance + epsilon)
        outputs = ((x32 - mean) * (inv * gamma) + beta).astype(x.dtype)
        # Saved for the gradients: the input in its own dtype (bf16 under mixed precision), not
        # a float32 copy, and per-channel vectors.
        return (outputs, mean, variance), (x, mean, inv, gamma)

    def backward(epsilon, saved, cotangents):
        x, mean, inv, gamma = saved
        d_outputs, d_mean, d_variance = cotangents
        x32 = x.astype(jnp.float32)
        axes, count = layout(x)
        dy = d_outputs.astype(jnp.float32)
        centred = x32 - mean
        normalized = centred * inv
        d_beta = jnp.sum(dy, axes)
        d_gamma = jnp.sum(dy * normalized, axes)  # one read of x and dy for both sums
        d_x = (gamma * inv / count) * (count * dy - d_beta - normalized * d_gamma)
        # The statistics are outputs too (for the moving averages): their own cotangents.
        d_x = d_x + (d_mean + 2.0 * d_variance * centred) / count
        return d_x.astype(x.dtype), d_gamma.astype(gamma.dtype), d_beta.astype(gamma.dtype)

    batch_norm.defvjp(forward, backward)
    return batch_norm


def jax_batch_norm_train(x: Any, gamma: Any, beta: Any, epsilon: float) -> tuple[Any, Any, Any]:
    """Train-mode batch norm over every axis but the last, on JAX, with a hand-written VJP.

    Returns ``(outputs, mean, variance)``: outputs in ``x``'s dtype, the batch mean and biased
    variance in float32 (statistics accumulate in float32 whatever ``x``'s dtype). Same function
    as Keras's BN in training, with fewer passes over memory: the statistics come from one read
    of ``x`` instead of two, the gradient pass keeps ``x`` (bf16 under mixed precision) rather
    than a float32 copy, and the input gradient is the closed form (two reductions, one
    element-wise pass) rather than the autodiff of mean, variance and normalization.
    """
    return _jax_batch_norm_train_fn()(x, gamma, beta, float(epsilon))


@keras.saving.register_keras_serializable(package="stm_keras")
class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` that runs TensorFlow's fused kernel.

    Keras 3 normalizes with separate ops on every backend (moments, then multiply-adds); on
    TensorFlow that is a dozen element-wise and reduction ops per layer forward and more
    backward, about a fifth of a ResNet-50 train step on a CPU. On the TensorFlow backend, over
    ``[N, H, W, C]`` inputs normalized on the last axis (every BN of this package), this layer
    runs ``FusedBatchNormV3`` instead (oneDNN on CPUs, cuDNN on GPUs):

    - in training, the batch's biased variance normalizes, and the moving statistics move by
      ``momentum`` towards the batch mean and biased variance, as in Keras;
    - in inference, the moving statistics normalize. One op instead of a multiply and an add
      lets TensorFlow's graph optimizer fold the BN (and a following ReLU) into the convolution
      before it: STM- and TSN-ResNet-50 inference on a CPU ran 5-9 % faster.

    A frozen layer (``trainable=False``, partial BN) in a train step, other backends, masks,
    renorm and synchronized BN get the Keras layer unchanged: the fused kernel's inference-mode
    gradient made a partial-BN train step of ResNet-50 on a CPU 4-7 % slower than Keras's
    multiply-add. The weights and config are the Keras layer's.

    On the JAX backend, a trainable layer in training (normalized on the last axis, no mask,
    renorm or synchronization) runs ``jax_batch_norm_train``: the same function with fewer
    memory passes forward and backward. Inference runs Keras's ops, which XLA fuses into one
    multiply-add.
    """

    # False (per layer or class): Keras's ops on JAX too, for A/B timing (`bench model
    # --keras-ops`); the results agree to rounding. Not part of the config.
    xla_kernels = True

    def _jax_train(self, inputs: Any, training: Any, mask: Any) -> bool:
        return (
            self.xla_kernels
            and keras.backend.backend() == "jax"
            and bool(training)
            and self.trainable
            and mask is None
            and keras.backend.standardize_dtype(inputs.dtype) in ("float16", "bfloat16", "float32")
            and self.axis in (-1, len(inputs.shape) - 1)
            and not self.renorm
            and not self.synchronized
        )

    def _fused(self, inputs: Any, mask: Any) -> bool:
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and not self.renorm
            and not self.synchronized
        )

    def call(self, inputs: Any, training: Any = None, mask: Any = None) -> Any:
        if self._jax_train(inputs, training, mask):
            return self._call_jax_train(inputs)
        frozen_in_training = training and not self.trainable
        if frozen_in_training or not self._fused(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        scale = tf.cast(self.gamma, "float32") if self.scale else tf.ones([channels])
        offset = tf.cast(self.beta, "float32") if self.center else tf.zeros([channels])
        if inputs.dtype not in (tf.float16, tf.bfloat16, tf.float32):
            inputs = tf.cast(inputs, "float32")
        if not training:
            outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
                inputs,
                scale,
                offset,
                mean=tf.cast(self.moving_mean, "float32"),
                variance=tf.cast(self.moving_variance, "float32"),
                epsilon=self.epsilon,
                data_format="NHWC",
                is_training=False,
            )
            return tf.cast(outputs, self.compute_dtype)
        # Statistics are accumulated in float32 whatever the input dtype.
        outputs, mean, unbiased_variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, scale, offset, epsilon=self.epsilon, data_format="NHWC", is_training=True
        )
        # The kernel returns the Bessel-corrected variance; Keras tracks the biased one.
        shape = tf.shape(inputs)
        count = tf.cast(shape[0] * shape[1] * shape[2], "float32")
        variance = unbiased_variance * (count - 1.0) / tf.maximum(count, 1.0)
        momentum = self.momentum
        self.moving_mean.assign(
            tf.cast(self.moving_mean, "float32") * momentum + mean * (1.0 - momentum)
        )
        self.moving_variance.assign(
            tf.cast(self.moving_variance, "float32") * momentum + variance * (1.0 - momentum)
        )
        return tf.cast(outputs, self.compute_dtype)

    def _call_jax_train(self, inputs: Any) -> Any:
        channels = inputs.shape[-1]
        gamma = ops.cast(self.gamma, "float32") if self.scale else ops.ones([channels])
        beta = ops.cast(self.beta, "float32") if self.center else ops.zeros([channels])
        outputs, mean, variance = jax_batch_norm_train(inputs, gamma, beta, self.epsilon)
        momentum = self.momentum
        moving_mean = ops.cast(self.moving_mean, "float32")
        moving_variance = ops.cast(self.moving_variance, "float32")
        self.moving_mean.assign(moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(moving_variance * momentum + variance * (1.0 - momentum))
        return ops.cast(outputs, self.compute_dtype)


def batch_norm(name: str, dtype: Any = None) -> keras.layers.BatchNormalization:
    """A BatchNormalization with the package's epsilon and momentum (fused on TensorFlow)."""
    return BatchNormalization(
        epsilon=BATCH_NORM_EPSILON, momentum=BATCH_NORM_MOMENTUM, name=name, dtype=dtype
    )


def max_pool_by_slices(inputs: Any, pool_size: int, strides: int) -> Any:
    """``"valid"`` max-pooling of ``[B, H, W, C]`` as the max of ``pool_size**2`` strided slices.

    Equal to ``MaxPooling2D(pool_size, strides)``. Under XLA the gradient becomes padded
    selects that fuse into one element-wise pass, where reduce-window's gradient is a
    select-and-scatter (a scatter kernel over the whole input on a GPU). Where a window holds
    tied maxima the gradient is shared among them instead of going to one.
    """
    height, width = inputs.shape[1], inputs.shape[2]
    out_height = (height - pool_size) // strides + 1
    out_width = (width - pool_size) // strides + 1
    out = None
    for i in range(pool_size):
        for j in range(pool_size):
            window = inputs[
                :,
                i : i + strides * (out_height - 1) + 1 : strides,
                j : j + strides * (out_width - 1) + 1 : strides,
            ]
            out = window if out is None else ops.maximum(out, window)
    return out


@keras.saving.register_keras_serializable(package="stm_keras")
class MaxPooling2D(keras.layers.MaxPooling2D):
    """``keras.layers.MaxPooling2D`` that, under XLA, runs ``max_pool_by_slices``.

    For channels-last inputs of known size whose ``"same"`` padding adds nothing (stride equal
    to the pool size, sides divisible by it) or with ``"valid"`` padding: STM-ResNet's stem
    pool and CMM's pool in strided blocks. Other cases, and TensorFlow outside XLA, run the
    Keras layer. Same weights-free config as the Keras layer.
    """

    # False (per layer or class): Keras's reduce-window under XLA too, for A/B timing (`bench
    # model --keras-ops`); the outputs are equal. Not part of the config.
    xla_kernels = True

    def _by_slices(self, inputs: Any) -> bool:
        from stm_keras.layers.channelwise_temporal_conv import compiled_by_xla

        (pool_height, pool_width), (stride_height, stride_width) = self.pool_size, self.strides
        if not (self.xla_kernels and compiled_by_xla()):
            return False
        if self.data_format != "channels_last" or len(inputs.shape) != 4:
            return False
        if pool_height != pool_width or stride_height != stride_width:
            return False
        height, width = inputs.shape[1], inputs.shape[2]
        if height is None or width is None or min(height, width) < pool_height:
            return False
        if self.padding == "valid":
            return True
        return (
            pool_height == stride_height and height % pool_height == 0 and width % pool_width == 0
        )

    def call(self, inputs: Any) -> Any:
        if self._by_slices(inputs):
            return max_pool_by_slices(inputs, self.pool_size[0], self.strides[0])
        return super().call(inputs)
