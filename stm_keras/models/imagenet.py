"""ImageNet initialisation of STM/TSN-ResNets from keras.applications' ResNet50/101/152.

Every conv and BN of keras.applications' ResNet has the same name in our models (the 3x3 conv
of each bottleneck is CSTM's spatial conv), so weights are copied by name. keras.applications
gives every conv a bias while ours are bias-free before a BN; the bias is folded into that
BN's moving mean: ``BN(conv(x) + b) == BN'(conv(x))`` with ``moving_mean' = moving_mean - b``.
"""

from __future__ import annotations

import os
import re

import keras
import numpy as np

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
INPUT_NORMALIZATIONS = ("imagenet", "caffe")
APPLICATIONS = {
    50: keras.applications.ResNet50,
    101: keras.applications.ResNet101,
    152: keras.applications.ResNet152,
}
_CONV4_BLOCKS_TO_DEPTH = {6: 50, 23: 101, 36: 152}
_SKIPPED_SOURCE_LAYERS = ("predictions",)


def resnet_depth(model: keras.Model) -> int:
    """Returns the ResNet depth of a model with keras.applications layer names."""
    names = {layer.name for layer in model.layers}
    conv4_blocks = [
        int(match.group(1))
        for name in names
        if (match := re.fullmatch(r"conv4_block(\d+)_out", name))
    ]
    if not conv4_blocks:
        raise ValueError(f"{model.name} has no ResNet layers named conv4_block<i>_out")
    blocks = max(conv4_blocks)
    if "conv2_block1_3_conv" not in names:
        depth = {2: 18, 6: 34}.get(blocks)
        raise ValueError(
            f"{model.name} is a basic-block ResNet (depth {depth or '18/34'}): keras.applications "
            "has no ImageNet weights for ResNet-18/34; use depth 50, 101 or 152."
        )
    if blocks not in _CONV4_BLOCKS_TO_DEPTH:
        raise ValueError(f"{model.name}: unknown ResNet layout with {blocks} conv4 blocks")
    return _CONV4_BLOCKS_TO_DEPTH[blocks]


def _source_model(weights: str | keras.Model, depth: int) -> keras.Model:
    if isinstance(weights, keras.Model):
        return weights
    application = APPLICATIONS[depth]
    if weights == "imagenet":
        try:
            return application(weights="imagenet", include_top=False)
        except Exception as error:
            raise RuntimeError(
                f"Could not get the ImageNet weights of keras.applications.ResNet{depth} "
                f"({type(error).__name__}: {error}). Without network access pass a local "
                "file instead: load_imagenet_weights(model, weights='/path/resnet.keras'), "
                f"e.g. one saved with keras.applications.ResNet{depth}(weights='imagenet')"
                ".save('resnet.keras') on a machine that has network access, or the "
                "keras.applications '.h5' weights file."
            ) from error
    if not os.path.isfile(weights):
        raise FileNotFoundError(
            f"ImageNet weights file {weights!r} not found (pass 'imagenet' or a .keras/.h5 path)"
        )
    if weights.endswith(".keras"):
        return keras.saving.load_model(weights, compile=False)
    last_error: Exception | None = None
    for include_top in (False, True):
        try:
            return application(weights=weights, include_top=include_top)
        except Exception as error:  # the file holds the other variant
            last_error = error
    raise ValueError(f"{weights} is not a ResNet{depth} weights file: {last_error}")


def _input_conversion(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-expresses the first conv for mean/std-normalized RGB instead of caffe BGR inputs.

    caffe input ``x_c[j] = 255 * (s[2-j] * x_n[2-j] + m[2-j]) - caffe_mean[j]`` is affine in the
    ImageNet-normalized RGB input ``x_n``, so the conv becomes a rescaled, channel-flipped
    kernel plus a constant per output channel (exact away from the zero-padded border).
    """
    from stm_keras.models.video_classifier_preprocessor import IMAGENET_MEAN, IMAGENET_STD

    scale = 255.0 * np.asarray(IMAGENET_STD, dtype="float64")
    offset_bgr = 255.0 * np.asarray(IMAGENET_MEAN, dtype="float64")[::-1] - CAFFE_MEAN_BGR
    converted = kernel[:, :, ::-1, :] * scale[None, None, :, None]
    constant = np.einsum("hwjo,j->o", kernel.astype("float64"), offset_bgr)
    return converted.astype(kernel.dtype), constant


def load_imagenet_weights(
    model: keras.Model,
    weights: str | keras.Model = "imagenet",
    input_normalization: str = "imagenet",
) -> list[str]:
    """Copies ImageNet ResNet weights into an STM- or TSN-ResNet built by this package.

    Copies the stem and every conv/BN of every block (the 3x3 conv into CSTM's spatial conv),
    folding keras.applications' conv biases into the following BN. Temporal kernels, CMMs and
    the classifier keep their initialisation.

    Args:
        model: STMVideoClassifier or STMBackbone with depth 50, 101 or 152 and width
            multiplier 1 (either stride ``style``).
        weights: str or keras.Model. ``"imagenet"`` (keras.applications' download; needs
            network access or a filled ``~/.keras/models`` cache), a path to a saved
            keras.applications ResNet (``.keras``) or to its weights (``.h5``), or the model.
            Defaults to ``"imagenet"``.
        input_normalization: str. What ``model`` will be fed: ``"imagenet"`` (RGB scaled to
            [0, 1] then ImageNet mean/std, as ``VideoClassifierPreprocessor.normalize``) folds the
            conversion from keras.applications' caffe inputs into ``conv1``; ``"caffe"``
            (``keras.applications.resnet.preprocess_input``) copies the weights unchanged.
            Defaults to ``"imagenet"``.

    Returns:
        The names of the layers of ``model`` that received weights.

    Raises:
        ValueError: for ResNet-18/34 (no keras.applications weights), a mismatched depth or
            width, or an unknown ``input_normalization``.
        RuntimeError: when ``"imagenet"`` cannot be downloaded.
    """
    if input_normalization not in INPUT_NORMALIZATIONS:
        raise ValueError(
            f"input_normalization must be one of {INPUT_NORMALIZATIONS}, "
            f"got {input_normalization!r}"
        )
    # A classifier's convs and BNs live in its backbone.
    model = getattr(model, "backbone", None) or model
    depth = resnet_depth(model)
    source = _source_model(weights, depth)
    source_depth = resnet_depth(source)
    if source_depth != depth:
        raise ValueError(f"weights are ResNet-{source_depth}, the model is ResNet-{depth}")

    values: dict[str, list[np.ndarray]] = {}
    mean_shift: dict[str, np.ndarray] = {}
    for layer in source.layers:
        if not layer.weights or layer.name in _SKIPPED_SOURCE_LAYERS:
            continue
        arrays = [np.asarray(w) for w in layer.get_weights()]
        if isinstance(layer, keras.layers.Conv2D):
            kernel, bias = arrays[0], arrays[1] if len(arrays) > 1 else None
            constant = np.zeros(kernel.shape[-1])
            if layer.name == "conv1_conv" and input_normalization == "imagenet":
                kernel, constant = _input_conversion(kernel)
            if bias is not None:
                constant = constant + bias
            values[layer.name] = [kernel]
            mean_shift[layer.name.removesuffix("_conv") + "_bn"] = constant
        else:
            values[layer.name] = arrays

    missing = sorted(name for name in values if name not in {x.name for x in model.layers})
    if missing:
        raise ValueError(f"{model.name} lacks layers of the ImageNet ResNet: {missing[:5]}")
    loaded = []
    for name, arrays in values.items():
        target = model.get_layer(name)
        if name in mean_shift:
            gamma, beta, moving_mean, moving_variance = arrays
            arrays = [gamma, beta, moving_mean - mean_shift[name], moving_variance]
        if isinstance(target, keras.layers.Conv2D) and target.use_bias:
            arrays = arrays + [np.zeros(target.filters, dtype=arrays[0].dtype)]
        expected = [tuple(w.shape) for w in target.weights]
        if expected != [a.shape for a in arrays]:
            raise ValueError(
                f"layer {name}: model expects shapes {expected}, ImageNet weights have "
                f"{[a.shape for a in arrays]} (ImageNet weights need width_multiplier=1)"
            )
        target.set_weights([a.astype(w.dtype) for a, w in zip(arrays, target.weights, strict=True)])
        loaded.append(name)
    return loaded
