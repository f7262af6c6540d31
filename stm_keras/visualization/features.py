"""The paper's Figure 1 for one block: input frames, then the feature maps entering the block,
CSTM's output, CMM's output and the block's output, one column per sampled frame.

Each feature row is the channel-mean magnitude (mean of ``|x|`` over channels) of a layer's
per-frame output, min-max normalized over the whole row so that rows compare frames with each
other. The rows are computed by :func:`compute_feature_rows` and drawn by
:func:`draw_feature_rows`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from stm_keras.visualization import clips as clip_utils

DEFAULT_BLOCK = "conv2_block1"
STEM_OUTPUT_LAYER = "pool1_pool"
INPUT_ROW = "input frame"
BLOCK_INPUT_ROW = "block input"
CSTM_ROW = "CSTM output"
CMM_ROW = "CMM output"
BLOCK_OUTPUT_ROW = "block output"
FEATURE_ROWS = (BLOCK_INPUT_ROW, CSTM_ROW, CMM_ROW, BLOCK_OUTPUT_ROW)
COLORMAP = "inferno"
CMM_PADDING_NOTE = (
    "CMM's last step is the zero map it appends (there is no frame t+1): drawn, but it carries "
    "no motion."
)


class UnknownBlockError(ValueError):
    """A block name the backbone does not have; the message lists the valid ones."""


@dataclasses.dataclass(frozen=True)
class FeatureRows:
    """What :func:`draw_feature_rows` draws.

    Attributes:
        block: str. The block shown (``"conv3_block1"``).
        frames: uint8 ``[T, S, S, 3]``. The input frames as the network sees them (resized,
            cropped, not normalized).
        rows: dict of row title to float32 ``[T, h, w]`` in [0, 1]: the channel-mean magnitude
            of each feature row's layer, normalized over the row, in drawing order.
        layers: dict of row title to the layer whose output the row shows.
        class_name: str. The predicted class.
        probability: float. Its probability.
        notes: list of str. What the picture leaves out or draws that carries no signal.
    """

    block: str
    frames: np.ndarray
    rows: dict[str, np.ndarray]
    layers: dict[str, str]
    class_name: str
    probability: float
    notes: list[str]


def _check_block(backbone: Any, block: str) -> list[str]:
    blocks = backbone.block_names()
    if block not in blocks:
        raise UnknownBlockError(f"no block named {block!r}; blocks: {', '.join(blocks)}")
    return blocks


def block_feature_layers(backbone: Any, block: str) -> dict[str, str | None]:
    """The layer behind each feature row of ``block`` (None where the block has no such part).

    Block input: the previous block's output (the stem's max-pool for the first block). CSTM
    output: the CSTM branch's ReLU (``_2_relu`` in a bottleneck, ``_1_relu`` in a basic block),
    present only when the block has CSTM's temporal conv. CMM output: the ``_cmm`` layer.
    Block output: the block's ``_out`` layer.

    Raises:
        UnknownBlockError: for a name that is not one of ``backbone.block_names()``.
    """
    blocks = _check_block(backbone, block)
    layer_names = {layer.name for layer in backbone.layers}
    index = blocks.index(block)
    branch = "2" if f"{block}_3_conv" in layer_names else "1"
    has_cstm = f"{block}_{branch}_temporal" in layer_names
    return {
        BLOCK_INPUT_ROW: STEM_OUTPUT_LAYER if index == 0 else f"{blocks[index - 1]}_out",
        CSTM_ROW: f"{block}_{branch}_relu" if has_cstm else None,
        CMM_ROW: f"{block}_cmm" if f"{block}_cmm" in layer_names else None,
        BLOCK_OUTPUT_ROW: f"{block}_out",
    }


def channel_mean_magnitude(maps: np.ndarray) -> np.ndarray:
    """float32 ``[..., h, w]``: the mean of ``|x|`` over the last (channel) axis."""
    return np.abs(np.asarray(maps, np.float32)).mean(axis=-1)


def normalize_row(row: np.ndarray) -> np.ndarray:
    """Min-max normalizes a whole row (every frame together) to [0, 1]; a flat row gives 0."""
    row = np.asarray(row, np.float32)
    low, high = float(row.min()), float(row.max())
    if high - low <= 0:
        return np.zeros_like(row)
    return (row - low) / (high - low)


def compute_feature_rows(
    classifier: Any, frames: np.ndarray, block: str = DEFAULT_BLOCK
) -> FeatureRows:
    """The rows of Figure 1 for ``block`` of ``classifier`` on one clip.

    Args:
        classifier: STMVideoClassifier, with its preprocessor.
        frames: uint8 ``[frames, height, width, 3]``: the ``T`` frames ``predict.read_clip``
            returns (or a whole video, sampled as evaluation samples it).
        block: str. One of ``classifier.backbone.block_names()``. Defaults to
            ``DEFAULT_BLOCK``.

    Raises:
        UnknownBlockError: for an unknown ``block``, listing the valid names.
    """
    backbone = classifier.backbone
    layers = block_feature_layers(backbone, block)
    present = {row: layer for row, layer in layers.items() if layer is not None}
    clip = clip_utils.prepare_clip(classifier.preprocessor, frames)
    extractor = backbone.feature_extractor(list(dict.fromkeys(present.values())))
    outputs = extractor(clip.clips, training=False)
    rows = {
        row: normalize_row(channel_mean_magnitude(np.asarray(outputs[layer])))
        for row, layer in present.items()
    }
    probabilities = clip_utils.class_probabilities(classifier, clip.clips)
    index = int(np.argmax(probabilities))
    notes = []
    if backbone.is_tsn:
        notes.append("A TSN model: its blocks have no CSTM and no CMM to show.")
    elif layers[CSTM_ROW] is None and layers[CMM_ROW] is None:
        notes.append(f"{block} is a plain ResNet block in this model: no CSTM and no CMM.")
    elif layers[CSTM_ROW] is None:
        notes.append(f"{block} has no CSTM (temporal conv off): its row is left out.")
    elif layers[CMM_ROW] is None:
        notes.append(f"{block} has no CMM (motion module off): its row is left out.")
    if layers[CMM_ROW] is not None:
        notes.append(CMM_PADDING_NOTE)
    return FeatureRows(
        block=block,
        frames=clip.view,
        rows=rows,
        layers=present,
        class_name=clip_utils.class_name(classifier, index),
        probability=float(probabilities[index]),
        notes=notes,
    )


def draw_feature_rows(rows: FeatureRows, path: str) -> str:
    """Draws ``rows`` as a grid (rows × sampled frames) into the PNG ``path``; returns it."""
    num_frames = len(rows.frames)
    titles = [INPUT_ROW, *rows.rows]
    figure, grid = clip_utils.frame_grid(
        len(titles), num_frames, label_inches=1.9, bottom_inches=0.45, hspace=0.08
    )
    image = None
    for row_index, title in enumerate(titles):
        for t in range(num_frames):
            axes = figure.add_subplot(grid[row_index, t])
            axes.set_xticks([])
            axes.set_yticks([])
            if title == INPUT_ROW:
                axes.imshow(rows.frames[t])
                axes.set_title(f"t = {t}", fontsize=9)
            else:
                image = axes.imshow(
                    rows.rows[title][t],
                    cmap=COLORMAP,
                    vmin=0.0,
                    vmax=1.0,
                    interpolation="nearest",
                )
                if title == CMM_ROW and t == num_frames - 1:
                    axes.text(
                        0.5,
                        0.5,
                        "zero\npadding",
                        color="white",
                        fontsize=8,
                        ha="center",
                        va="center",
                        transform=axes.transAxes,
                    )
            if t == 0:
                label = title if title == INPUT_ROW else f"{title}\n{rows.layers[title]}"
                axes.set_ylabel(label, fontsize=9, rotation=0, ha="right", va="center")
    if image is not None:
        colorbar = figure.colorbar(image, cax=figure.add_subplot(grid[1:, num_frames]))
        colorbar.set_label("channel-mean |activation|, normalized per row", fontsize=8)
        colorbar.ax.tick_params(labelsize=7)
    figure.suptitle(
        f"{rows.block}: predicted {rows.class_name!r} ({rows.probability:.1%})", fontsize=12
    )
    if rows.notes:
        figure.text(0.01, 0.01, "  ".join(rows.notes), fontsize=7.5, ha="left", va="bottom")
    return clip_utils.save_figure(figure, path)
