"""Fixtures of the preprocessing tests."""

import pytest


@pytest.fixture(scope="session")
def jester_data(tmp_path_factory):
    """A tiny synthetic Jester (4 classes x 3 videos, 6 frames); tests must not modify it."""
    from stm_keras.pipelines.synth.layouts import write_synthetic

    root = tmp_path_factory.mktemp("jester")
    videos = write_synthetic("jester", str(root), videos_per_class=3, num_classes=4, num_frames=6)
    return root, videos
