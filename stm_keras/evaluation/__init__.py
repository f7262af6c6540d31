"""Test-time evaluation: the paper's views, video-level metrics and their report."""
