"""VideoClassifierPreprocessor: every pixel operation between a video and the STM network.

One object owns frame sampling (TSN segments for training, evenly spaced clips for testing),
resize and crop geometry (the multi-scale corner crop for training, the centre crop and the
three crops of the test protocol), the flip policy and normalization. The tf.data training and
validation pipeline, ``evaluate``, the exported serving graph and ``predict`` all call it, so a
video reaches the network the same way on every path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import keras
import keras_hub

from stm_keras.models.stm_backbone import STMBackbone

try:
    import tensorflow as tf

    from stm_keras.data import augment, sampling, transforms
except ModuleNotFoundError as error:
    # A host with Keras on JAX and no TensorFlow (a GPU benchmark machine) still imports the
    # model API and runs the network; only the preprocessor's ops need TensorFlow.
    if error.name != "tensorflow":
        raise
    tf = augment = sampling = transforms = None

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LABELS_FILE = "labels.txt"


@dataclasses.dataclass(frozen=True)
class Protocol:
    """A test protocol: ``num_crops`` spatial views of each of ``num_clips`` temporal clips."""

    name: str
    num_clips: int
    num_crops: int

    @property
    def num_views(self) -> int:
        return self.num_clips * self.num_crops


PROTOCOLS = {
    "1x1": Protocol("1x1", num_clips=1, num_crops=1),
    "3x10": Protocol("3x10", num_clips=10, num_crops=3),
}


@keras.saving.register_keras_serializable(package="stm_keras")
class VideoClassifierPreprocessor(keras_hub.models.Preprocessor):
    """Turns videos into the normalized clips an ``STMBackbone`` takes.

    Calling the layer applies the test-time view (protocol ``1x1``) to raw videos: uint8 (or
    0..255 float) ``[batch, frames, height, width, 3]`` or one ``[frames, height, width, 3]``
    video, any frame count ≥ 1 and any size → float32 ``[batch, T, S, S, 3]``: ``T`` frames,
    the middle of each of ``T`` equal segments; the short side resized to ``scale_size``; the
    centre ``S``×``S`` crop; ImageNet mean/std normalization. Labels and sample weights pass
    through, so it maps over ``(video, label)`` datasets as keras-hub preprocessors do.

    The methods do the rest of the work for the input pipelines: ``train_clip`` (random frame
    per segment, TSN's multi-scale corner crop, optional flip, decoding only the sampled JPEGs
    and only their crop window), ``eval_clip`` (the ``1x1`` view of JPEG frames) and
    ``test_views`` (the paper's ``3x10`` protocol: 10 clips × 3 crops).

    The class names travel with the preprocessor (``assets/labels.txt`` of a preset), as a
    tokenizer's vocabulary does in keras-hub.

    Args:
        num_segments: int. ``T``, frames per clip. Defaults to 8.
        image_size: int. ``S``, the side of the square crop fed to the network. Defaults to 224.
        scale_size: int or None. Short side that test-time views resize to before cropping.
            None: ``round(image_size * 256 / 224)``, 256 for 224 as in the paper.
        mean: sequence of 3 floats. Per-channel mean of [0, 1] RGB. Defaults to ImageNet's.
        std: sequence of 3 floats. Per-channel standard deviation. Defaults to ImageNet's.
        flip: bool. Random horizontal flip in training. Refuse it for datasets whose labels
            name a direction (``check_flip``). Defaults to False.
        class_names: sequence of str or None. Class names in output order. Defaults to None.
        **kwargs: Standard layer arguments.
    """

    backbone_cls = STMBackbone

    def __init__(
        self,
        num_segments: int = 8,
        image_size: int = 224,
        scale_size: int | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        flip: bool = False,
        class_names: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if tf is None:
            raise ModuleNotFoundError(
                "VideoClassifierPreprocessor needs TensorFlow (pip install tensorflow); "
                "the backbone and classifier run without it"
            )
        super().__init__(**kwargs)
        if int(num_segments) < 1 or int(image_size) < 1:
            raise ValueError(
                f"num_segments and image_size must be >= 1, got {num_segments}, {image_size}"
            )
        self.num_segments = int(num_segments)
        self._image_size_value = int(image_size)
        self.scale_size = (
            int(scale_size) if scale_size is not None else transforms.scale_size_for(image_size)
        )
        if self.scale_size < self._image_size_value:
            raise ValueError(f"scale_size {self.scale_size} is below image_size {image_size}")
        self.mean = tuple(float(value) for value in mean)
        self.std = tuple(float(value) for value in std)
        self.flip = bool(flip)
        self.class_names = None if class_names is None else [str(name) for name in class_names]

    # keras-hub's Preprocessor.image_size reads an image converter; a video preprocessor has
    # the crop size itself.
    @property
    def image_size(self) -> int:
        """``S``, the side of the network's square input."""
        return self._image_size_value

    @image_size.setter
    def image_size(self, value: int) -> None:
        self._image_size_value = int(value)

    # === Ops: TensorFlow, usable eagerly and inside tf.data / tf.function ===

    def normalize(self, frames: tf.Tensor) -> tf.Tensor:
        """0..255 RGB ``[..., 3]`` → float32, scaled to [0, 1] then mean/std normalized."""
        frames = tf.cast(frames, tf.float32) / 255.0
        return (frames - tf.constant(self.mean)) / tf.constant(self.std)

    def sample_indices(
        self, num_frames: tf.Tensor | int, training: bool, seed: int | None = None
    ) -> tf.Tensor:
        """int32 ``[T]`` frame indices of one clip: a random frame (training) or the middle
        frame (evaluation) of each of ``T`` equal segments of a ``num_frames`` video."""
        return sampling.segment_indices(num_frames, self.num_segments, training, seed=seed)

    def clip_indices(self, num_frames: tf.Tensor | int, num_clips: int) -> tf.Tensor:
        """int32 ``[num_clips, T]``: the test protocol's clips, evenly spaced over the video."""
        return sampling.multi_clip_indices(num_frames, self.num_segments, num_clips)

    def center_view(self, frames: tf.Tensor) -> tf.Tensor:
        """float32 ``[..., S, S, 3]`` (not normalized): short side to ``scale_size``, centre
        crop, for frames ``[..., H, W, 3]``."""
        resized = transforms.resize_short_side(frames, self.scale_size)
        return transforms.center_crop(resized, self.image_size)

    def three_crop_views(self, frames: tf.Tensor) -> tf.Tensor:
        """float32 ``[3, ..., S, S, 3]`` (not normalized): the protocol's three crops."""
        return transforms.three_crop_views(frames, self.image_size, self.scale_size)

    def train_clip(
        self, jpegs: tf.Tensor, num_frames: tf.Tensor | int, seed: int | None = None
    ) -> tf.Tensor:
        """The training view of a video stored as JPEG frames.

        Samples one random frame per segment, decodes only those frames and only inside one
        multi-scale corner crop window drawn per clip, resizes to ``S``, flips the whole clip
        with probability 0.5 when ``flip`` is on, and normalizes.

        Args:
            jpegs: string ``[num_frames]``. All frames of the video, JPEG-encoded.
            num_frames: int scalar (tensor). ``len(jpegs)``.
            seed: int. Op seed for the draws. Defaults to None.

        Returns:
            float32 ``[T, S, S, 3]``.
        """
        indices = self.sample_indices(num_frames, training=True, seed=seed)
        sampled = tf.gather(jpegs, indices)
        # The JPEG header gives the true stored size, whatever a record's context says.
        shape = tf.image.extract_jpeg_shape(sampled[0])
        view_seed = None if seed is None else seed + 1  # independent of the sampling draws
        clip = augment.train_view(
            sampled, shape[0], shape[1], self.image_size, flip=self.flip, seed=view_seed
        )
        clip = tf.ensure_shape(clip, [self.num_segments, self.image_size, self.image_size, 3])
        return self.normalize(clip)

    def eval_clip(self, jpegs: tf.Tensor, num_frames: tf.Tensor | int) -> tf.Tensor:
        """The ``1x1`` view of a video stored as JPEG frames: float32 ``[T, S, S, 3]``."""
        return self.test_views(jpegs, PROTOCOLS["1x1"], num_frames)[0]

    def test_views(
        self, jpegs: tf.Tensor, protocol: Protocol, num_frames: tf.Tensor | int | None = None
    ) -> tf.Tensor:
        """All views of ``protocol`` of a video stored as JPEG frames.

        Only the frames some view uses are decoded, each once, however many clips share it.

        Args:
            jpegs: string ``[num_frames]``. One JPEG per frame.
            protocol: Protocol. ``PROTOCOLS["1x1"]`` or ``PROTOCOLS["3x10"]``.
            num_frames: int scalar (tensor) or None. ``len(jpegs)``. Defaults to its shape.

        Returns:
            float32 ``[num_views, T, S, S, 3]``, normalized, crop-major (all clips of the
            first crop, then all clips of the second, ...).
        """
        if num_frames is None:
            num_frames = tf.shape(jpegs)[0]
        indices = self.clip_indices(num_frames, protocol.num_clips)
        unique_indices, position = tf.unique(tf.reshape(indices, [-1]))
        decoded = tf.map_fn(
            lambda jpeg: tf.io.decode_jpeg(jpeg, channels=3),
            tf.gather(jpegs, unique_indices),
            fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
        )
        # Spatial transforms act on each frame alone, so cropping the distinct frames once and
        # then gathering them into clips equals cropping every clip.
        if protocol.num_crops == 1:
            crops = self.center_view(decoded)[tf.newaxis]
        else:
            crops = self.three_crop_views(decoded)
        views = tf.gather(crops, position, axis=1)
        size = self.image_size
        views = tf.reshape(views, [protocol.num_views, self.num_segments, size, size, 3])
        return self.normalize(views)

    def video_clips(self, videos: tf.Tensor) -> tf.Tensor:
        """The ``1x1`` view of decoded videos: what calling the layer does to its input.

        Args:
            videos: uint8 (or 0..255) ``[batch, frames, height, width, 3]``.

        Returns:
            float32 ``[batch, T, S, S, 3]``, normalized.
        """
        indices = self.sample_indices(tf.shape(videos)[1], training=False)
        clips = tf.gather(videos, indices, axis=1)
        shape = tf.shape(clips)
        # tf.image.resize takes at most one batch dimension: fold clips into it and back.
        frames = tf.reshape(clips, tf.concat([[-1], shape[2:]], axis=0))
        frames = self.center_view(frames)
        size = self.image_size
        return self.normalize(tf.reshape(frames, [shape[0], self.num_segments, size, size, 3]))

    def call(self, x: Any, y: Any = None, sample_weight: Any = None) -> Any:
        videos = tf.convert_to_tensor(x)
        single = videos.shape.rank == 4
        if single:
            videos = videos[tf.newaxis]
        if videos.shape.rank != 5 or (videos.shape[-1] not in (None, 3)):
            raise ValueError(
                "VideoClassifierPreprocessor takes RGB video [batch, frames, height, width, 3] "
                f"or [frames, height, width, 3], got shape {videos.shape}"
            )
        clips = self.video_clips(videos)
        if single:
            clips = clips[0]
        return keras.utils.pack_x_y_sample_weight(clips, y, sample_weight)

    # === Flip policy ===

    @staticmethod
    def flip_allowed(dataset: augment.DatasetInfo) -> bool:
        """Whether horizontal flipping keeps the labels of ``dataset`` valid.

        Args:
            dataset: dict, str or None. The contents of ``dataset_info.json`` (its
                ``direction_sensitive`` entry decides) or a dataset name.
        """
        return augment.flip_allowed(dataset)

    def check_flip(self, dataset: augment.DatasetInfo) -> None:
        """Raises ValueError naming ``dataset`` when ``flip`` is on for a direction-sensitive
        dataset (a ``dataset_info.json`` dict or a name, as ``flip_allowed``)."""
        augment.check_flip(dataset, self.flip)

    # === Serialization ===

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "num_segments": self.num_segments,
                "image_size": self.image_size,
                "scale_size": self.scale_size,
                "mean": list(self.mean),
                "std": list(self.std),
                "flip": self.flip,
            }
        )
        return config

    def save_assets(self, dir_path: str) -> None:
        """Writes ``labels.txt`` (one class name per line) into ``dir_path``."""
        if self.class_names is None:
            return
        bad = [name for name in self.class_names if "\n" in name or "\r" in name]
        if bad:
            raise ValueError(f"class names cannot contain line breaks: {bad}")
        with tf.io.gfile.GFile(f"{dir_path}/{LABELS_FILE}", "w") as f:
            f.write("".join(f"{name}\n" for name in self.class_names))

    def load_assets(self, dir_path: str) -> None:
        """Reads ``labels.txt`` from ``dir_path`` when present."""
        path = f"{dir_path}/{LABELS_FILE}"
        if tf.io.gfile.exists(path):
            with tf.io.gfile.GFile(path) as f:
                self.class_names = f.read().splitlines()

    def save_to_preset(self, preset_dir: str) -> None:
        """Writes ``preprocessor.json`` and ``assets/labels.txt`` into ``preset_dir``."""
        super().save_to_preset(preset_dir)
        asset_dir = f"{preset_dir}/assets"
        tf.io.gfile.makedirs(asset_dir)
        self.save_assets(asset_dir)

    def load_preset_assets(self, preset: str) -> None:
        """Reads the class names from ``assets/labels.txt`` of ``preset`` (local or remote)."""
        from keras_hub.src.utils.preset_utils import check_file_exists, get_file

        path = f"assets/{LABELS_FILE}"
        if check_file_exists(preset, path):
            local = get_file(preset, path)
            self.load_assets(local.rsplit("/", 1)[0])
