"""Folds the frames of a clip batch into the batch axis: the layout of every TSN-style backbone."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="stm_keras")
class FoldFrames(keras.layers.Layer):
    """Reshapes clips ``[N, T, H, W, C]`` to frames ``[N*T, H, W, C]`` (clip-major order).

    ``T`` is read from the static input shape, so it must be known when the layer is built.
    """

    def build(self, input_shape):
        if len(input_shape) != 5 or input_shape[1] is None:
            raise ValueError(
                f"FoldFrames expects [N, T, H, W, C] with a known T, got {tuple(input_shape)}"
            )

    def call(self, inputs):
        shape = ops.shape(inputs)
        return ops.reshape(inputs, (-1, shape[2], shape[3], shape[4]))

    def compute_output_shape(self, input_shape):
        batch, frames = input_shape[0], input_shape[1]
        folded = None if batch is None else batch * frames
        return (folded, *input_shape[2:])
