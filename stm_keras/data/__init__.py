"""Dataset schema, frame sampling and the tf.data input pipeline."""
