"""STMVideoClassifier: an ``STMBackbone`` with a classification head, as a keras-hub ``Task``."""

from __future__ import annotations

from typing import Any

import keras
import keras_hub

from stm_keras.models.stm_backbone import STMBackbone, saved_mixed_policy
from stm_keras.models.video_classifier_preprocessor import VideoClassifierPreprocessor

LOGITS_LAYER = "classifier"


@keras.saving.register_keras_serializable(package="stm_keras")
class STMVideoClassifier(keras_hub.models.Task):
    """Classifies clips: backbone features → dropout → dense logits (TSN consensus).

    TSN averages per-frame logits over the clip; the classifier is linear, so that equals
    classifying the clip's averaged frame features, which is what the backbone returns. The
    model maps normalized clips ``[N, T, S, S, 3]`` to float32 logits ``[N, num_classes]``;
    ``predict``, ``fit`` and ``evaluate`` run the attached ``preprocessor`` first, so they take
    raw videos ``[N, frames, height, width, 3]`` (uint8 RGB, any frame count and size).

    Presets (keras-hub's format: ``config.json``, ``model.weights.h5``, ``task.json``,
    ``task.weights.h5``, ``preprocessor.json``, ``metadata.json``, ``assets/labels.txt``) are
    written by ``save_to_preset(dir)`` and read by ``from_preset(path_or_handle)`` from a local
    directory or an ``hf://`` / ``kaggle://`` handle. ``from_preset(..., num_classes=K)`` keeps
    the backbone's weights and starts a new head, the way to fine-tune on other classes.

    Args:
        backbone: STMBackbone.
        num_classes: int. Number of classes.
        preprocessor: VideoClassifierPreprocessor or None. Defaults to None.
        dropout: float. Dropout rate before the classifier. Defaults to 0.5.
        activation: str or None. Output activation; None gives logits. Defaults to None.
        head_dtype: str or None. dtype policy of the dense head. Defaults to ``"float32"``
            (float32 logits under mixed precision).
        **kwargs: ``name`` and the keras-hub ``Task`` arguments (``compile``).

    Example:
    ```python
    backbone = stm_keras.STMBackbone(depth=50, num_segments=8, image_size=224)
    preprocessor = stm_keras.VideoClassifierPreprocessor(num_segments=8, image_size=224)
    classifier = stm_keras.STMVideoClassifier(backbone, 27, preprocessor=preprocessor)
    probabilities = keras.ops.softmax(classifier.predict(videos))  # uint8 [N, F, H, W, 3]
    ```
    """

    backbone_cls = STMBackbone
    preprocessor_cls = VideoClassifierPreprocessor

    def __init__(
        self,
        backbone: STMBackbone,
        num_classes: int,
        preprocessor: VideoClassifierPreprocessor | None = None,
        dropout: float = 0.5,
        activation: str | None = None,
        head_dtype: Any = "float32",
        **kwargs: Any,
    ) -> None:
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if preprocessor is not None and preprocessor.num_segments != backbone.num_segments:
            raise ValueError(
                f"the preprocessor samples {preprocessor.num_segments} frames but the backbone "
                f"takes {backbone.num_segments}"
            )
        names = None if preprocessor is None else preprocessor.class_names
        if names is not None and len(names) != int(num_classes):
            raise ValueError(f"{len(names)} class names for {num_classes} classes")
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.output_dropout = keras.layers.Dropout(dropout, name="dropout", dtype=head_dtype)
        self.output_dense = keras.layers.Dense(
            int(num_classes),
            activation=activation,
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
            name=LOGITS_LAYER,
            dtype=head_dtype,
        )

        # === Config === (before the Task constructor, whose default compile() reads it)
        self.num_classes = int(num_classes)
        self.dropout = float(dropout)
        self.activation = activation

        # === Functional model ===
        inputs = backbone.input
        features = backbone(inputs)
        outputs = self.output_dense(self.output_dropout(features))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

    @classmethod
    def from_preset(cls, preset: str, load_weights: bool = True, **kwargs: Any) -> Any:
        """Loads a classifier preset; with ``num_classes``, a new head on the preset's backbone.

        A new head starts without class names (the preset's no longer apply): set
        ``classifier.preprocessor.class_names`` before ``save_to_preset``.
        """
        if kwargs.get("dtype") is None:
            # keras-hub 0.32 cannot resolve a saved mixed_* policy (keras's standardize_dtype
            # rejects it): name it, and the model loads as it was trained.
            mixed = saved_mixed_policy(preset)
            if mixed is not None:
                kwargs["dtype"] = mixed
        classifier = super().from_preset(preset, load_weights=load_weights, **kwargs)
        if "num_classes" in kwargs and classifier.preprocessor is not None:
            classifier.preprocessor.class_names = None
        return classifier

    @property
    def class_names(self) -> list[str] | None:
        """Class names in output order, from the preprocessor (None when it has none)."""
        return None if self.preprocessor is None else self.preprocessor.class_names

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "dropout": self.dropout,
                "activation": self.activation,
                "head_dtype": keras.dtype_policies.serialize(self.output_dense.dtype_policy),
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> STMVideoClassifier:
        config = dict(config)
        if isinstance(config.get("head_dtype"), dict):
            config["head_dtype"] = keras.dtype_policies.deserialize(config["head_dtype"])
        return super().from_config(config)

    def _not_task_weights(self) -> list[Any]:
        # A preset holds weights, not training state: the optimizer stays out, as the backbone's
        # layers do (they go to model.weights.h5).
        skipped: list[Any] = list(self.backbone._flatten_layers())
        if getattr(self, "optimizer", None) is not None:
            skipped.append(self.optimizer)
        return skipped

    def save_task_weights(self, filepath: str) -> None:
        """Saves the head's weights (not the backbone's, not the optimizer's) to ``filepath``."""
        if not str(filepath).endswith(".weights.h5"):
            raise ValueError(f"the file name must end in .weights.h5, got {filepath}")
        keras.saving.save_weights(self, filepath, objects_to_skip=self._not_task_weights())

    def load_task_weights(self, filepath: str) -> None:
        """Loads the head's weights saved by ``save_task_weights``."""
        keras.saving.load_weights(self, filepath, objects_to_skip=self._not_task_weights())

    def compile(
        self,
        optimizer: Any = "auto",
        loss: Any = "auto",
        *,
        metrics: Any = "auto",
        **kwargs: Any,
    ) -> None:
        """``keras.Model.compile`` with defaults for fine-tuning.

        ``"auto"``: SGD with momentum 0.9 at lr 0.001 (the paper's fine-tuning rate), sparse
        categorical cross-entropy on the logits, and top-1 / top-5 accuracy.
        """
        from stm_keras.training import recipe

        if optimizer == "auto":
            optimizer = recipe.make_optimizer(recipe.FINE_TUNE_LR)
        if loss == "auto":
            from_logits = self.activation is None
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
        if metrics == "auto":
            metrics = recipe.metrics(self.num_classes)
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
