"""The four preprocessing paths agree: one decoded video reaches the network as the same clip
through the tf.data validation pipeline, evaluate's views, the exported SavedModel and predict."""

import os

import numpy as np
import pytest
import tensorflow as tf
from deploy_testing import FRAMES, IMAGE_SIZE
from PIL import Image

from stm_keras import export, model_dir, predict
from stm_keras.data import input_pipeline, schema
from stm_keras.evaluation import evaluate
from stm_keras.models import PROTOCOLS
from stm_keras.pipelines.synth.layouts import encode_jpeg
from stm_keras.pipelines.synth.motion import Motion, render_clip

NUM_FRAMES, HEIGHT, WIDTH = 11, 36, 48


@pytest.fixture(scope="module")
def stored_video(tmp_path_factory):
    """A one-video TFRecord split of a synthetic clip, and THE decoded video: its JPEG frames
    decoded back, the pixels every path starts from."""
    root = tmp_path_factory.mktemp("one-video")
    rendered = render_clip(
        Motion("disc", "right"), np.random.default_rng(7), NUM_FRAMES, HEIGHT, WIDTH
    )
    jpegs = [encode_jpeg(frame) for frame in rendered]
    record = schema.VideoRecord(
        video_id="only",
        frames=jpegs,
        label_index=1,
        label_text="Swiping Right",
        height=HEIGHT,
        width=WIDTH,
        fps=12.0,
    )
    path = str(root / schema.shard_name("validation", 0, 1))
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(schema.encode(record))
    video = np.stack([tf.io.decode_jpeg(jpeg, channels=3).numpy() for jpeg in jpegs])
    assert video.shape == (NUM_FRAMES, HEIGHT, WIDTH, 3) and video.dtype == np.uint8
    return [path], video


def test_the_four_preprocessing_paths_agree(
    stored_video, tiny_model_dir, tiny_saved_model, tmp_path
):
    files, video = stored_video
    classifier = model_dir.load_classifier(tiny_model_dir)
    preprocessor = classifier.preprocessor
    shape = (1, FRAMES, IMAGE_SIZE, IMAGE_SIZE, 3)

    # (1) The tf.data validation pipeline of fit.
    batches = list(input_pipeline.make_dataset(files, preprocessor, 1, training=False))
    assert len(batches) == 1
    pipeline_clips, labels = batches[0]
    assert labels.numpy().tolist() == [1]

    # (2) evaluate's views, protocol 1x1.
    batches = list(evaluate.view_dataset(files, preprocessor, PROTOCOLS["1x1"], 1))
    assert len(batches) == 1
    evaluate_clips = batches[0]["views"]

    # (3) The exported SavedModel's preprocess signature, on the decoded video.
    loaded = tf.saved_model.load(tiny_saved_model)
    preprocess = loaded.signatures[export.PREPROCESS_SIGNATURE_KEY]
    saved_model_clips = preprocess(video=tf.constant(video[np.newaxis]))[export.CLIPS_KEY]

    # (4) predict: a PNG frame folder, the frames sampled on the host, then the preprocessor.
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(video):
        Image.fromarray(frame).save(folder / f"{i:05d}.png")
    predictor = predict.load_predictor(tiny_saved_model)
    clip = predictor.read_clip(str(folder))
    assert clip.shape == (FRAMES, HEIGHT, WIDTH, 3) and clip.dtype == np.uint8
    predict_clips = predictor.preprocessor(clip[np.newaxis])

    paths = {
        "input pipeline": pipeline_clips,
        "evaluate": evaluate_clips,
        "SavedModel preprocess": saved_model_clips,
        "predict": predict_clips,
    }
    reference = preprocessor(video[np.newaxis]).numpy()
    assert reference.shape == shape
    for name, clips in paths.items():
        clips = np.asarray(clips)
        assert clips.shape == shape and clips.dtype == np.float32, name
        np.testing.assert_allclose(clips, reference, atol=1e-5, err_msg=name)

    # (5) The SavedModel's probabilities are the softmax of the classifier on those clips, and
    # predict, given only the sampled frames, gives them too.
    serving = loaded.signatures[export.SIGNATURE_KEY]
    probabilities = serving(video=tf.constant(video[np.newaxis]))[export.PROBABILITIES_KEY]
    expected = tf.nn.softmax(classifier(tf.constant(reference), training=False)).numpy()
    np.testing.assert_allclose(probabilities.numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(predictor(clip), expected[0], atol=1e-5)
    assert os.path.isfile(os.path.join(tiny_saved_model, "saved_model.pb"))
