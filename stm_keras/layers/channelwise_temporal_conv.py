"""CSTM's temporal part: a kernel-3 1-D convolution over the frames of a frame-batched tensor."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

TEMPORAL_INITS = ("shift", "identity")
TEMPORAL_MODES = ("channelwise", "full")
KERNEL_SIZE = 3


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


@keras.saving.register_keras_serializable(package="stm_keras")
class ChannelwiseTemporalConv(keras.layers.Layer):
    """Kernel-3 temporal convolution over the frames of ``[N*T, H, W, C]`` features.

    The input holds ``N`` clips of ``T = num_segments`` frames folded into the batch. The layer
    views it as ``[N, T, H, W, C]``, zero-pads ``T`` by one frame on each side, and computes

        out[t] = k[0] * x[t-1] + k[1] * x[t] + k[2] * x[t+1]

    by slicing: three multiply-adds per element, no transposes. Convention: ``k[0]`` weighs
    the previous frame, so a channel with kernel ``[1, 0, 0]`` copies frame ``t-1`` into output
    frame ``t`` (frame 0 receives zeros); this is the cross-correlation of PyTorch's ``Conv1d``
    with ``padding=1``.

    Args:
        num_segments: int. Frames per clip ``T``; the batch must be a multiple of it.
        mode: str. ``"channelwise"`` (paper: one kernel per channel, weight ``(3, C)``) or
            ``"full"`` (ablation: ordinary temporal conv mixing all channels, weight
            ``(3, C, C)``). Defaults to ``"channelwise"``.
        temporal_init: str. ``"shift"`` (paper) or ``"identity"``; see
            ``temporal_kernel_init``. In ``"full"`` mode the same taps sit on the diagonal.
            Defaults to ``"shift"``.
        **kwargs: Standard layer arguments (``name``, ``dtype``, ...).
    """

    def __init__(
        self,
        num_segments: int,
        mode: str = "channelwise",
        temporal_init: str = "shift",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if mode not in TEMPORAL_MODES:
            raise ValueError(f"mode must be one of {TEMPORAL_MODES}, got {mode!r}")
        if temporal_init not in TEMPORAL_INITS:
            raise ValueError(
                f"temporal_init must be one of {TEMPORAL_INITS}, got {temporal_init!r}"
            )
        if int(num_segments) < 1:
            raise ValueError(f"num_segments must be >= 1, got {num_segments}")
        self.num_segments = int(num_segments)
        self.mode = mode
        self.temporal_init = temporal_init

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
        shape = ops.shape(inputs)
        x = ops.reshape(inputs, (-1, self.num_segments, shape[1], shape[2], shape[3]))
        x = ops.pad(x, ((0, 0), (1, 1), (0, 0), (0, 0), (0, 0)))
        kernel = ops.cast(self.temporal_kernel, x.dtype)
        previous, current, following = x[:, :-2], x[:, 1:-1], x[:, 2:]
        if self.mode == "channelwise":
            out = previous * kernel[0] + current * kernel[1] + following * kernel[2]
        else:
            out = (
                ops.matmul(previous, kernel[0])
                + ops.matmul(current, kernel[1])
                + ops.matmul(following, kernel[2])
            )
        return ops.reshape(out, shape)

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
            }
        )
        return config
