"""Conv and BN factories shared by the STM layers and model builders (one initialisation)."""

from __future__ import annotations

from typing import Any

import keras

BATCH_NORM_EPSILON = 1.001e-5  # keras.applications' ResNet value, so ImageNet features match
BATCH_NORM_MOMENTUM = 0.9  # PyTorch's 0.1, as the authors trained


def conv_initializer() -> keras.initializers.Initializer:
    """He-normal over fan-out, the torchvision ResNet initialisation of every conv."""
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="untruncated_normal"
    )


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


def batch_norm(name: str, dtype: Any = None) -> keras.layers.BatchNormalization:
    """A BatchNormalization with the package's epsilon and momentum."""
    return keras.layers.BatchNormalization(
        epsilon=BATCH_NORM_EPSILON, momentum=BATCH_NORM_MOMENTUM, name=name, dtype=dtype
    )
