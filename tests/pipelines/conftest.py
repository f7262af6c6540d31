"""Fixtures of the preprocessing tests."""

import pytest


@pytest.fixture(scope="session")
def jester_data(tmp_path_factory):
    """A tiny synthetic Jester (4 classes x 3 videos, 6 frames); tests must not modify it."""
    from stm_keras.pipelines.synth.layouts import write_synthetic

    root = tmp_path_factory.mktemp("jester")
    videos = write_synthetic("jester", str(root), videos_per_class=3, num_classes=4, num_frames=6)
    return root, videos


@pytest.fixture(scope="session")
def folders_data(tmp_path_factory):
    """Synthetic 'folders' layout: 2 classes x 4 clips of 4 frames, MP4 files and JPEG frame
    folders mixed; tests must not modify it."""
    from stm_keras.pipelines.synth.layouts import write_synthetic

    root = tmp_path_factory.mktemp("folders")
    videos = write_synthetic("folders", str(root), videos_per_class=4, num_classes=2, num_frames=4)
    return root, videos


@pytest.fixture(scope="session")
def csv_data(tmp_path_factory):
    """Synthetic 'csv' layout: 2 classes x 4 clips of 4 frames as segments of two long MP4
    videos, listed in manifest.csv; tests must not modify it."""
    from stm_keras.pipelines.synth.layouts import write_synthetic

    root = tmp_path_factory.mktemp("csv")
    videos = write_synthetic("csv", str(root), videos_per_class=4, num_classes=2, num_frames=4)
    return root, videos
