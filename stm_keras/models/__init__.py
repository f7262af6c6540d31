"""The STM model API: backbone, video classifier, its preprocessor, ImageNet init, size reports."""

from stm_keras.models.imagenet import load_imagenet_weights
from stm_keras.models.stm_backbone import STMBackbone
from stm_keras.models.stm_video_classifier import STMVideoClassifier
from stm_keras.models.summary import ModelSummary, backbone_multiply_adds, summarize
from stm_keras.models.transfer import TransferReport, transfer_weights
from stm_keras.models.video_classifier_preprocessor import (
    PROTOCOLS,
    Protocol,
    VideoClassifierPreprocessor,
)

__all__ = [
    "PROTOCOLS",
    "ModelSummary",
    "Protocol",
    "STMBackbone",
    "STMVideoClassifier",
    "TransferReport",
    "VideoClassifierPreprocessor",
    "backbone_multiply_adds",
    "load_imagenet_weights",
    "summarize",
    "transfer_weights",
]
