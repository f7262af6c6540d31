"""Keras 3 layers of the STM network (filled in by the model-library issue)."""
