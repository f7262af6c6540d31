"""The STM block: a ResNet residual block with CSTM and CMM inside.

One definition serves two uses: ``apply_stm_block`` adds the block's sublayers to a Functional
graph with flat, keras.applications-compatible names (``conv3_block2_2_conv``), which is what the
model builders use so ImageNet weights transfer by name; ``STMBlock`` wraps the same sublayers in
one serializable layer for standalone use.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import keras

from stm_keras.layers.channelwise_temporal_conv import TEMPORAL_INITS, ChannelwiseTemporalConv
from stm_keras.layers.cmm import CMM
from stm_keras.layers.conv_bn import batch_norm, conv2d

FUSIONS = ("sum", "concat")
STYLES = ("pytorch", "caffe")
TEMPORAL_CONVS = ("channelwise", "full")
BOTTLENECK_EXPANSION = 4


def _spatial_conv(layers: dict, key: str, filters: int, strides: int, prefix: str, dtype: Any):
    """A 3x3 conv; strided ones pad 1 pixel each side explicitly, as PyTorch does."""
    if strides == 1:
        layers[f"{key}_conv"] = conv2d(filters, 3, prefix + f"{key}_conv", dtype=dtype)
    else:
        layers[f"{key}_pad"] = keras.layers.ZeroPadding2D(
            1, name=prefix + f"{key}_pad", dtype=dtype
        )
        layers[f"{key}_conv"] = conv2d(
            filters, 3, prefix + f"{key}_conv", strides=strides, padding="valid", dtype=dtype
        )


def validate_block_options(
    fusion: str, temporal_conv: str, temporal_init: str, style: str, strides: int
) -> None:
    """Raises ValueError naming the first invalid STM block option."""
    for value, allowed, what in (
        (fusion, FUSIONS, "fusion"),
        (temporal_conv, TEMPORAL_CONVS, "temporal_conv"),
        (temporal_init, TEMPORAL_INITS, "temporal_init"),
        (style, STYLES, "style"),
    ):
        if value not in allowed:
            raise ValueError(f"{what} must be one of {allowed}, got {value!r}")
    if strides not in (1, 2):
        raise ValueError(f"strides must be 1 or 2, got {strides}")


def create_block_layers(
    input_channels: int,
    filters: int,
    options: Mapping[str, Any],
    prefix: str = "",
    dtype: Any = None,
) -> dict[str, keras.layers.Layer]:
    """Creates the sublayers of one residual block, keyed by their name without ``prefix``.

    Keys follow keras.applications' ResNet (``1_conv``, ``1_bn``, ..., ``0_conv`` for the
    projection shortcut) plus ``2_temporal`` (CSTM's temporal conv; ``1_temporal`` in a basic
    block), ``cmm`` and ``fuse``/``fuse_conv``. ``options`` holds every ``STMBlock`` argument
    but ``filters`` (``BLOCK_OPTIONS``), with the meanings documented there.
    """
    missing = sorted(set(BLOCK_OPTIONS) - set(options))
    if missing:
        raise ValueError(f"block options lack {missing}")
    num_segments, strides = options["num_segments"], options["strides"]
    bottleneck, use_cstm, use_cmm = options["bottleneck"], options["use_cstm"], options["use_cmm"]
    fusion, style, cmm_reduction = options["fusion"], options["style"], options["cmm_reduction"]
    temporal_conv, temporal_init = options["temporal_conv"], options["temporal_init"]
    validate_block_options(fusion, temporal_conv, temporal_init, style, strides)
    layers: dict[str, keras.layers.Layer] = {}
    out_channels = filters * BOTTLENECK_EXPANSION if bottleneck else filters

    def temporal(key: str) -> None:
        if use_cstm:
            layers[key] = ChannelwiseTemporalConv(
                num_segments,
                mode=temporal_conv,
                temporal_init=temporal_init,
                name=prefix + key,
                dtype=dtype,
            )

    if bottleneck:
        reduce_strides = strides if style == "caffe" else 1
        spatial_strides = strides if style == "pytorch" else 1
        layers["1_conv"] = conv2d(
            filters, 1, prefix + "1_conv", strides=reduce_strides, dtype=dtype
        )
        layers["1_bn"] = batch_norm(prefix + "1_bn", dtype)
        layers["1_relu"] = keras.layers.ReLU(name=prefix + "1_relu", dtype=dtype)
        temporal("2_temporal")
        _spatial_conv(layers, "2", filters, spatial_strides, prefix, dtype)
        layers["2_bn"] = batch_norm(prefix + "2_bn", dtype)
        layers["2_relu"] = keras.layers.ReLU(name=prefix + "2_relu", dtype=dtype)
        last, cmm_strides = "3", spatial_strides
        last_conv = conv2d(out_channels, 1, prefix + "3_conv", dtype=dtype)
    else:
        temporal("1_temporal")
        _spatial_conv(layers, "1", filters, strides, prefix, dtype)
        layers["1_bn"] = batch_norm(prefix + "1_bn", dtype)
        layers["1_relu"] = keras.layers.ReLU(name=prefix + "1_relu", dtype=dtype)
        last, cmm_strides = "2", strides
        last_conv = conv2d(out_channels, 3, prefix + "2_conv", dtype=dtype)
    if use_cmm:
        layers["cmm"] = CMM(
            num_segments,
            filters=filters,
            reduction=cmm_reduction,
            strides=cmm_strides,
            name=prefix + "cmm",
            dtype=dtype,
        )
        if fusion == "sum":
            layers["fuse"] = keras.layers.Add(name=prefix + "fuse", dtype=dtype)
        else:
            layers["fuse"] = keras.layers.Concatenate(name=prefix + "fuse", dtype=dtype)
            layers["fuse_conv"] = conv2d(filters, 1, prefix + "fuse_conv", dtype=dtype)
    layers[f"{last}_conv"] = last_conv
    layers[f"{last}_bn"] = batch_norm(prefix + f"{last}_bn", dtype)
    if strides != 1 or input_channels != out_channels:
        layers["0_conv"] = conv2d(out_channels, 1, prefix + "0_conv", strides=strides, dtype=dtype)
        layers["0_bn"] = batch_norm(prefix + "0_bn", dtype)
    layers["add"] = keras.layers.Add(name=prefix + "add", dtype=dtype)
    layers["out"] = keras.layers.ReLU(name=prefix + "out", dtype=dtype)
    return layers


def apply_block_layers(layers: dict[str, keras.layers.Layer], inputs):
    """Runs the block made by ``create_block_layers`` on ``inputs`` (symbolic or eager).

    ```
    bottleneck:  x ─ 1_conv ─ 1_bn ─ relu ─┬─ [2_temporal] ─ 2_conv ─ 2_bn ─ relu ─┐ (CSTM)
                                           └─ [cmm] ──────────────────────────────┴ fuse
                   ─ 3_conv ─ 3_bn ─ + shortcut(x) ─ relu
    basic:       x ─┬─ [1_temporal] ─ 1_conv ─ 1_bn ─ relu ─┐ (CSTM)
                    └─ [cmm] ───────────────────────────────┴ fuse ─ 2_conv ─ 2_bn
                   ─ + shortcut(x) ─ relu
    ```
    """
    bottleneck = "3_conv" in layers
    spatial = "2" if bottleneck else "1"
    x = inputs
    if bottleneck:
        x = layers["1_relu"](layers["1_bn"](layers["1_conv"](x)))
    motion_input = x
    if f"{spatial}_temporal" in layers:
        x = layers[f"{spatial}_temporal"](x)
    if f"{spatial}_pad" in layers:
        x = layers[f"{spatial}_pad"](x)
    x = layers[f"{spatial}_conv"](x)
    x = layers[f"{spatial}_relu"](layers[f"{spatial}_bn"](x))
    if "cmm" in layers:
        x = layers["fuse"]([x, layers["cmm"](motion_input)])
        if "fuse_conv" in layers:
            x = layers["fuse_conv"](x)
    last = "3" if bottleneck else "2"
    x = layers[f"{last}_bn"](layers[f"{last}_conv"](x))
    shortcut = inputs
    if "0_conv" in layers:
        shortcut = layers["0_bn"](layers["0_conv"](inputs))
    return layers["out"](layers["add"]([shortcut, x]))


def apply_stm_block(
    inputs, filters: int, options: Mapping[str, Any], *, name: str, dtype: Any = None
):
    """Adds one STM (or, with both modules off, plain ResNet) block to a Functional graph.

    Sublayers are named ``f"{name}_{key}"`` (e.g. ``conv2_block1_2_conv``), the names
    keras.applications' ResNet uses for the same convs and BNs. ``options`` are those of
    ``create_block_layers``.
    """
    layers = create_block_layers(inputs.shape[-1], filters, options, f"{name}_", dtype)
    return apply_block_layers(layers, inputs)


@keras.saving.register_keras_serializable(package="stm_keras")
class STMBlock(keras.layers.Layer):
    """ResNet residual block with STM's CSTM and CMM, on ``[N*T, H, W, C]`` features.

    The bottleneck is wired as in the authors' code: 1x1 reduce + BN + ReLU, then in parallel
    CSTM (channel-wise temporal conv, then the block's own 3x3 conv, which takes ImageNet
    weights, + BN + ReLU) and CMM on the reduced features, fused, then 1x1 expand + BN, the
    identity or projection shortcut, ReLU. ``bottleneck=False`` gives the ResNet-18/34 basic
    block, where CSTM wraps the first 3x3 conv and CMM runs on the block input. The model
    builders add the same sublayers to their Functional graph (``apply_stm_block``) so that
    each conv and BN has a flat keras.applications name; this layer is the self-contained unit.

    Args:
        filters: int. Bottleneck width (output is ``4 * filters``) or basic-block width.
        num_segments: int. Frames per clip ``T``.
        strides: int. 1 or 2. Defaults to 1.
        bottleneck: bool. Bottleneck (ResNet-50/101) or basic (ResNet-18/34) block.
            Defaults to True.
        use_cstm: bool. Include the channel-wise temporal conv. Defaults to True.
        use_cmm: bool. Include the motion module. Defaults to True.
        fusion: str. ``"sum"`` (paper) or ``"concat"`` (concatenation, then a 1x1 conv back to
            ``filters``). Defaults to ``"sum"``.
        temporal_conv: str. ``"channelwise"`` or ``"full"``. Defaults to ``"channelwise"``.
        temporal_init: str. ``"shift"`` or ``"identity"``. Defaults to ``"shift"``.
        cmm_reduction: int. CMM's channel reduction. Defaults to 16.
        style: str. Where a bottleneck strides: ``"pytorch"`` (the 3x3 conv, as in the
            authors' torchvision-based code; CMM is then max-pooled) or ``"caffe"`` (the first
            1x1 conv, as keras.applications' ResNet). Defaults to ``"pytorch"``.
        **kwargs: Standard layer arguments (``name``, ``dtype``, ...).
    """

    def __init__(
        self,
        filters: int,
        num_segments: int,
        strides: int = 1,
        bottleneck: bool = True,
        use_cstm: bool = True,
        use_cmm: bool = True,
        fusion: str = "sum",
        temporal_conv: str = "channelwise",
        temporal_init: str = "shift",
        cmm_reduction: int = 16,
        style: str = "pytorch",
        **kwargs,
    ):
        super().__init__(**kwargs)
        validate_block_options(fusion, temporal_conv, temporal_init, style, strides)
        self.filters = int(filters)
        self.num_segments = int(num_segments)
        self.strides = int(strides)
        self.bottleneck = bool(bottleneck)
        self.use_cstm = bool(use_cstm)
        self.use_cmm = bool(use_cmm)
        self.fusion = fusion
        self.temporal_conv = temporal_conv
        self.temporal_init = temporal_init
        self.cmm_reduction = int(cmm_reduction)
        self.style = style

    def _block_options(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in BLOCK_OPTIONS}

    def build(self, input_shape):
        self.block_layers = create_block_layers(
            input_shape[-1], self.filters, self._block_options(), f"{self.name}_", self.dtype_policy
        )
        # A symbolic pass builds every sublayer with its own input shape.
        apply_block_layers(
            self.block_layers, keras.KerasTensor(input_shape, dtype=self.compute_dtype)
        )

    def call(self, inputs):
        return apply_block_layers(self.block_layers, inputs)

    def compute_output_shape(self, input_shape):
        out_channels = self.filters * (BOTTLENECK_EXPANSION if self.bottleneck else 1)
        height, width = input_shape[1], input_shape[2]
        if self.strides == 2:
            height = None if height is None else (height + 1) // 2
            width = None if width is None else (width + 1) // 2
        return (input_shape[0], height, width, out_channels)

    def get_config(self):
        config = super().get_config()
        config["filters"] = self.filters
        config.update(self._block_options())
        return config


# The names of STMBlock's own arguments, which every block built by this module takes.
BLOCK_OPTIONS = tuple(
    name
    for name in inspect.signature(STMBlock.__init__).parameters
    if name not in ("self", "filters", "kwargs")
)
