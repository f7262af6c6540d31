"""Copies weights between models by layer name: STM ↔ TSN, and a trained model into a new one."""

from __future__ import annotations

import dataclasses

import keras


@dataclasses.dataclass(frozen=True)
class TransferReport:
    """What ``transfer_weights`` did.

    Attributes:
        copied: names of the layers whose weights were copied.
        mismatched: names of the layers present in both models with weights of other shapes
            (left as they were).
    """

    copied: list[str]
    mismatched: list[str]


def _weighted_layers(model: keras.Model) -> dict[str, keras.layers.Layer]:
    # Nested models (a classifier's backbone) contribute their own layers, by their own names.
    # A layer's own sublayers are not listed: their names (CMM's "reduce_conv") repeat from one
    # block to the next, and copying the layer copies them.
    layers: dict[str, keras.layers.Layer] = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            layers.update(_weighted_layers(layer))
        elif layer.weights:
            layers[layer.name] = layer
    return layers


def transfer_weights(
    source: keras.Model, target: keras.Model, skip_mismatched: bool = False
) -> TransferReport:
    """Copies the weights of every layer of ``source`` into ``target``'s layer of the same name.

    STM and TSN backbones of one depth and width share the names of all their common layers,
    so either initialises the other; layers only one model has are left untouched. With
    ``skip_mismatched``, layers whose weight shapes differ (a classifier for other classes)
    keep their initialisation.

    Returns:
        A ``TransferReport``.

    Raises:
        ValueError: naming the layer, when shapes differ and ``skip_mismatched`` is False.
    """
    target_layers = _weighted_layers(target)
    copied, mismatched = [], []
    for name, layer in _weighted_layers(source).items():
        other = target_layers.get(name)
        if other is None:
            continue
        shapes = [tuple(w.shape) for w in layer.weights]
        if shapes != [tuple(w.shape) for w in other.weights]:
            if not skip_mismatched:
                raise ValueError(
                    f"layer {name}: weight shapes differ between the models "
                    f"({shapes} vs {[tuple(w.shape) for w in other.weights]})"
                )
            mismatched.append(name)
            continue
        other.set_weights(layer.get_weights())
        copied.append(name)
    return TransferReport(copied, mismatched)
