"""Readout of the TTFS network: a linear SVM on the last layer's pooled spike features."""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["spike_features", "train_readout", "accuracy"]


def spike_features(times: np.ndarray, time_steps: int, kind: str = "spikes") -> np.ndarray:
    """Pooled spike times ``[N, F, H, W]`` -> features ``[N, F*H*W]`` (float32).

    ``kind``: ``"spikes"`` = 1 if the unit spiked (SpykeTorch's MNIST readout),
    ``"latency"`` = ``(T - t) / T`` (earlier spikes give larger values, 0 = no spike).
    """
    times = np.asarray(times)
    flat = times.reshape(len(times), -1)
    if kind == "spikes":
        return (flat < time_steps).astype(np.float32)
    if kind == "latency":
        return ((time_steps - flat.astype(np.float32)) / time_steps).clip(0.0, 1.0)
    raise ValueError(f"unknown readout feature kind {kind!r}: use 'spikes' or 'latency'")


def train_readout(features: np.ndarray, labels: np.ndarray, C: float = 2.4, seed: int = 0):
    """Fit scikit-learn's LinearSVC (one-vs-rest) on the features."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    from spikeforge.errors import UserError

    if len(np.unique(labels)) < 2:
        raise UserError(f"the readout needs at least 2 classes in its training images, got "
                        f"{len(np.unique(labels))} (use more images: --max-images)")
    model = LinearSVC(C=C, random_state=seed, max_iter=5000)
    with warnings.catch_warnings():
        # A linear SVM on binary spike features may stop at max_iter on separable data;
        # the fit is still usable and the accuracy is what we report.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(features, labels)
    return model


def accuracy(model, features: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of correctly classified samples."""
    return float(np.mean(model.predict(features) == labels))
