"""Parameter and FLOPs report of a built model, counted analytically (deterministic, offline).

FLOPs follow the paper's convention: multiply-adds of the convolutions and dense layers
(BN, activations, pooling and additions are not counted), for one clip of ``frames`` frames.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import keras
import numpy as np

from stm_keras.models.stm_backbone import STMBackbone, spatial_shape


@dataclasses.dataclass(frozen=True)
class ModelSummary:
    """Sizes of a model for one clip.

    Attributes:
        name: the model's name.
        frames: frames per clip ``T``.
        image_size: (height, width) of each frame.
        total_params: every weight, BN moving statistics included.
        trainable_params: trainable weights only (the figure papers quote).
        multiply_adds: multiply-adds for one clip.
        multiply_adds_by_part: the same split into ``backbone``, ``temporal`` (CSTM's temporal
            convs), ``motion`` (CMM and the concat-fusion conv) and ``classifier``.
    """

    name: str
    frames: int
    image_size: tuple[int, int]
    total_params: int
    trainable_params: int
    multiply_adds: int
    multiply_adds_by_part: dict[str, int]

    @property
    def multiply_adds_per_frame(self) -> float:
        """Multiply-adds per frame."""
        return self.multiply_adds / self.frames

    def format(self) -> str:
        """The report as printed by ``stm-keras bench flops``."""
        height, width = self.image_size
        lines = [
            f"model: {self.name}  input: {self.frames}x{height}x{width}",
            f"parameters: {self.trainable_params / 1e6:.2f}M trainable, "
            f"{self.total_params / 1e6:.2f}M total (incl. BN statistics)",
            f"FLOPs (multiply-adds): {_giga(self.multiply_adds)} per clip, "
            f"{_giga(self.multiply_adds_per_frame)} per frame",
        ]
        for part, count in self.multiply_adds_by_part.items():
            share = 100.0 * count / max(self.multiply_adds, 1)
            lines.append(f"  {part:<10} {_giga(count):>9}  ({share:5.2f}%)")
        return "\n".join(lines)


def _giga(count: float) -> str:
    return f"{count / 1e9:.3f} G" if count >= 1e8 else f"{count / 1e6:.3f} M"


def _part(layer_name: str) -> str:
    if layer_name.endswith("_temporal"):
        return "temporal"
    if layer_name.endswith(("_cmm", "_fuse_conv")):
        return "motion"
    if layer_name == "classifier":
        return "classifier"
    return "backbone"


def layer_multiply_adds(layer: keras.layers.Layer, input_shape: tuple, output_shape: tuple) -> int:
    """Multiply-adds of one call of ``layer`` (shapes with a concrete batch).

    Raises:
        ValueError: for a layer with weights that has no counting rule (e.g. ``STMBlock``).
    """
    if hasattr(layer, "multiply_adds"):
        return int(layer.multiply_adds(tuple(input_shape)))
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return int(np.prod(output_shape)) * int(np.prod(layer.kernel_size))
    if isinstance(layer, keras.layers.Conv2D):
        in_channels = input_shape[-1] // layer.groups
        return int(np.prod(output_shape)) * int(np.prod(layer.kernel_size)) * in_channels
    if isinstance(layer, keras.layers.Dense):
        return int(np.prod(output_shape)) * input_shape[-1]
    if layer.weights and not isinstance(layer, keras.layers.BatchNormalization):
        raise ValueError(
            f"cannot count the multiply-adds of layer {layer.name} ({type(layer).__name__}); "
            "summarize counts STMBackbone models"
        )
    return 0


def _concrete_backbone(backbone: STMBackbone, frames: int, image_size: tuple[int, int]):
    """The same backbone rebuilt (no weights) for ``image_size``, after checking ``frames``."""
    if backbone.num_segments != frames:
        raise ValueError(
            f"{backbone.name} takes {backbone.num_segments} frames per clip, not {frames}"
        )
    built_size = spatial_shape(backbone.image_size)
    for built, asked in zip(built_size, image_size, strict=True):
        if built not in (None, asked):
            raise ValueError(f"{backbone.name} takes images of {built_size}, not {image_size}")
    return STMBackbone.from_config({**backbone.get_config(), "image_size": list(image_size)})


def backbone_multiply_adds(
    backbone: STMBackbone, frames: int, image_size: int | Sequence[int] = 224
) -> dict[str, int]:
    """Multiply-adds of each of ``backbone``'s layers for one clip, by layer name.

    Layers without multiply-adds (BN, activations, pooling, merges) count 0. The backbone is
    rebuilt symbolically for ``image_size``; nothing is run.
    """
    if not isinstance(backbone, STMBackbone):
        raise ValueError(f"summarize counts STMBackbone models, got {type(backbone).__name__}")
    concrete = _concrete_backbone(backbone, frames, spatial_shape(image_size))
    counts = {}
    for layer in concrete.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if not isinstance(layer.input, keras.KerasTensor):
            counts[layer.name] = 0  # merges (Add, Concatenate) have no multiply-adds
            continue
        # Between folding and consensus the batch axis holds the clip's frames.
        counts[layer.name] = layer_multiply_adds(
            layer,
            (frames, *layer.input.shape[1:]),
            (frames, *layer.output.shape[1:]),
        )
    return counts


def summarize(
    model: keras.Model, frames: int, image_size: int | Sequence[int] = 224
) -> ModelSummary:
    """Counts the parameters and multiply-adds of a model for one clip.

    The backbone is rebuilt symbolically for ``image_size``; nothing is run.

    Args:
        model: STMVideoClassifier or STMBackbone.
        frames: int. Frames per clip; must match the backbone's ``num_segments``.
        image_size: int or (height, width). Frame size. Defaults to 224.

    Returns:
        A ``ModelSummary``; ``print(summary.format())`` prints the report.
    """
    size = spatial_shape(image_size)
    backbone = getattr(model, "backbone", model)
    by_part = {"backbone": 0, "temporal": 0, "motion": 0, "classifier": 0}
    for name, count in backbone_multiply_adds(backbone, frames, size).items():
        by_part[_part(name)] += count
    if model is not backbone:
        by_part["classifier"] = backbone.num_features * int(model.num_classes)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return ModelSummary(
        name=model.name,
        frames=frames,
        image_size=size,
        total_params=int(model.count_params()),
        trainable_params=trainable,
        multiply_adds=sum(by_part.values()),
        multiply_adds_by_part=by_part,
    )
