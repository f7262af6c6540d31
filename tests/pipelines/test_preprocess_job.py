"""Job-level behaviour: deterministic shards, the multi-process runner, shard layout, outputs."""

import os

import pytest
from pipeline_testing import read_records, run_job

from stm_keras.pipelines import preprocess
from stm_keras.pipelines.items import LayoutError
from stm_keras.pipelines.synth.layouts import write_synthetic


def _files(directory):
    return {
        name: open(os.path.join(directory, name), "rb").read() for name in os.listdir(directory)
    }


@pytest.mark.slow
def test_multi_process_runner_writes_the_same_bytes_as_in_process(tmp_path):
    raw = tmp_path / "raw"
    write_synthetic("jester", str(raw), videos_per_class=10, num_classes=2, num_frames=4)
    multi = run_job(
        "jester", raw, tmp_path / "multi", beam_args=["--direct_num_workers=2"], splits=("train",)
    )
    run_job("jester", raw, tmp_path / "single", splits=("train",))

    shards = multi.info["splits"]["train"]["shards"]
    assert len(shards) == 8  # at least 8 shards from 8 videos on
    assert multi.counters["videos"] == 16
    assert multi.counters["frames"] == 16 * 4
    assert _files(tmp_path / "multi") == _files(tmp_path / "single")


def test_two_runs_give_identical_bytes(jester_data, tmp_path):
    raw, _ = jester_data
    run_job("jester", raw, tmp_path / "a", num_shards=3)
    run_job("jester", raw, tmp_path / "b", num_shards=3)
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert first == second
    assert sum(name.endswith(".tfrecord") for name in first) == 9


def test_fixed_shard_count_writes_every_shard_even_empty_ones(jester_data, tmp_path):
    raw, _ = jester_data
    result = run_job("jester", raw, tmp_path, splits=("test",), num_shards=6)

    shards = result.info["splits"]["test"]["shards"]
    assert shards == [f"test-{i:05d}-of-00006.tfrecord" for i in range(6)]
    assert all((tmp_path / name).exists() for name in shards)
    assert len(read_records(tmp_path, "test")) == 4
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]


def test_records_in_a_shard_are_sorted_by_key(jester_data, tmp_path):
    from stm_keras.pipelines.sharding import record_key

    raw, _ = jester_data
    run_job("jester", raw, tmp_path, splits=("train",), num_shards=1)
    ids = [r.video_id for r in read_records(tmp_path, "train")]
    assert ids == sorted(ids, key=lambda video_id: record_key("train", video_id))


def test_output_dir_with_files_needs_overwrite(jester_data, tmp_path):
    raw, _ = jester_data
    run_job("jester", raw, tmp_path, splits=("test",), num_shards=2)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(LayoutError, match="not empty.*--overwrite"):
        run_job("jester", raw, tmp_path, splits=("test",))

    run_job("jester", raw, tmp_path, splits=("test",), num_shards=1, overwrite=True)
    names = sorted(os.listdir(tmp_path))
    # Earlier shards are gone, unrelated files stay.
    assert names == [
        "dataset_info.json",
        "failures-test.jsonl",
        "notes.txt",
        "test-00000-of-00001.tfrecord",
    ]


def test_pipeline_options_default_to_a_multi_process_direct_runner():
    options = preprocess.pipeline_options([]).get_all_options()
    assert options["runner"] == "DirectRunner"
    assert options["direct_running_mode"] == "multi_processing"
    assert options["direct_num_workers"] == (os.cpu_count() or 1)
    assert options["default_sdk_harness_log_level"] == "ERROR"
    verbose = preprocess.pipeline_options(["--default_sdk_harness_log_level=INFO"])
    assert verbose.get_all_options()["default_sdk_harness_log_level"] == "INFO"
    options = preprocess.pipeline_options(
        ["--runner=FlinkRunner", "--flink_master=localhost:8081"]
    ).get_all_options()
    assert options["runner"] == "FlinkRunner"
    assert options["direct_running_mode"] == "in_memory"


def test_workers_report_progress_and_the_job_its_counters(
    jester_data, tmp_path, monkeypatch, capfd
):
    raw, _ = jester_data
    monkeypatch.setattr(preprocess, "PROGRESS_SECONDS", 0.0)
    lines = []
    preprocess.run(
        preprocess.PreprocessConfig("jester", str(raw), str(tmp_path), splits=("train",)),
        ["--direct_running_mode=in_memory"],
        log=lines.append,
    )
    assert "preprocess: worker" in capfd.readouterr().err
    assert "preprocess: Beam counters: videos=4, frames=24, bytes=" in "\n".join(lines)
    assert "preprocess: train: read 4 = written 4 + failed 0; 1 shards, 24 frames" in lines[-1]
