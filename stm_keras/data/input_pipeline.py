"""The tf.data input pipeline: preprocessed TFRecord shards to batches of normalized clips.

Per element: parse the ``SequenceExample`` and let the model's ``VideoClassifierPreprocessor``
make the clip (it samples the TSN segment indices first and decodes only those ``T`` JPEGs;
training decodes straight into the multi-scale crop window).
Training reads shards interleaved in parallel, shuffles files and records, repeats forever and
drops the last partial batch; evaluation reads in order with the ``1x1`` centre crop that
``evaluate``, the exported model and ``predict`` also use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from stm_keras.data import schema
from stm_keras.models.video_classifier_preprocessor import VideoClassifierPreprocessor

AUTOTUNE = tf.data.AUTOTUNE
DEFAULT_SHUFFLE_BUFFER = 512
MAX_PARALLEL_READS = 16


@dataclasses.dataclass(frozen=True)
class SplitInfo:
    """Where one split of a preprocessed dataset lives and how big it is.

    Args:
        files: list of str. Shard paths.
        num_examples: int. Videos in the split.
        classes: list of str. Class names, indexed by label.
        dataset: str. Dataset name from ``dataset_info.json`` ("" when absent).
    """

    files: list[str]
    num_examples: int
    classes: list[str]
    dataset: str


def _count_records(files: Sequence[str]) -> int:
    return int(
        tf.data.TFRecordDataset(list(files)).reduce(tf.constant(0, tf.int64), lambda n, _: n + 1)
    )


def load_split(data_dir: str, split: str, info: dict[str, Any] | None = None) -> SplitInfo:
    """Reads ``dataset_info.json`` of a ``stm-keras preprocess`` output for ``split``.

    The video count comes from the split's ``num_written`` (or ``num_examples``) entry; shards
    are counted when dataset_info.json has neither.

    Raises:
        FileNotFoundError: when ``data_dir`` holds no dataset_info.json or a listed shard.
        ValueError: when the split is absent.
    """
    info = info if info is not None else schema.load_dataset_info(data_dir)
    files = schema.split_files(data_dir, split, info)
    missing = [path for path in files if not tf.io.gfile.exists(path)]
    if missing:
        raise FileNotFoundError(f"shard {missing[0]} listed in dataset_info.json does not exist")
    entry = info["splits"][split]
    # 'stm-keras preprocess' records num_written; other writers may say num_examples.
    num_examples = entry.get("num_written", entry.get("num_examples"))
    if num_examples is None:
        num_examples = _count_records(files)
    classes = [str(name) for name in info.get("classes", [])]
    return SplitInfo(files, int(num_examples), classes, str(info.get("dataset", "")))


def decode_clip(
    serialized: tf.Tensor,
    preprocessor: VideoClassifierPreprocessor,
    training: bool,
    seed: int | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Turns one serialized record into a normalized clip and its label.

    Args:
        serialized: string scalar. A ``SequenceExample`` written by ``schema.encode``.
        preprocessor: VideoClassifierPreprocessor. Its ``train_clip`` (training) or
            ``eval_clip`` (evaluation) makes the clip.
        training: bool. Training view (random frames, multi-scale crop, flip per the
            preprocessor) or the ``1x1`` evaluation view.
        seed: int. Op seed for sampling and augmentation. Defaults to None.

    Returns:
        ``(clip, label)``: float32 ``[T, S, S, 3]`` normalized, and int32 scalar label.
    """
    parsed = schema.parse(serialized)
    if training:
        clip = preprocessor.train_clip(parsed["frames"], parsed["num_frames"], seed=seed)
    else:
        clip = preprocessor.eval_clip(parsed["frames"], parsed["num_frames"])
    return clip, tf.cast(parsed["label"], tf.int32)


def make_dataset(
    files: Sequence[str],
    preprocessor: VideoClassifierPreprocessor,
    batch_size: int,
    training: bool,
    shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER,
    repeat: bool | None = None,
    seed: int | None = None,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """Batches of ``(clip, label)`` from TFRecord shards.

    Args:
        files: list of str. Shard paths of one split.
        preprocessor: VideoClassifierPreprocessor. Frames per clip, crop size, augmentation
            (flip included) and normalization.
        batch_size: int. Clips per batch (per replica under a distribution strategy).
        training: bool. Shuffle, augment, repeat and drop the last partial batch when True.
        shuffle_buffer: int. Records held for shuffling in training. Defaults to 512.
        repeat: bool. Repeat forever; defaults to ``training``.
        seed: int. Seed for shuffling and augmentation (reproducible draws). Defaults to None.
        input_context: ``tf.distribute.InputContext``. With several input pipelines (workers),
            each reads its own share of the files (of the records when files are fewer than
            pipelines). Defaults to None.

    Returns:
        A ``tf.data.Dataset`` of float32 ``[B, T, S, S, 3]`` clips and int32 ``[B]`` labels.
    """
    if not files:
        raise ValueError("no TFRecord files given")
    repeat = training if repeat is None else repeat
    dataset = tf.data.Dataset.from_tensor_slices(list(files))
    num_pipelines = input_context.num_input_pipelines if input_context else 1
    shard_files = num_pipelines > 1 and len(files) >= num_pipelines
    if shard_files:
        dataset = dataset.shard(num_pipelines, input_context.input_pipeline_id)
    if training:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(files), MAX_PARALLEL_READS),
        num_parallel_calls=AUTOTUNE,
        deterministic=not training,
    )
    if num_pipelines > 1 and not shard_files:
        dataset = dataset.shard(num_pipelines, input_context.input_pipeline_id)
    if training:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.map(
        lambda serialized: decode_clip(serialized, preprocessor, training, seed),
        num_parallel_calls=AUTOTUNE,
        deterministic=not training,
    )
    dataset = dataset.batch(batch_size, drop_remainder=training)
    options = tf.data.Options()
    # Sharding is done above, by file; the strategy must not shard again.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options).prefetch(AUTOTUNE)


def distributed_dataset(
    strategy: tf.distribute.Strategy, files: Sequence[str], global_batch_size: int, **kwargs: Any
) -> Any:
    """A dataset distributed over ``strategy``'s replicas, one input pipeline per worker.

    Each pipeline batches ``global_batch_size / num_replicas`` clips, so a step consumes
    ``global_batch_size`` clips in all. ``kwargs`` go to :func:`make_dataset`.
    """

    def dataset_fn(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
        batch_size = input_context.get_per_replica_batch_size(global_batch_size)
        return make_dataset(files, batch_size=batch_size, input_context=input_context, **kwargs)

    return strategy.distribute_datasets_from_function(dataset_fn)


def sampled_frames(
    data_dir: str,
    split: str,
    preprocessor: VideoClassifierPreprocessor,
    limit: int | None = None,
) -> Iterator[tuple[np.ndarray, int]]:
    """The decoded ``1x1`` frames of each video of a split, for models that take raw video.

    Yields, in shard order, uint8 ``[T, height, width, 3]``: the frames evaluation samples
    (the middle frame of each of ``T`` segments), decoded at their stored size, and the label.
    Exported models (LiteRT calibration, ``bench export``) run their own resize and crop.

    Args:
        data_dir: str. A ``stm-keras preprocess`` output.
        split: str. Split name in its ``dataset_info.json``.
        preprocessor: VideoClassifierPreprocessor. Its ``T`` and sampling.
        limit: int or None. At most this many videos. Defaults to all.
    """
    split_info = load_split(data_dir, split)

    def decode(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        parsed = schema.parse(serialized)
        indices = preprocessor.sample_indices(parsed["num_frames"], training=False)
        frames = tf.map_fn(
            lambda jpeg: tf.io.decode_jpeg(jpeg, channels=3),
            tf.gather(parsed["frames"], indices),
            fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
        )
        return frames, tf.cast(parsed["label"], tf.int32)

    dataset = tf.data.TFRecordDataset(split_info.files).map(decode)
    if limit is not None:
        dataset = dataset.take(limit)
    for frames, label in dataset.as_numpy_iterator():
        yield frames, int(label)
