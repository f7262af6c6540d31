"""STM-ResNet and TSN-ResNet builders, ImageNet initialisation and size reports."""

from stm_keras.models.imagenet import load_imagenet_weights
from stm_keras.models.stm_resnet import (
    build_model,
    build_stm_resnet,
    build_tsn_resnet,
    pooled_features_model,
    transfer_weights,
)
from stm_keras.models.summary import ModelSummary, summarize

__all__ = [
    "ModelSummary",
    "build_model",
    "build_stm_resnet",
    "build_tsn_resnet",
    "load_imagenet_weights",
    "pooled_features_model",
    "summarize",
    "transfer_weights",
]
