"""STMBackbone: STM-ResNet (and its TSN baseline) as a keras-hub ``Backbone``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import keras_hub

from stm_keras.layers import FoldFrames, TemporalConsensus
from stm_keras.layers.conv_bn import MaxPooling2D, batch_norm, conv2d
from stm_keras.layers.stm_block import apply_stm_block

# depth -> (bottleneck?, blocks in conv2_x..conv5_x)
RESNET_LAYOUTS: dict[int, tuple[bool, tuple[int, int, int, int]]] = {
    18: (False, (2, 2, 2, 2)),
    34: (False, (3, 4, 6, 3)),
    50: (True, (3, 4, 6, 3)),
    101: (True, (3, 4, 23, 3)),
    152: (True, (3, 8, 36, 3)),
}
STAGE_WIDTHS = (64, 128, 256, 512)
STAGES = (2, 3, 4, 5)
STEM_WIDTH = 64
INPUT_NAME = "clips"
FRAME_FEATURES_LAYER = "avg_pool"
CLIP_FEATURES_LAYER = "consensus"


def _scaled(width: int, width_multiplier: float) -> int:
    return max(1, int(round(width * width_multiplier)))


def spatial_shape(image_size: int | Sequence[int] | None) -> tuple[int | None, int | None]:
    """``(height, width)`` of an ``image_size`` given as one side, a pair or None."""
    if image_size is None:
        return (None, None)
    if isinstance(image_size, int):
        return (image_size, image_size)
    height, width = image_size
    return (height, width)


def saved_mixed_policy(preset: str) -> str | None:
    """The ``mixed_*`` dtype policy a preset's backbone was saved with, or None."""
    from keras_hub.src.utils.preset_utils import CONFIG_FILE, load_json

    dtype = load_json(preset, CONFIG_FILE).get("config", {}).get("dtype")
    name = dtype.get("config", {}).get("name") if isinstance(dtype, dict) else dtype
    return name if isinstance(name, str) and name.startswith("mixed_") else None


@keras.saving.register_keras_serializable(package="stm_keras")
class STMBackbone(keras_hub.models.Backbone):
    """STM-ResNet: a 2-D ResNet on frame-batched clips whose blocks carry CSTM and CMM.

    Clips ``[N, T, H, W, 3]`` (ImageNet-normalized RGB, see ``VideoClassifierPreprocessor``) are
    folded into ``[N*T, H, W, 3]``, run through ResNet-``depth`` whose blocks in ``stm_stages``
    are STM blocks, average-pooled per frame (layer ``"avg_pool"``, ``[N*T, C]``) and averaged
    over each clip's frames (TSN consensus, layer ``"consensus"``). The output is the pooled
    per-clip feature ``[N, C]`` (``C`` = 2048 for ResNet-50 at width 1).

    The constructor's arguments are the whole STM option set; ``get_config()`` returns exactly
    them (plus ``name``, ``trainable`` and ``dtype``). The TSN baseline is this backbone with
    ``use_cstm=False, use_cmm=False`` (or ``stm_stages=()``). Layer names are those of
    keras.applications' ResNet (``conv1_conv``, ``conv4_block3_2_bn``), shared by STM and TSN,
    so weights transfer by name between them and from ImageNet (``load_imagenet_weights``).

    Per-frame feature maps of any block (or any named layer, e.g. a block's ``_cmm`` or
    ``_2_relu``, the CSTM branch) come from ``feature_extractor``; ``block_names()`` lists
    the blocks.

    ```
    clips ─ fold frames ─ conv1 ─ pool ─ conv2_x … conv5_x (STM blocks) ─ avg_pool ─ consensus
    ```

    Args:
        depth: int. ResNet depth: 18 or 34 (basic blocks), 50, 101 or 152 (bottlenecks).
            Defaults to 50.
        num_segments: int. Frames per clip ``T`` (fixed in the input shape). Defaults to 8.
        width_multiplier: float. Scales every channel count (tiny models for CPUs and tests).
            Defaults to 1.0.
        stm_stages: sequence of int. ResNet stages (2..5 = conv2_x..conv5_x) whose blocks are
            STM blocks. Defaults to all four.
        blocks_per_stage: int or None. None makes every block of the listed stages an STM
            block (the paper); an int, that many leading blocks per listed stage (ablation).
            Defaults to None.
        fusion: str. How the CSTM and CMM outputs are combined: ``"sum"`` (the paper) or
            ``"concat"`` (then a 1x1 conv back to the block width). Defaults to ``"sum"``.
        temporal_conv: str. CSTM's temporal convolution: ``"channelwise"`` (the paper) or
            ``"full"`` (all channels, ablation). Defaults to ``"channelwise"``.
        temporal_init: str. CSTM's temporal kernel initialisation: ``"shift"`` (the paper) or
            ``"identity"``. Defaults to ``"shift"``.
        use_cstm: bool. Include CSTM's temporal conv in STM blocks. Defaults to True.
        use_cmm: bool. Include CMM, the motion module, in STM blocks. Defaults to True.
        cmm_reduction: int. CMM's channel reduction. Defaults to 16.
        style: str. Where a bottleneck strides: ``"pytorch"`` (its 3x3 conv, the authors'
            layout and the paper's FLOPs) or ``"caffe"`` (its first 1x1 conv, exactly
            keras.applications' ResNet). Defaults to ``"pytorch"``.
        image_size: int, (height, width) or None. Static spatial input size; None leaves it
            dynamic. Defaults to None.
        dtype: str or ``keras.DTypePolicy``. The dtype policy of every layer. Defaults to the
            global policy.
        **kwargs: ``name`` and ``trainable``.
    """

    def __init__(
        self,
        depth: int = 50,
        num_segments: int = 8,
        width_multiplier: float = 1.0,
        stm_stages: Sequence[int] = STAGES,
        blocks_per_stage: int | None = None,
        fusion: str = "sum",
        temporal_conv: str = "channelwise",
        temporal_init: str = "shift",
        use_cstm: bool = True,
        use_cmm: bool = True,
        cmm_reduction: int = 16,
        style: str = "pytorch",
        image_size: int | Sequence[int] | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        depth = int(depth)
        if depth not in RESNET_LAYOUTS:
            raise ValueError(f"depth must be one of {sorted(RESNET_LAYOUTS)}, got {depth}")
        stm_stages = tuple(int(stage) for stage in stm_stages)
        if set(stm_stages) - set(STAGES):
            raise ValueError(f"stm_stages must be among {STAGES}, got {stm_stages}")
        if blocks_per_stage is not None and int(blocks_per_stage) < 0:
            raise ValueError(f"blocks_per_stage must be >= 0 or None, got {blocks_per_stage}")
        if int(num_segments) < 1:
            raise ValueError(f"num_segments must be >= 1, got {num_segments}")
        if float(width_multiplier) <= 0:
            raise ValueError(f"width_multiplier must be > 0, got {width_multiplier}")
        if isinstance(image_size, list):
            image_size = tuple(image_size)
        bottleneck, blocks = RESNET_LAYOUTS[depth]
        height, width = spatial_shape(image_size)

        # === Functional model ===
        clips = keras.Input(shape=(num_segments, height, width, 3), name=INPUT_NAME)
        x = FoldFrames(name="fold_frames", dtype=dtype)(clips)
        x = keras.layers.ZeroPadding2D(3, name="conv1_pad", dtype=dtype)(x)
        stem_width = _scaled(STEM_WIDTH, width_multiplier)
        x = conv2d(stem_width, 7, "conv1_conv", strides=2, padding="valid", dtype=dtype)(x)
        x = batch_norm("conv1_bn", dtype)(x)
        x = keras.layers.ReLU(name="conv1_relu", dtype=dtype)(x)
        x = keras.layers.ZeroPadding2D(1, name="pool1_pad", dtype=dtype)(x)
        x = MaxPooling2D(3, strides=2, name="pool1_pool", dtype=dtype)(x)
        for stage, stage_blocks, stage_width in zip(STAGES, blocks, STAGE_WIDTHS, strict=True):
            stm_blocks = 0
            if stage in stm_stages:
                stm_blocks = stage_blocks if blocks_per_stage is None else int(blocks_per_stage)
            for index in range(stage_blocks):
                is_stm = index < stm_blocks
                options = {
                    "num_segments": int(num_segments),
                    "strides": 2 if index == 0 and stage > 2 else 1,
                    "bottleneck": bottleneck,
                    "use_cstm": bool(use_cstm) and is_stm,
                    "use_cmm": bool(use_cmm) and is_stm,
                    "fusion": fusion,
                    "temporal_conv": temporal_conv,
                    "temporal_init": temporal_init,
                    "cmm_reduction": int(cmm_reduction),
                    "style": style,
                }
                x = apply_stm_block(
                    x,
                    _scaled(stage_width, width_multiplier),
                    options,
                    name=f"conv{stage}_block{index + 1}",
                    dtype=dtype,
                )
        x = keras.layers.GlobalAveragePooling2D(name=FRAME_FEATURES_LAYER, dtype=dtype)(x)
        features = TemporalConsensus(num_segments, name=CLIP_FEATURES_LAYER, dtype=dtype)(x)
        super().__init__(inputs=clips, outputs=features, dtype=dtype, **kwargs)

        # === Config ===
        self.depth = depth
        self.num_segments = int(num_segments)
        self.width_multiplier = float(width_multiplier)
        self.stm_stages = stm_stages
        self.blocks_per_stage = None if blocks_per_stage is None else int(blocks_per_stage)
        self.fusion = fusion
        self.temporal_conv = temporal_conv
        self.temporal_init = temporal_init
        self.use_cstm = bool(use_cstm)
        self.use_cmm = bool(use_cmm)
        self.cmm_reduction = int(cmm_reduction)
        self.style = style
        self.image_size = image_size

    @classmethod
    def from_preset(cls, preset: str, load_weights: bool = True, **kwargs: Any) -> Any:
        """Loads the backbone of a preset (local directory or hf:// / kaggle:// handle)."""
        if kwargs.get("dtype") is None:
            # keras-hub 0.32 cannot resolve a saved mixed_* policy (keras's standardize_dtype
            # rejects it): name it, and the model loads as it was trained.
            kwargs["dtype"] = saved_mixed_policy(preset)
        return super().from_preset(preset, load_weights=load_weights, **kwargs)

    @property
    def is_tsn(self) -> bool:
        """True when no block has CSTM or CMM: the TSN-ResNet baseline."""
        return (
            not (self.use_cstm or self.use_cmm)
            or not self.stm_stages
            or (self.blocks_per_stage == 0)
        )

    @property
    def num_features(self) -> int:
        """Channels of the pooled feature vector."""
        return int(self.output.shape[-1])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "depth": self.depth,
                "num_segments": self.num_segments,
                "width_multiplier": self.width_multiplier,
                "stm_stages": list(self.stm_stages),
                "blocks_per_stage": self.blocks_per_stage,
                "fusion": self.fusion,
                "temporal_conv": self.temporal_conv,
                "temporal_init": self.temporal_init,
                "use_cstm": self.use_cstm,
                "use_cmm": self.use_cmm,
                "cmm_reduction": self.cmm_reduction,
                "style": self.style,
                "image_size": (
                    list(self.image_size) if isinstance(self.image_size, tuple) else self.image_size
                ),
            }
        )
        return config

    def block_names(self) -> list[str]:
        """Names of the residual blocks in order (``conv2_block1`` … ``conv5_block3``)."""
        return [layer.name.removesuffix("_out") for layer in self.layers if _is_block_out(layer)]

    def feature_extractor(self, names: Sequence[str]) -> keras.Model:
        """A model from the backbone's clips to the per-frame outputs of the named blocks/layers.

        Args:
            names: sequence of str. Block names (``block_names()``, e.g. ``"conv3_block1"``:
                the block's output) or layer names (e.g. ``"conv3_block1_cmm"``: CMM's output,
                ``"conv3_block1_2_relu"``: the CSTM branch's output in a bottleneck).

        Returns:
            A ``keras.Model`` sharing this backbone's weights, mapping clips ``[N, T, H, W, 3]``
            to a dict ``{name: [N*T, h, w, c]}``.

        Raises:
            ValueError: naming an unknown block or layer, with the valid block names.
        """
        layer_names = {layer.name for layer in self.layers}
        outputs = {}
        for name in names:
            layer_name = f"{name}_out" if f"{name}_out" in layer_names else name
            if layer_name not in layer_names:
                raise ValueError(
                    f"no block or layer named {name!r}; blocks: {', '.join(self.block_names())}"
                )
            outputs[name] = self.get_layer(layer_name).output
        return keras.Model(self.input, outputs, name=f"{self.name}_features")


def _is_block_out(layer: keras.layers.Layer) -> bool:
    return layer.name.startswith("conv") and layer.name.endswith("_out") and "_block" in layer.name
