"""TSN's segmental consensus: averages per-frame outputs of a frame-batched tensor per clip."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="stm_keras")
class TemporalConsensus(keras.layers.Layer):
    """Averages ``[N*T, ...]`` per-frame values over each clip's ``T`` frames to ``[N, ...]``.

    Args:
        num_segments: int. Frames per clip ``T``.
        **kwargs: Standard layer arguments (``name``, ``dtype``, ...).
    """

    def __init__(self, num_segments: int, **kwargs):
        super().__init__(**kwargs)
        if int(num_segments) < 1:
            raise ValueError(f"num_segments must be >= 1, got {num_segments}")
        self.num_segments = int(num_segments)

    def call(self, inputs):
        shape = ops.shape(inputs)
        clips = ops.reshape(inputs, (-1, self.num_segments, *shape[1:]))
        return ops.mean(clips, axis=1)

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        return (None if batch is None else batch // self.num_segments, *input_shape[1:])

    def get_config(self):
        config = super().get_config()
        config["num_segments"] = self.num_segments
        return config
