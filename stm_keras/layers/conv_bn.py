"""Conv and BN factories shared by the STM layers and model builders (one initialisation)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

BATCH_NORM_EPSILON = 1.001e-5  # keras.applications' ResNet value, so ImageNet features match
BATCH_NORM_MOMENTUM = 0.9  # PyTorch's 0.1, as the authors trained


def conv_initializer() -> keras.initializers.Initializer:
    """He-normal over fan-out, the torchvision ResNet initialisation of every conv."""
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="untruncated_normal"
    )


def pointwise_matmul(layer: keras.layers.Conv2D, inputs):
    """Runs a built, bias-free, stride-1 1x1 ``Conv2D`` as a matmul over the channels.

    Same result as ``layer(inputs)`` (``inputs`` already in the layer's compute dtype). For a
    conv with few input or output channels (CMM's C -> C/16 -> C) a matmul is cheaper: XLA on a
    GPU runs such a conv as a padded cuDNN convolution, and oneDNN's CPU convolution gradients
    cost more than a matmul's.
    """
    kernel = ops.cast(layer.kernel, inputs.dtype)
    return ops.matmul(inputs, kernel[0, 0])


def conv2d(
    filters: int,
    kernel_size: int,
    name: str,
    strides: int = 1,
    padding: str = "same",
    dtype: Any = None,
) -> keras.layers.Conv2D:
    """A bias-free Conv2D (a BN or a linear layer follows every one of ours)."""
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=False,
        kernel_initializer=conv_initializer(),
        name=name,
        dtype=dtype,
    )


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
    """

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


def batch_norm(name: str, dtype: Any = None) -> keras.layers.BatchNormalization:
    """A BatchNormalization with the package's epsilon and momentum (fused on TensorFlow)."""
    return BatchNormalization(
        epsilon=BATCH_NORM_EPSILON, momentum=BATCH_NORM_MOMENTUM, name=name, dtype=dtype
    )
