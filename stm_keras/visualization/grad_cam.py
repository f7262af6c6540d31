"""Grad-CAM over time: where and when a clip holds the evidence for a class.

Grad-CAM (Selvaraju et al., 2017) on each sampled frame's feature maps at the last stage (the
last block's output by default): the gradients of the class logit with respect to those maps,
averaged over space, weigh the channels; the weighted sum, through a ReLU, is upsampled to the
frame. One heat map per frame, normalized over the whole clip so that frames compare. The
gradients come from TensorFlow (the Keras backend stm-keras runs on).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from stm_keras.visualization import clips as clip_utils
from stm_keras.visualization.features import UnknownBlockError

COLORMAP = "jet"
OVERLAY_ALPHA = 0.5


class UnknownClassError(ValueError):
    """A class name the model does not have; the message lists the valid ones."""


@dataclasses.dataclass(frozen=True)
class GradCam:
    """What :func:`draw_grad_cam` draws.

    Attributes:
        layer: str. The layer whose per-frame maps are weighed (``"conv5_block3_out"``).
        frames: uint8 ``[T, S, S, 3]``. The input frames as the network sees them.
        maps: float32 ``[T, h, w]``. Grad-CAM at the layer's resolution (after the ReLU, not
            normalized).
        heat: float32 ``[T, S, S]`` in [0, 1]. ``maps`` upsampled bilinearly to the frames and
            divided by the clip's maximum.
        class_index: int. The class explained.
        class_name: str. Its name.
        probability: float. Its probability for this clip.
        predicted: bool. Whether it is the predicted class.
    """

    layer: str
    frames: np.ndarray
    maps: np.ndarray
    heat: np.ndarray
    class_index: int
    class_name: str
    probability: float
    predicted: bool


def class_index(class_names: Sequence[str] | None, name: str) -> int:
    """The index of class ``name`` (also a plain index, for a model without class names).

    Raises:
        UnknownClassError: naming ``name`` and listing the classes.
    """
    names = list(class_names or [])
    if name in names:
        return names.index(name)
    if not names and name.isdigit():
        return int(name)
    raise UnknownClassError(f"no class named {name!r}; classes: {', '.join(names) or 'none'}")


def compute_grad_cam(
    classifier: Any,
    frames: np.ndarray,
    class_name: str | None = None,
    block: str | None = None,
) -> GradCam:
    """Grad-CAM of one clip for ``class_name`` (default: the predicted class).

    Args:
        classifier: STMVideoClassifier, with its preprocessor.
        frames: uint8 ``[frames, height, width, 3]``: the ``T`` frames ``predict.read_clip``
            returns (or a whole video, sampled as evaluation samples it).
        class_name: str or None. The class to explain. Defaults to the predicted class.
        block: str or None. The block whose output is weighed. Defaults to the last block (the
            last stage's output, as Grad-CAM uses the last convolutional maps).

    Raises:
        UnknownClassError, UnknownBlockError: naming the value and listing the valid ones.
    """
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"Grad-CAM needs the TensorFlow backend, Keras runs on {keras.backend.backend()}"
        )
    backbone = classifier.backbone
    blocks = backbone.block_names()
    block = blocks[-1] if block is None else block
    if block not in blocks:
        raise UnknownBlockError(f"no block named {block!r}; blocks: {', '.join(blocks)}")
    layer = f"{block}_out"
    clip = clip_utils.prepare_clip(classifier.preprocessor, frames)
    probabilities = clip_utils.class_probabilities(classifier, clip.clips)
    predicted = int(np.argmax(probabilities))
    index = predicted if class_name is None else class_index(classifier.class_names, class_name)
    if not 0 <= index < len(probabilities):
        raise UnknownClassError(f"class index {index} is out of range 0..{len(probabilities) - 1}")

    model = keras.Model(backbone.input, [backbone.get_layer(layer).output, backbone.output])
    head = classifier.output_dense
    with tf.GradientTape() as tape:
        maps, features = model(tf.constant(clip.clips), training=False)
        # The logit itself, before any output activation of the head.
        logits = tf.matmul(tf.cast(features, head.kernel.dtype), head.kernel)
        if head.use_bias:
            logits = logits + head.bias
        score = logits[0, index]
    gradients = tape.gradient(score, maps)
    maps = tf.cast(maps, tf.float32)
    weights = tf.reduce_mean(tf.cast(gradients, tf.float32), axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1))
    size = clip.view.shape[1:3]
    upsampled = tf.image.resize(cam[..., tf.newaxis], size, method="bilinear")[..., 0].numpy()
    peak = float(upsampled.max())
    heat = upsampled / peak if peak > 0 else np.zeros_like(upsampled)
    return GradCam(
        layer=layer,
        frames=clip.view,
        maps=cam.numpy(),
        heat=heat.astype(np.float32),
        class_index=index,
        class_name=clip_utils.class_name(classifier, index),
        probability=float(probabilities[index]),
        predicted=index == predicted,
    )


def draw_grad_cam(cam: GradCam, path: str) -> str:
    """Draws the frames and, below them, each frame under its heat map into the PNG ``path``.

    Under each heat map: that frame's share of the clip's total heat (when the evidence is).
    """
    num_frames = len(cam.frames)
    figure, grid = clip_utils.frame_grid(
        2, num_frames, label_inches=1.2, bottom_inches=0.5, hspace=0.12, extra_inches=0.25
    )
    total = float(cam.heat.sum())
    image = None
    for t in range(num_frames):
        top = figure.add_subplot(grid[0, t])
        top.imshow(cam.frames[t])
        top.set_title(f"t = {t}", fontsize=9)
        bottom = figure.add_subplot(grid[1, t])
        bottom.imshow(cam.frames[t])
        image = bottom.imshow(cam.heat[t], cmap=COLORMAP, vmin=0.0, vmax=1.0, alpha=OVERLAY_ALPHA)
        share = float(cam.heat[t].sum()) / total if total > 0 else 0.0
        bottom.set_xlabel(f"{share:.0%} of heat", fontsize=8)
        for axes in (top, bottom):
            axes.set_xticks([])
            axes.set_yticks([])
        if t == 0:
            top.set_ylabel("input", fontsize=9)
            bottom.set_ylabel("Grad-CAM", fontsize=9)
    colorbar = figure.colorbar(image, cax=figure.add_subplot(grid[1, num_frames]))
    colorbar.set_label("normalized over the clip", fontsize=7)
    colorbar.ax.tick_params(labelsize=7)
    which = "predicted" if cam.predicted else "not the predicted class"
    figure.suptitle(
        f"Grad-CAM at {cam.layer} for {cam.class_name!r} ({which}, p = {cam.probability:.1%})",
        fontsize=12,
    )
    return clip_utils.save_figure(figure, path)
