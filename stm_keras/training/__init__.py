"""Training: the paper's recipe, distribution strategies, resumable callbacks and `fit`."""
