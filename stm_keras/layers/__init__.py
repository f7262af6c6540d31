"""Keras 3 layers of the STM network; importing this module registers them for `.keras` loading.

All layers work on frame-batched tensors ``[N*T, H, W, C]`` with ``num_segments=T``.
"""

from stm_keras.layers.channelwise_temporal_conv import ChannelwiseTemporalConv, temporal_kernel_init
from stm_keras.layers.cmm import CMM
from stm_keras.layers.fold_frames import FoldFrames
from stm_keras.layers.stm_block import STMBlock, apply_stm_block
from stm_keras.layers.temporal_consensus import TemporalConsensus

__all__ = [
    "CMM",
    "ChannelwiseTemporalConv",
    "FoldFrames",
    "STMBlock",
    "TemporalConsensus",
    "apply_stm_block",
    "temporal_kernel_init",
]
