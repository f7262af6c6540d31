"""stm-keras: STM (SpatioTemporal and Motion Encoding) for Keras 3 / TensorFlow."""

__version__ = "0.1.0"
