"""Bad input never stops the job: each bad row or file becomes a failure record with a reason,
and every input row is accounted for (read = written + failed)."""

import json
import os
import random
import shutil

from pipeline_testing import failures_of, read_records, run_job

from stm_keras.pipelines.synth.layouts import write_synthetic


def _reasons(output_dir, split):
    return {f["id"]: f["reason"] for f in failures_of(output_dir, split)}


def _assert_accounted(info, split, read, written):
    stats = info["splits"][split]
    assert (stats["num_read"], stats["num_written"]) == (read, written)
    assert stats["num_failed"] == read - written


def test_frame_folder_failures(jester_data, tmp_path):
    source, videos = jester_data
    raw = tmp_path / "raw"
    shutil.copytree(source, raw)
    frames = raw / "20bn-jester-v1"
    train = sorted((v for v in videos if v.split == "train"), key=lambda v: int(v.video_id))
    validation = sorted((v for v in videos if v.split == "validation"), key=lambda v: v.video_id)
    truncated, corrupt, bad_name, good = (v.video_id for v in train)
    frame = frames / truncated / "00003.jpg"
    frame.write_bytes(frame.read_bytes()[:300])
    (frames / corrupt / "00002.jpg").write_bytes(b"\xff\xd8" + b"not a jpeg" * 30 + b"\xff\xd9")
    with open(os.path.join(os.fsencode(frames / bad_name), b"\xff\xfe.jpg"), "wb") as f:
        f.write((frames / good / "00001.jpg").read_bytes())
    shutil.rmtree(frames / validation[0].video_id)
    for jpeg in (frames / validation[1].video_id).iterdir():
        jpeg.unlink()
    with open(raw / "jester-v1-train.csv", "ab") as f:
        f.write(b"88888;Swiping Left\n")  # no such folder
        f.write(b"77777;Waving Goodbye\n")  # not a Jester class in the labels file
        f.write(b"this row has no separator\n")
        f.write(b"\xff\xfe66666;Swiping Left\n")  # not UTF-8
        f.write(f"{good};Swiping Left\n".encode())  # listed twice

    result = run_job("jester", raw, tmp_path / "out")

    info = result.info
    _assert_accounted(info, "train", read=9, written=1)
    _assert_accounted(info, "validation", read=4, written=2)
    _assert_accounted(info, "test", read=4, written=4)
    assert [r.video_id for r in read_records(tmp_path / "out", "train")] == [good]
    reasons = _reasons(tmp_path / "out", "train")
    assert "truncated JPEG" in reasons[truncated] and "00003.jpg" in reasons[truncated]
    assert "00002.jpg" in reasons[corrupt]
    assert "not UTF-8" in reasons[bad_name]
    assert "not found" in reasons["88888"]
    assert "'Waving Goodbye' is not in" in reasons["77777"]
    assert "malformed row" in reasons["this row has no separator"]
    assert any("not UTF-8" in r for i, r in reasons.items() if "66666" in i)
    assert "duplicate video id" in reasons[good]
    for failure in failures_of(tmp_path / "out", "train"):
        assert failure["source"]
    reasons = _reasons(tmp_path / "out", "validation")
    assert "not found" in reasons[validation[0].video_id]
    assert "empty frame folder" in reasons[validation[1].video_id]
    assert failures_of(tmp_path / "out", "test") == []
    assert result.failed_splits == []  # run_job allows any failed fraction


def test_video_failures(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    videos = write_synthetic("ucf101", str(raw), videos_per_class=3, num_classes=2, num_frames=6)
    corrupt, truncated, missing, good = (v for v in videos if v.split == "train")
    with open(corrupt.path, "wb") as f:
        # Seeded garbage: about 1 in 200 random buffers probes as an FFmpeg "lrc" (lyrics) file,
        # which fails as "no video stream" instead; these bytes fail to open at all.
        f.write(random.Random(0).randbytes(3000))
    with open(truncated.path, "r+b") as f:
        f.truncate(os.path.getsize(truncated.path) // 2)
    os.remove(missing.path)
    lists = raw / "ucfTrainTestlist"
    with open(lists / "trainlist01.txt", "a") as f:
        f.write("a_row_without_a_class_folder.avi 1\n")
    with open(lists / "testlist01.txt", "a") as f:
        f.write("NoSuchClass/v_NoSuchClass_g01_c01.avi\n")

    result = run_job("ucf101", raw, out, max_failure_fraction=0.5)

    _assert_accounted(result.info, "train", read=5, written=1)
    _assert_accounted(result.info, "test", read=3, written=2)
    assert result.failed_splits == ["train"]
    reasons = _reasons(out, "train")
    assert reasons[corrupt.video_id].startswith("cannot decode video")
    assert "truncated video" in reasons[truncated.video_id]
    assert "not found" in reasons[missing.video_id]
    assert "malformed row" in reasons["a_row_without_a_class_folder.avi 1"]
    assert "'NoSuchClass' is not in" in _reasons(out, "test")["v_NoSuchClass_g01_c01"]
    assert [r.video_id for r in read_records(out, "train")] == [good.video_id]


def _write_audio_only(path: str) -> None:
    """A real AVI file with one second of MP2 audio and no video stream (PyAV)."""
    import av
    import numpy as np

    with av.open(path, mode="w", format="avi") as container:
        stream = container.add_stream("mp2", rate=16000, layout="mono")
        samples = (np.sin(np.arange(16000) / 5.0) * 8000).astype(np.int16)[None]
        for start in range(0, 16000, 1152):
            frame = av.AudioFrame.from_ndarray(
                samples[:, start : start + 1152], format="s16", layout="mono"
            )
            frame.rate = 16000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_audio_only_file_is_a_failure(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    videos = write_synthetic("ucf101", str(raw), videos_per_class=2, num_classes=1, num_frames=4)
    audio_only = next(v for v in videos if v.split == "train")
    _write_audio_only(audio_only.path)

    result = run_job("ucf101", raw, out, splits=("train",))

    _assert_accounted(result.info, "train", read=1, written=0)
    assert _reasons(out, "train") == {audio_only.video_id: f"no video stream in {audio_only.path}"}


def test_missing_kinetics_clips_are_failures(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    videos = write_synthetic(
        "kinetics400", str(raw), videos_per_class=3, num_classes=2, num_frames=4
    )
    missing = next(v for v in videos if v.split == "validation")
    os.remove(missing.path)

    result = run_job("kinetics400", raw, out)

    _assert_accounted(result.info, "validation", read=2, written=1)
    failure = failures_of(out, "validation")[0]
    assert failure["id"] == missing.video_id
    assert "not found" in failure["reason"] and missing.path in failure["reason"]


def test_bad_json_entries_are_failures(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    write_synthetic("something-v2", str(raw), videos_per_class=3, num_classes=2, num_frames=4)
    path = raw / "something-something-v2-validation.json"
    entries = json.loads(path.read_text())
    entries += [
        {"label": "no id here", "template": "Moving [something] up"},
        5,
        {"id": "424242", "label": "x", "template": "Juggling [something]", "placeholders": []},
    ]
    text = json.dumps(entries)[:-1] + ', {"id": "31\xff", "template": "Moving [something] up"}]'
    path.write_bytes(text.encode("latin-1"))

    result = run_job("something-v2", raw, out, splits=("validation",))

    _assert_accounted(result.info, "validation", read=6, written=2)
    reasons = sorted(f["reason"] for f in failures_of(out, "validation"))
    assert reasons[0] == "annotation entry is not UTF-8"
    assert "'Juggling something' is not in" in reasons[1]
    assert all(r.startswith("malformed entry") for r in reasons[2:])
