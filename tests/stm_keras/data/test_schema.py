"""The TFRecord schema: Python encode/decode and the in-graph parser agree."""

import numpy as np
import tensorflow as tf

from stm_keras.data import schema


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
