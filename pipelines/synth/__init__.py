"""Synthetic datasets in each supported dataset's native layout, for demos and tests."""
