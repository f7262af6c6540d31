"""CSTM's temporal part: a kernel-3 1-D convolution over the frames of a frame-batched tensor."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

TEMPORAL_INITS = ("shift", "identity")
TEMPORAL_MODES = ("channelwise", "full")
IMPLEMENTATIONS = ("auto", "slice", "conv")
KERNEL_SIZE = 3


def compiled_by_xla() -> bool:
    """Whether the ops being traced will be compiled by XLA (JAX always; TF under jit_compile)."""
    backend = keras.backend.backend()
    if backend == "jax":
        return True
    if backend != "tensorflow":
        return False
    try:
        import tensorflow as tf
        from tensorflow.python.ops import control_flow_util

        return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))
    except (ImportError, AttributeError):
        return False


def temporal_kernel_init(channels: int, temporal_init: str) -> np.ndarray:
    """Returns the paper's initial channel-wise temporal kernel, shape ``(3, channels)``.

    Tap ``k`` of channel ``c`` weighs frame ``t - 1 + k`` in output frame ``t``.
    ``"shift"``: the first quarter of the channels is ``[1, 0, 0]`` (takes frame t-1), the last
    quarter ``[0, 0, 1]`` (takes frame t+1), the middle half ``[0, 1, 0]`` (identity), i.e. TSM's
    bidirectional shift. ``"identity"``: every channel ``[0, 1, 0]``.
    """
    if temporal_init not in TEMPORAL_INITS:
        raise ValueError(f"temporal_init must be one of {TEMPORAL_INITS}, got {temporal_init!r}")
    kernel = np.zeros((KERNEL_SIZE, channels), dtype="float32")
    kernel[1] = 1.0
    if temporal_init == "shift":
        fold = channels // 4
        if fold:
            kernel[:, :fold] = [[1.0], [0.0], [0.0]]
            kernel[:, channels - fold :] = [[0.0], [0.0], [1.0]]
    return kernel


def temporal_convolution(inputs, kernel, num_segments: int, implementation: str = "auto"):
    """Kernel-3 zero-padded convolution over the frames of ``[N*T, H, W, C]`` ``inputs``.

    ``out[t] = sum_k x[t-1+k] * kernel[k]`` within each clip, with ``kernel`` of shape
    ``(3, C)`` (channel-wise) or ``(3, C, D)`` (all channels to ``D``); see
    ``ChannelwiseTemporalConv`` for the two implementations.
    """
    shape = ops.shape(inputs)
    channelwise = len(kernel.shape) == 2
    if implementation == "auto":
        implementation = "slice" if compiled_by_xla() else "conv"
    if implementation == "conv":
        # [N, T, H*W, C] is a (T x H*W) image per clip; a 3x1 kernel convolves over T only.
        x = ops.reshape(inputs, (-1, num_segments, shape[1] * shape[2], shape[3]))
        if channelwise:
            out = ops.depthwise_conv(x, ops.expand_dims(kernel, (1, 3)), padding="same")
        else:
            out = ops.conv(x, ops.expand_dims(kernel, 1), padding="same")
        return ops.reshape(out, (-1, shape[1], shape[2], out.shape[-1]))
    x = ops.reshape(inputs, (-1, num_segments, shape[1], shape[2], shape[3]))
    x = ops.pad(x, ((0, 0), (1, 1), (0, 0), (0, 0), (0, 0)))
    previous, current, following = x[:, :-2], x[:, 1:-1], x[:, 2:]
    if channelwise:
        out = previous * kernel[0] + current * kernel[1] + following * kernel[2]
    else:
        out = (
            ops.matmul(previous, kernel[0])
            + ops.matmul(current, kernel[1])
            + ops.matmul(following, kernel[2])
        )
    return ops.reshape(out, (-1, shape[1], shape[2], out.shape[-1]))


@keras.saving.register_keras_serializable(package="stm_keras")
class ChannelwiseTemporalConv(keras.layers.Layer):
    """Kernel-3 temporal convolution over the frames of ``[N*T, H, W, C]`` features.

    The input holds ``N`` clips of ``T = num_segments`` frames folded into the batch. The layer
    views it as ``[N, T, H, W, C]``, zero-pads ``T`` by one frame on each side, and computes

        out[t] = k[0] * x[t-1] + k[1] * x[t] + k[2] * x[t+1]

    with three multiply-adds per element and no transposes. Convention: ``k[0]`` weighs
    the previous frame, so a channel with kernel ``[1, 0, 0]`` copies frame ``t-1`` into output
    frame ``t`` (frame 0 receives zeros); this is the cross-correlation of PyTorch's ``Conv1d``
    with ``padding=1``.

    Two equal implementations: ``"slice"`` zero-pads ``T`` and adds the three shifted slices
    (XLA fuses it into one pass), ``"conv"`` runs one depthwise (channelwise) or ordinary (full)
    convolution with a ``3x1`` kernel over the ``[N, T, H*W, C]`` view (one fused kernel where
    there is no XLA; TF's CPU slicing ops are ~10x slower, XLA's CPU depthwise conv ~20x).
    ``"auto"`` takes ``"slice"`` under XLA (JAX, or TF with ``jit_compile``) and ``"conv"``
    otherwise.

    Args:
        num_segments: int. Frames per clip ``T``; the batch must be a multiple of it.
        mode: str. ``"channelwise"`` (paper: one kernel per channel, weight ``(3, C)``) or
            ``"full"`` (ablation: ordinary temporal conv mixing all channels, weight
            ``(3, C, C)``). Defaults to ``"channelwise"``.
        temporal_init: str. ``"shift"`` (paper) or ``"identity"``; see
            ``temporal_kernel_init``. In ``"full"`` mode the same taps sit on the diagonal.
            Defaults to ``"shift"``.
        implementation: str. ``"auto"``, ``"slice"`` or ``"conv"`` (same results).
            Defaults to ``"auto"``.
        **kwargs: Standard layer arguments (``name``, ``dtype``, ...).
    """

    def __init__(
        self,
        num_segments: int,
        mode: str = "channelwise",
        temporal_init: str = "shift",
        implementation: str = "auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if mode not in TEMPORAL_MODES:
            raise ValueError(f"mode must be one of {TEMPORAL_MODES}, got {mode!r}")
        if temporal_init not in TEMPORAL_INITS:
            raise ValueError(
                f"temporal_init must be one of {TEMPORAL_INITS}, got {temporal_init!r}"
            )
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(
                f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}"
            )
        if int(num_segments) < 1:
            raise ValueError(f"num_segments must be >= 1, got {num_segments}")
        self.num_segments = int(num_segments)
        self.mode = mode
        self.temporal_init = temporal_init
        self.implementation = implementation

    def build(self, input_shape):
        channels = input_shape[-1]
        taps = temporal_kernel_init(channels, self.temporal_init)
        if self.mode == "channelwise":
            initial = taps
        else:
            initial = np.zeros((KERNEL_SIZE, channels, channels), dtype="float32")
            for k in range(KERNEL_SIZE):
                initial[k] = np.diag(taps[k])
        self.temporal_kernel = self.add_weight(
            name="temporal_kernel",
            shape=initial.shape,
            initializer=keras.initializers.Constant(initial),
        )

    def call(self, inputs):
        kernel = ops.cast(self.temporal_kernel, inputs.dtype)
        return temporal_convolution(inputs, kernel, self.num_segments, self.implementation)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def multiply_adds(self, input_shape: tuple) -> int:
        """Multiply-adds of one call on ``input_shape`` (batch included)."""
        elements = int(np.prod(input_shape))
        per_element = KERNEL_SIZE if self.mode == "channelwise" else KERNEL_SIZE * input_shape[-1]
        return elements * per_element

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_segments": self.num_segments,
                "mode": self.mode,
                "temporal_init": self.temporal_init,
                "implementation": self.implementation,
            }
        )
        return config
