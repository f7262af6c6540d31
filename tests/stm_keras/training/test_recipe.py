"""The paper's recipe as Keras objects: lr scaling and steps, weight decay, partial BN."""

import keras
import numpy as np
import pytest

from stm_keras.training import recipe


def _tiny_model():
    inputs = keras.Input([8, 8, 3])
    x = keras.layers.Conv2D(4, 3, name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.Conv2D(4, 3, name="conv2")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, name="classifier")(x)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize(
    ("frames", "global_batch", "expected"),
    [(8, 64, 0.01), (16, 32, 0.01), (8, 16, 0.0025), (16, 8, 0.0025), (4, 128, 0.02)],
)
def test_learning_rate_scales_linearly_from_the_paper_batch(frames, global_batch, expected):
    assert recipe.scaled_learning_rate(0.01, global_batch, frames) == pytest.approx(expected)


def test_step_schedule_divides_by_ten_at_epoch_starts():
    schedule = recipe.step_schedule(0.1, [2, 3], steps_per_epoch=5)
    # Step k (0-based) of epoch e = k // 5 uses lr(k).
    lrs = [float(schedule(k)) for k in (0, 9, 10, 14, 15, 40)]
    assert lrs == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert recipe.step_schedule(0.1, [], 5) == 0.1


def test_weight_decay_on_kernels_only_and_coupled():
    model = _tiny_model()
    assert recipe.apply_weight_decay(model, 5e-4) == 3
    kernels = [v for v in model.trainable_variables if v.path.endswith("kernel")]
    expected = 5e-4 / 2 * sum(float(np.sum(np.square(v.numpy()))) for v in kernels)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-5)
    assert recipe.apply_weight_decay(_tiny_model(), 0) == 0


def test_partial_bn_freezes_all_batch_norms_but_the_first():
    model = _tiny_model()
    assert recipe.freeze_batch_norm_except_first(model) == 1
    assert model.get_layer("bn1").trainable and not model.get_layer("bn2").trainable
    assert len(model.trainable_variables) == 3 * 2 + 2  # convs/dense kernel+bias, bn1 gamma/beta


def test_optimizer_is_sgd_with_momentum_and_global_clipping():
    optimizer = recipe.make_optimizer(0.01)
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert optimizer.momentum == 0.9 and optimizer.global_clipnorm == 20.0
    assert [m.name for m in recipe.metrics(3)] == ["top1", "top5"]
    assert recipe.metrics(3)[1]._fn_kwargs["k"] == 3
