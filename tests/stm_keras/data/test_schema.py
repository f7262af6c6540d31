"""The TFRecord schema: Python encode/decode and the in-graph parser agree."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from stm_keras.data import schema
from stm_keras.pipelines import preprocess as preprocess_lib


def _record(num_frames: int = 3) -> schema.VideoRecord:
    frames = [
        tf.io.encode_jpeg(np.full((4, 6, 3), 40 * i, np.uint8)).numpy() for i in range(num_frames)
    ]
    return schema.VideoRecord(
        video_id="clip-7",
        frames=frames,
        label_index=5,
        label_text="Swiping Left",
        height=4,
        width=6,
        fps=12.0,
    )


def test_encode_decode_round_trip():
    record = _record()
    decoded = schema.decode(schema.encode(record))
    assert decoded == schema.VideoRecord(**{**record.__dict__, "frames": list(record.frames)})
    assert decoded.num_frames == 3


def test_encode_is_deterministic():
    assert schema.encode(_record()) == schema.encode(_record())


def test_graph_parser_reads_what_encode_wrote():
    record = _record(num_frames=4)
    dataset = tf.data.Dataset.from_tensor_slices([schema.encode(record)]).map(schema.parse)
    parsed = next(iter(dataset))
    assert parsed["video_id"].numpy() == b"clip-7"
    assert parsed["label"].numpy() == 5
    assert parsed["label_text"].numpy() == b"Swiping Left"
    assert parsed["num_frames"].numpy() == 4
    assert (parsed["height"].numpy(), parsed["width"].numpy()) == (4, 6)
    assert parsed["fps"].numpy() == 12.0
    assert list(parsed["frames"].numpy()) == list(record.frames)


def test_split_files_and_missing_info(tmp_path):
    import json

    import pytest

    with pytest.raises(FileNotFoundError, match="dataset_info.json"):
        schema.load_dataset_info(str(tmp_path))
    info = {"splits": {"train": {"shards": [schema.shard_name("train", 0, 2)]}}}
    (tmp_path / schema.DATASET_INFO_FILE).write_text(json.dumps(info))
    assert schema.split_files(str(tmp_path), "train") == [
        str(tmp_path / "train-00000-of-00002.tfrecord")
    ]
    with pytest.raises(ValueError, match="validation"):
        schema.split_files(str(tmp_path), "validation")


def _tf_encode(record: schema.VideoRecord) -> bytes:
    """What TensorFlow's own SequenceExample writes for ``record``."""
    example = tf.train.SequenceExample()
    context = example.context.feature
    context[schema.VIDEO_ID].bytes_list.value.append(record.video_id.encode("utf-8"))
    context[schema.LABEL_INDEX].int64_list.value.append(int(record.label_index))
    context[schema.LABEL_TEXT].bytes_list.value.append(record.label_text.encode("utf-8"))
    context[schema.NUM_FRAMES].int64_list.value.append(len(record.frames))
    context[schema.HEIGHT].int64_list.value.append(int(record.height))
    context[schema.WIDTH].int64_list.value.append(int(record.width))
    context[schema.FPS].float_list.value.append(float(record.fps))
    frames = example.feature_lists.feature_list[schema.IMAGE_ENCODED]
    for jpeg in record.frames:
        frames.feature.add().bytes_list.value.append(bytes(jpeg))
    return example.SerializeToString(deterministic=True)


def test_encode_writes_tensorflows_bytes_without_tensorflow():
    rng = np.random.default_rng(0)
    records = [
        _record(),
        _record(0),
        schema.VideoRecord("日本-🙂/x", [b""], schema.NO_LABEL, "", 2**31, 2**40, 29.97),
        schema.VideoRecord("big", [rng.bytes(70_000)] * 3, 2**63 - 1, "z" * 300, 1, 1, 1e39),
        schema.VideoRecord("neg", [bytearray(b"ab")], -(2**63), "a", 0, 0, float("-inf")),
    ]
    for record in records:
        assert schema.encode(record) == _tf_encode(record), record.video_id


def test_out_of_range_integers_name_the_video():
    record = schema.VideoRecord("clip-9", [], 2**63, "a", 1, 1, 1.0)
    with pytest.raises(ValueError, match="clip-9"):
        schema.encode(record)


def test_beam_workers_encode_without_importing_tensorflow():
    """Workers of the local runners get STM_KERAS_PIPELINE_WORKER=1 (preprocess.run): importing
    stm_keras and the pipeline then costs no TensorFlow."""
    script = (
        "import sys\n"
        "import stm_keras\n"
        "from stm_keras.pipelines import preprocess\n"
        "from stm_keras.data import schema\n"
        "schema.encode(schema.VideoRecord('v', [b'x'], 1, 'a', 2, 3, 4.0))\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    env = {**os.environ, preprocess_lib.WORKER_ENV: "1"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_worker_flag_is_set_only_while_the_job_runs():
    assert preprocess_lib.WORKER_ENV not in os.environ
    with preprocess_lib._light_workers():
        assert os.environ[preprocess_lib.WORKER_ENV] == "1"
    assert preprocess_lib.WORKER_ENV not in os.environ
