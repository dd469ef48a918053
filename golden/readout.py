"""Readout of the TTFS network: a linear SVM on pooled spike features of one or more layers.

The regularisation ``C`` is either fixed (a preset's ``svm_c``) or chosen by stratified
k-fold cross-validation on the readout-training images only (:func:`select_c`), never
on the test images.  :func:`cv_accuracy` gives a lower-variance accuracy estimate than a
single test split: repeated stratified k-fold cross-validation over the readout-training
images (every image is validated once per repeat).
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["spike_features", "train_readout", "accuracy", "select_c", "cv_accuracy",
           "cv_folds_for"]


def spike_features(times: np.ndarray, time_steps: int, kind: str = "spikes") -> np.ndarray:
    """Pooled spike times ``[N, F, H, W]`` -> features ``[N, F*H*W]`` (float32).

    ``kind``: ``"spikes"`` = 1 if the unit spiked (SpykeTorch's MNIST readout),
    ``"latency"`` = ``(T - t) / T`` (earlier spikes give larger values, 0 = no spike),
    ``"latency+spikes"`` = both, ``[N, 2*F*H*W]`` (the latencies, then the spikes).  A
    spike at the last steps has a latency feature near 0, almost the same as no spike;
    the binary part keeps "spiked at all" apart from "when", so a linear readout can
    weigh the two separately.
    """
    times = np.asarray(times)
    flat = times.reshape(len(times), -1)
    if kind == "spikes":
        return (flat < time_steps).astype(np.float32)
    if kind == "latency":
        return ((time_steps - flat.astype(np.float32)) / time_steps).clip(0.0, 1.0)
    if kind == "latency+spikes":
        return np.hstack([spike_features(times, time_steps, "latency"),
                          spike_features(times, time_steps, "spikes")])
    raise ValueError(f"unknown readout feature kind {kind!r}: use 'spikes', 'latency' or "
                     f"'latency+spikes'")


def _svm(C: float, seed: int):
    from sklearn.svm import LinearSVC

    return LinearSVC(C=C, random_state=seed, max_iter=5000)


def _fit(model, features, labels):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # A linear SVM on binary spike features may stop at max_iter on separable data;
        # the fit is still usable and the accuracy is what we report.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(features, labels)
    return model


def train_readout(features: np.ndarray, labels: np.ndarray, C: float = 2.4, seed: int = 0):
    """Fit scikit-learn's LinearSVC (one-vs-rest) on the features."""
    from spikeforge.errors import UserError

    if len(np.unique(labels)) < 2:
        raise UserError(f"the readout needs at least 2 classes in its training images, got "
                        f"{len(np.unique(labels))} (use more images: --max-images)")
    return _fit(_svm(C, seed), features, labels)


def accuracy(model, features: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of correctly classified samples."""
    return float(np.mean(model.predict(features) == labels))


def cv_folds_for(labels: np.ndarray, folds: int) -> int:
    """The number of stratified folds the labels allow (<= ``folds``; 0 if fewer than 2:
    some class has a single image, so no stratified split exists)."""
    counts = np.unique(np.asarray(labels), return_counts=True)[1]
    k = int(min(folds, counts.min())) if len(counts) >= 2 else 0
    return k if k >= 2 else 0


def _cv_scores(features, labels, C, splitter, seed) -> np.ndarray:
    scores = []
    for train_idx, val_idx in splitter.split(features, labels):
        model = _fit(_svm(C, seed), features[train_idx], labels[train_idx])
        scores.append(accuracy(model, features[val_idx], labels[val_idx]))
    return np.asarray(scores, dtype=np.float64)


def select_c(features: np.ndarray, labels: np.ndarray, grid, folds: int = 5,
             seed: int = 0) -> tuple[float, list[float]]:
    """Choose C from ``grid`` by stratified ``folds``-fold cross-validation on the
    readout-training images; returns (best C, mean validation accuracy per C of the
    ascending grid).

    Ties go to the smaller C (the softer margin).  Raises ValueError if the labels allow
    no stratified split (see :func:`cv_folds_for`).
    """
    from sklearn.model_selection import StratifiedKFold

    k = cv_folds_for(labels, folds)
    if k == 0:
        raise ValueError("too few images per class for a stratified cross-validation")
    grid = sorted(float(c) for c in grid)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    means = [float(_cv_scores(features, labels, C, splitter, seed).mean()) for C in grid]
    best = int(np.argmax(means))   # first maximum = smallest C among equals
    return grid[best], means


def cv_accuracy(features: np.ndarray, labels: np.ndarray, C: float, folds: int = 5,
                repeats: int = 3, seed: int = 0) -> float:
    """Mean validation accuracy of repeated stratified k-fold cross-validation on the
    readout-training images (``repeats`` shuffles of ``folds`` folds, seeded).

    Raises ValueError if the labels allow no stratified split.
    """
    from sklearn.model_selection import RepeatedStratifiedKFold

    k = cv_folds_for(labels, folds)
    if k == 0:
        raise ValueError("too few images per class for a stratified cross-validation")
    # A different shuffle from select_c's, so the estimate is not read off the very
    # folds C was chosen on.
    splitter = RepeatedStratifiedKFold(n_splits=k, n_repeats=repeats, random_state=seed + 1)
    return float(_cv_scores(features, labels, C, splitter, seed).mean())
