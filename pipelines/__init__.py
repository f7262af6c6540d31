"""Apache Beam preprocessing of video datasets into sharded TFRecords, and synthetic datasets."""
