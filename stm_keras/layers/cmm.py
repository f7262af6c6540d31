"""CMM, STM's channel-wise motion module: feature-level motion between adjacent frames."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from stm_keras.layers.channelwise_temporal_conv import compiled_by_xla, temporal_convolution
from stm_keras.layers.conv_bn import MaxPooling2D, batch_norm, conv2d, pointwise_matmul


def depthwise_conv3x3_by_slices(inputs, kernel):
    """``"same"``-padded depthwise 3x3 conv of ``[B, H, W, C]`` as nine shifted multiply-adds.

    Equal to ``DepthwiseConv2D(3, padding="same")`` with ``kernel`` ``(3, 3, C, 1)``. XLA fuses
    it into one pass over the (channel-reduced, small) tensor, while XLA's grouped convolution
    and its gradients are several times slower on GPU and CPU.
    """
    shape = ops.shape(inputs)
    padded = ops.pad(inputs, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = None
    for i in range(3):
        for j in range(3):
            term = padded[:, i : i + shape[1], j : j + shape[2]] * kernel[i, j, :, 0]
            out = term if out is None else out + term
    return out


def next_frame_motion(filtered, reduced, num_segments: int, roll: bool = False):
    """``filtered[t+1] - reduced[t]`` per clip of ``[N*T, H, W, C]`` features; 0 at ``t = T-1``.

    The next frame comes from a temporal kernel ``[0, 0, 1]`` (shifted slices that XLA fuses;
    a depthwise conv outside XLA), or with ``roll`` from a roll over the frames: one copy
    forward and backward, cheaper than the depthwise conv's gradient in a TensorFlow train
    step, but not a LiteRT builtin op, so inference keeps the conv.
    """
    channels = reduced.shape[-1]
    shape = ops.shape(reduced)
    view = (-1, num_segments, shape[1] * shape[2] * channels)  # [N, T, H*W*C]
    if roll:
        # The last frame wraps around to the first; the mask below zeroes it.
        following = ops.roll(ops.reshape(filtered, view), -1, axis=1)
    else:
        next_frame = np.zeros((3, channels), dtype="float32")
        next_frame[2] = 1.0
        kernel = ops.cast(next_frame, reduced.dtype)
        following = ops.reshape(temporal_convolution(filtered, kernel, num_segments), view)
    has_next = np.ones((1, num_segments, 1), dtype="float32")
    has_next[0, -1] = 0.0
    motion = (following - ops.reshape(reduced, view)) * ops.cast(has_next, reduced.dtype)
    return ops.reshape(motion, shape)


@keras.saving.register_keras_serializable(package="stm_keras")
class CMM(keras.layers.Layer):
    """Channel-wise motion module on frame-batched ``[N*T, H, W, C]`` features.

    ```
    x ─ 1x1 conv (C -> C/r) ─ BN ─┬─ depthwise 3x3 ─ frame t+1 ─┐
                                  └──────────────── frame t ────┴─ minus ─ T-1 maps
      ─ zero map appended for the last frame ─ 1x1 conv (-> filters) ─ [2x2 max-pool if strided]
    ```

    For every ``t < T-1``: ``motion[t] = depthwise(r[t+1]) - r[t]`` with ``r`` the reduced
    features; ``motion[T-1] = 0``. As in the authors' code there is no BN after the expand conv,
    and with ``strides=2`` the output is max-pooled 2x2 (``"same"`` padding, so odd sizes round
    up exactly as a padded stride-2 3x3 conv does) to add onto a strided CSTM path. The two 1x1
    convs run as matmuls over the channels (``pointwise_matmul``), and under XLA the depthwise
    3x3 and the frame shift run as fused shifted slices (``depthwise_conv3x3_by_slices``),
    in TensorFlow train steps the frame shift as a roll over the frames
    (``next_frame_motion``): the same function with the same weights.

    Args:
        num_segments: int. Frames per clip ``T``.
        filters: int. Output channels. Defaults to the input channels.
        reduction: int. Channel reduction ``r`` of the first 1x1 conv (at least one channel is
            kept). Defaults to 16.
        strides: int. 1, or 2 to halve the spatial size of the output. Defaults to 1.
        **kwargs: Standard layer arguments (``name``, ``dtype``, ...).
    """

    def __init__(
        self,
        num_segments: int,
        filters: int | None = None,
        reduction: int = 16,
        strides: int = 1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_segments) < 1:
            raise ValueError(f"num_segments must be >= 1, got {num_segments}")
        if strides not in (1, 2):
            raise ValueError(f"strides must be 1 or 2, got {strides}")
        self.num_segments = int(num_segments)
        self.filters = filters
        self.reduction = int(reduction)
        self.strides = int(strides)

    def build(self, input_shape):
        channels = input_shape[-1]
        reduced = max(1, channels // self.reduction)
        filters = self.filters or channels
        self.reduce_conv = conv2d(reduced, 1, name="reduce_conv", dtype=self.dtype_policy)
        self.reduce_bn = batch_norm(name="reduce_bn", dtype=self.dtype_policy)
        self.motion_conv = keras.layers.DepthwiseConv2D(
            3,
            padding="same",
            use_bias=False,
            depthwise_initializer=self.reduce_conv.kernel_initializer,
            name="motion_conv",
            dtype=self.dtype_policy,
        )
        self.expand_conv = conv2d(filters, 1, name="expand_conv", dtype=self.dtype_policy)
        self.reduce_conv.build(input_shape)
        reduced_shape = tuple(input_shape[:-1]) + (reduced,)
        self.reduce_bn.build(reduced_shape)
        self.motion_conv.build(reduced_shape)
        self.expand_conv.build(reduced_shape)
        self.pool = None
        if self.strides == 2:
            self.pool = MaxPooling2D(
                2, strides=2, padding="same", name="pool", dtype=self.dtype_policy
            )

    def call(self, inputs, training=None):
        reduced = self.reduce_bn(pointwise_matmul(self.reduce_conv, inputs), training=training)
        xla = compiled_by_xla()
        if xla:
            kernel = ops.cast(self.motion_conv.kernel, reduced.dtype)
            filtered = depthwise_conv3x3_by_slices(reduced, kernel)
        else:
            filtered = self.motion_conv(reduced)
        # TensorFlow train steps (outside XLA) shift the frames by a roll.
        roll = not xla and bool(training)
        motion = next_frame_motion(filtered, reduced, self.num_segments, roll=roll)
        out = pointwise_matmul(self.expand_conv, motion)
        if self.pool is not None:
            out = self.pool(out)
        return out

    def compute_output_shape(self, input_shape):
        filters = self.filters or input_shape[-1]
        height, width = input_shape[1], input_shape[2]
        if self.strides == 2:
            height = None if height is None else (height + 1) // 2
            width = None if width is None else (width + 1) // 2
        return (input_shape[0], height, width, filters)

    def multiply_adds(self, input_shape: tuple) -> int:
        """Multiply-adds of one call on ``input_shape`` (batch included): the three convs."""
        channels = input_shape[-1]
        reduced = max(1, channels // self.reduction)
        pixels = int(np.prod(input_shape[:-1]))
        filters = self.filters or channels
        return pixels * (channels * reduced + 9 * reduced + reduced * filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_segments": self.num_segments,
                "filters": self.filters,
                "reduction": self.reduction,
                "strides": self.strides,
            }
        )
        return config
