"""stm-keras: STM (SpatioTemporal and Motion Encoding) for Keras 3 / TensorFlow.

``import stm_keras`` gives the model API and registers every serializable class, so presets and
``.keras`` files load with nothing else imported::

    classifier = stm_keras.STMVideoClassifier.from_preset("runs/jester/final")
    probabilities = keras.ops.softmax(classifier.predict(videos))

The Beam preprocessing jobs (``stm_keras.pipelines``) and the CLI (``stm_keras.cli``) are
imported only when used.
"""

__version__ = "0.2.0"

import os as _os

# Beam workers started by ``stm_keras.pipelines`` set this: they only read videos and write
# records, and the models' Keras and TensorFlow imports would cost each worker seconds.
if _os.environ.get("STM_KERAS_PIPELINE_WORKER") != "1":
    from stm_keras.layers import (  # noqa: E402
        CMM,
        ChannelwiseTemporalConv,
        FoldFrames,
        STMBlock,
        TemporalConsensus,
    )
    from stm_keras.models import (  # noqa: E402
        PROTOCOLS,
        ModelSummary,
        Protocol,
        STMBackbone,
        STMVideoClassifier,
        TransferReport,
        VideoClassifierPreprocessor,
        load_imagenet_weights,
        summarize,
        transfer_weights,
    )

__all__ = [
    "CMM",
    "PROTOCOLS",
    "ChannelwiseTemporalConv",
    "FoldFrames",
    "ModelSummary",
    "Protocol",
    "STMBackbone",
    "STMBlock",
    "STMVideoClassifier",
    "TemporalConsensus",
    "TransferReport",
    "VideoClassifierPreprocessor",
    "__version__",
    "load_imagenet_weights",
    "summarize",
    "transfer_weights",
]
