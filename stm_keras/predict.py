"""Classifies videos and frame folders with an export (SavedModel, ``.tflite``, ``.onnx``), a
preset or a model directory, and gives their clip features.

The clip is sampled on the host with the model's ``VideoClassifierPreprocessor`` (the middle
frame of each of ``T`` segments, as evaluation samples), so only ``T`` frames are ever converted
and kept in memory, and a video is decoded only up to its last sampled frame. The model's own
preprocessing (resize, crop, normalization) does the rest; on ``T`` frames its frame sampling
keeps every frame, so every model kind sees the same pixels.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


class DecodeError(Exception):
    """An input that cannot be read as a video or frame folder; the message names it."""


def sample_indices(num_frames: int, preprocessor: Any) -> list[int]:
    """Evaluation's frame indices of a ``num_frames`` video (one clip, middle of each segment)."""
    return preprocessor.sample_indices(num_frames, training=False).numpy().tolist()


def _natural_key(name: str) -> list[object]:
    # Frame files are numbered, not always zero-padded: frame10 sorts after frame9.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def read_frame_folder(path: str, preprocessor: Any) -> np.ndarray:
    """The sampled frames of a folder of images (sorted by name, numbers compared as numbers).

    Returns:
        uint8 ``[T, height, width, 3]`` RGB.
    """
    from PIL import Image

    names = sorted(
        (name for name in os.listdir(path) if name.lower().endswith(IMAGE_EXTENSIONS)),
        key=_natural_key,
    )
    if not names:
        raise DecodeError(f"{path}: frame folder holds no {'/'.join(IMAGE_EXTENSIONS)} images")
    frames = []
    for index in sample_indices(len(names), preprocessor):
        frame_path = os.path.join(path, names[index])
        try:
            with Image.open(frame_path) as image:
                frames.append(np.asarray(image.convert("RGB")))
        except OSError as error:
            raise DecodeError(f"{frame_path}: cannot decode image ({error})") from error
    if len({frame.shape for frame in frames}) > 1:
        raise DecodeError(f"{path}: frames differ in size")
    return np.stack(frames)


def _count_video_frames(path: str) -> int:
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        if stream.frames > 0:
            return stream.frames
        # WebM and some other containers do not store a frame count; demuxing without decoding
        # counts the frames cheaply.
        return sum(1 for packet in container.demux(stream) if packet.size > 0)


def _decode_video_frames(path: str, indices: Sequence[int]) -> tuple[dict[int, np.ndarray], int]:
    """Decodes frames up to ``max(indices)``, converting only ``indices`` to RGB arrays.

    Returns:
        The frames by index, and the number of frames decoded (fewer than ``max(indices) + 1``
        when the video is shorter than its container said).
    """
    import av

    wanted = set(indices)
    last = max(indices)
    frames: dict[int, np.ndarray] = {}
    decoded = 0
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
            decoded = index + 1
            if index in wanted:
                frames[index] = frame.to_ndarray(format="rgb24")
            if index >= last:
                break
    return frames, decoded


def read_video(path: str, preprocessor: Any) -> np.ndarray:
    """The sampled frames of an encoded video (any container and codec PyAV decodes).

    Returns:
        uint8 ``[T, height, width, 3]`` RGB.
    """
    import av

    try:
        num_frames = _count_video_frames(path)
        if num_frames < 1:
            raise DecodeError(f"{path}: the video has no frames")
        indices = sample_indices(num_frames, preprocessor)
        frames, decoded = _decode_video_frames(path, indices)
        if decoded < num_frames and len(frames) < len(set(indices)):
            # The container overstated its length: sample again from the frames that exist.
            if decoded == 0:
                raise DecodeError(f"{path}: no frame could be decoded")
            indices = sample_indices(decoded, preprocessor)
            frames, decoded = _decode_video_frames(path, indices)
        if len(frames) < len(set(indices)):
            raise DecodeError(f"{path}: frames {sorted(set(indices) - set(frames))} missing")
    except (av.FFmpegError, OSError, IndexError) as error:
        reason = "no video stream" if isinstance(error, IndexError) else str(error)
        raise DecodeError(f"{path}: cannot decode video ({reason})") from error
    return np.stack([frames[index] for index in indices])


def read_clip(path: str, preprocessor: Any) -> np.ndarray:
    """The ``T`` RGB frames ``preprocessor`` samples from a video file or frame folder.

    Raises:
        DecodeError: naming ``path``, when it is missing or cannot be decoded.
    """
    if os.path.isdir(path):
        return read_frame_folder(path, preprocessor)
    if not os.path.isfile(path):
        raise DecodeError(f"{path}: no such file or directory")
    return read_video(path, preprocessor)


def fit_to_input(frames: np.ndarray, fixed_input: Sequence[int] | None) -> np.ndarray:
    """Frames ``[n, H, W, 3]`` for a model's input: unchanged for a dynamic input; for a fixed
    ``(frames, height, width)`` input, that many frames sampled as evaluation samples them
    (middle of each segment) and each resized (bilinear) to ``height`` x ``width``."""
    if fixed_input is None:
        return frames
    import tensorflow as tf

    from stm_keras.data import sampling

    num_frames, height, width = fixed_input
    indices = sampling.segment_indices(len(frames), num_frames, training=False).numpy()
    resized = tf.image.resize(tf.constant(frames[indices]), [height, width])
    return np.asarray(tf.cast(tf.round(tf.clip_by_value(resized, 0, 255)), tf.uint8))


@dataclasses.dataclass
class Predictor:
    """A loaded classifier: maps clips to class probabilities and clip features.

    Attributes:
        class_names: list of str. In output order.
        preprocessor: VideoClassifierPreprocessor. Samples frames from a video on the host.
        serve: callable. uint8 ``[batch, frames, height, width, 3]`` array to a dict of numpy
            arrays with ``probabilities`` and ``features``.
        source: str. Where it was loaded from.
        format: str. ``saved_model``, ``litert``, ``onnx`` or ``keras`` (preset / model dir).
        fixed_input: ``[frames, height, width]`` of a fixed-shape export, or None.
    """

    class_names: list[str]
    preprocessor: Any
    serve: Callable[[np.ndarray], dict[str, np.ndarray]]
    source: str
    format: str = "keras"
    fixed_input: list[int] | None = None

    def read_clip(self, path: str) -> np.ndarray:
        """The sampled frames of a video file or frame folder (see ``read_clip``)."""
        return read_clip(path, self.preprocessor)

    def run(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """``probabilities`` ``[num_classes]`` and ``features`` ``[D]`` (float32) of one clip
        ``[frames, height, width, 3]``."""
        outputs = self.serve(fit_to_input(frames, self.fixed_input)[np.newaxis])
        return {key: np.asarray(value)[0] for key, value in outputs.items()}

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """float32 ``[num_classes]`` probabilities of one clip ``[frames, height, width, 3]``."""
        from stm_keras.export import PROBABILITIES_KEY

        return self.run(frames)[PROBABILITIES_KEY]


def litert_runner(
    model: bytes | str, num_threads: int | None = None
) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """A callable running a ``.tflite`` model (bytes or path) on uint8 video batches with the
    plain LiteRT interpreter (``ai-edge-litert``): the ``serving_default`` signature's outputs.

    Args:
        model: bytes or str. The flatbuffer, or its path.
        num_threads: int or None. CPU threads; defaults to every core (TensorFlow and
            onnxruntime use every core too).
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as error:
        raise ValueError(
            "running a .tflite model needs ai-edge-litert: pip install 'stm-keras[litert]'"
        ) from error
    from stm_keras import export

    threads = num_threads or os.cpu_count() or 1
    if isinstance(model, bytes):
        interpreter = Interpreter(model_content=model, num_threads=threads)
    else:
        interpreter = Interpreter(model_path=model, num_threads=threads)
    runner = interpreter.get_signature_runner(export.SIGNATURE_KEY)

    def run(video: np.ndarray) -> dict[str, np.ndarray]:
        outputs = runner(**{export.INPUT_KEY: np.ascontiguousarray(video, dtype=np.uint8)})
        return {key: outputs[key] for key in (export.PROBABILITIES_KEY, export.FEATURES_KEY)}

    return run


def onnx_runner(path: str) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """A callable running an ``.onnx`` export with onnxruntime (CPU) on uint8 video batches."""
    try:
        import onnxruntime
    except ImportError as error:
        raise ValueError(
            "running an .onnx model needs onnxruntime: pip install 'stm-keras[onnx]'"
        ) from error
    from stm_keras import export

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    input_name = session.get_inputs()[0].name

    def run(video: np.ndarray) -> dict[str, np.ndarray]:
        outputs = dict(zip(names, session.run(names, {input_name: video}), strict=True))
        return {key: outputs[key] for key in (export.PROBABILITIES_KEY, export.FEATURES_KEY)}

    return run


def _export_preprocessor(path: str) -> tuple[Any, dict[str, Any]]:
    from stm_keras import export
    from stm_keras.models import VideoClassifierPreprocessor

    preprocessing = export.read_preprocessing(path)
    config = preprocessing.get(
        "preprocessor",
        # Exports of stm-keras 0.1 record only these two.
        {"num_segments": preprocessing["frames"], "image_size": preprocessing["image_size"]},
    )
    return VideoClassifierPreprocessor(**config), preprocessing


def load_predictor(path: str) -> Predictor:
    """Loads an export (SavedModel directory, ``.tflite`` or ``.onnx`` file from ``stm-keras
    export``), or a preset / handle / ``stm-keras fit`` model directory.

    Raises:
        ValueError, FileNotFoundError: naming ``path``, when it holds no model or a file the
            export writes beside it (labels.txt, preprocessing.json) is missing.
    """
    from stm_keras import export, model_dir

    if os.path.isfile(path) and path.endswith((".tflite", ".onnx")):
        runner = litert_runner(path) if path.endswith(".tflite") else onnx_runner(path)
        try:
            preprocessor, preprocessing = _export_preprocessor(path)
            labels = export.read_labels(path)
        except FileNotFoundError as error:
            raise ValueError(
                f"{path}: {os.path.basename(error.filename)} is missing beside it (stm-keras "
                "export writes labels.txt and preprocessing.json next to the model)"
            ) from error
        kind = "litert" if path.endswith(".tflite") else "onnx"
        return Predictor(labels, preprocessor, runner, path, kind, preprocessing.get("fixed_input"))
    if os.path.isfile(os.path.join(path, export.SAVED_MODEL_FILE)):
        import tensorflow as tf

        loaded = tf.saved_model.load(path)

        def serve_saved_model(video: np.ndarray) -> dict[str, np.ndarray]:
            # Looked up through `loaded` on each call: a signature outliving its loaded object
            # loses its variables.
            signature = loaded.signatures[export.SIGNATURE_KEY]
            outputs = signature(**{export.INPUT_KEY: tf.constant(video)})
            return {key: value.numpy() for key, value in outputs.items()}

        preprocessor, preprocessing = _export_preprocessor(path)
        return Predictor(
            export.read_labels(path),
            preprocessor,
            serve_saved_model,
            path,
            "saved_model",
            preprocessing.get("fixed_input"),
        )
    try:
        classifier = model_dir.load_classifier(path)
    except FileNotFoundError as error:
        raise ValueError(
            f"{path} is neither an export of 'stm-keras export' (a SavedModel directory, a "
            f".tflite or .onnx file) nor a preset or 'stm-keras fit' model directory ({error})"
        ) from error
    module = export.ServingModule(classifier)

    def serve_keras(video: np.ndarray) -> dict[str, np.ndarray]:
        outputs = module.serve(video)
        return {key: value.numpy() for key, value in outputs.items()}

    return Predictor(list(classifier.class_names), classifier.preprocessor, serve_keras, path)
