"""Customer lifetime value: features, the scikit-learn model, BTYD baselines."""
