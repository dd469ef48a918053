"""The readout of the network golden model: C chosen by cross-validation on the
readout-training images only, the repeated cross-validation accuracy, multi-layer
features, and the digits preset's reason for reading out both layers."""

import dataclasses

import numpy as np
import pytest

from spikeforge.golden.datasets import load_digits
from spikeforge.golden.experiment import _limit, compare_runs
from spikeforge.golden.network import PruneSpec, fit_readout, preset, run_network
from spikeforge.golden.readout import cv_accuracy, cv_folds_for, select_c


def _blobs(seed: int, n_per_class: int = 40, dims: int = 20, spread: float = 1.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 2.0, size=(3, dims))
    x = np.concatenate([c + rng.normal(0.0, spread, size=(n_per_class, dims)) for c in centres])
    y = np.repeat(np.arange(3), n_per_class).astype(np.int64)
    return x.astype(np.float32), y


def test_cv_folds_for_hand_cases():
    assert cv_folds_for(np.array([0] * 10 + [1] * 10), 5) == 5
    assert cv_folds_for(np.array([0] * 10 + [1] * 3), 5) == 3      # smallest class limits
    assert cv_folds_for(np.array([0] * 10 + [1]), 5) == 0          # a singleton class
    assert cv_folds_for(np.array([0] * 10), 5) == 0                # one class


def test_select_c_matches_an_independent_grid_search():
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.svm import LinearSVC

    x, y = _blobs(seed=7, spread=3.0)
    grid = (1.0, 0.001, 0.1)                 # unsorted on purpose
    best, scores = select_c(x, y, grid, folds=4, seed=3)
    splitter = StratifiedKFold(n_splits=4, shuffle=True, random_state=3)
    expected = [cross_val_score(LinearSVC(C=c, random_state=3, max_iter=5000), x, y,
                                cv=splitter).mean() for c in sorted(grid)]
    np.testing.assert_allclose(scores, expected)
    assert best == sorted(grid)[int(np.argmax(expected))]


def test_select_c_prefers_the_smaller_c_on_ties():
    # Well separated blobs: every C classifies every validation image correctly.
    x, y = _blobs(seed=1, spread=0.05)
    best, scores = select_c(x, y, (0.3, 0.1, 1.0), folds=3, seed=0)
    assert scores == [1.0, 1.0, 1.0]
    assert best == 0.1


def test_cv_accuracy_is_a_mean_over_repeated_folds():
    from sklearn.model_selection import RepeatedStratifiedKFold, cross_val_score
    from sklearn.svm import LinearSVC

    x, y = _blobs(seed=2, spread=2.5)
    got = cv_accuracy(x, y, C=0.1, folds=4, repeats=2, seed=5)
    splitter = RepeatedStratifiedKFold(n_splits=4, n_repeats=2, random_state=6)
    want = cross_val_score(LinearSVC(C=0.1, random_state=5, max_iter=5000), x, y,
                           cv=splitter).mean()
    assert got == pytest.approx(want)
    assert 0.5 < got < 1.0        # the blobs overlap: neither chance nor perfect


def test_fit_readout_falls_back_to_the_preset_c_on_tiny_sets():
    spec = dataclasses.replace(preset("digits"), svm_c=0.7)
    x, y = _blobs(seed=4, n_per_class=1)           # one image per class: no split
    out = fit_readout(x, y, spec, seed=0)
    assert out["C"] == 0.7 and out["c_chosen_by"] == "preset"
    assert out["cv_scores"] is None and out["cv_accuracy"] is None
    assert out["model"].predict(x).shape == (3,)


def test_compare_reports_the_cv_loss_next_to_the_test_loss():
    def run(acc, cv):
        return {"dataset": {"name": "digits"}, "accuracy": acc,
                "readout": {"cv_accuracy": cv}, "connectivity": {"fraction": 1.0},
                "learning": {"work": 10, "syn_ops": 8, "stdp_updates": 2,
                             "wall_time_s": 1.0},
                "inference": {"syn_ops": 10, "wall_time_s": 1.0}, "layers": []}
    cmp = compare_runs(run(0.95, 0.971), run(0.96, 0.975))
    assert cmp["reductions"]["accuracy_loss_points"] == pytest.approx(1.0)
    assert cmp["reductions"]["accuracy_loss_points_cv"] == pytest.approx(0.4)
    assert cmp["targets"]["accuracy_loss_points"]["met"] is False
    assert cmp["targets"]["accuracy_loss_points_cv"]["met"] is True
    no_cv = compare_runs(run(0.95, None), run(0.96, None))
    assert no_cv["reductions"]["accuracy_loss_points_cv"] is None
    assert no_cv["targets"]["accuracy_loss_points_cv"]["met"] is None


def test_digits_preset_reads_out_both_layers_which_beats_conv2_alone():
    """Why the digits preset reads out conv1 and conv2: on a shortened digits run (seed 3,
    400 images per set, 300 learning images per layer) the repeated cross-validation
    accuracy on the readout-training images is higher with both layers' features than
    with conv2's alone.  No test image is involved in the comparison."""
    spec = preset("digits")
    assert spec.readout_layers == (0, 1) and spec.svm_c_grid and spec.readout_cv_repeats > 0
    short = dataclasses.replace(spec, layers=tuple(
        dataclasses.replace(l, learn_images=300) for l in spec.layers))
    data = _limit(load_digits(size=16, seed=3), 400)
    both = run_network(data, short, PruneSpec(), seed=3)
    conv2 = run_network(data, dataclasses.replace(short, readout_layers=(-1,)), PruneSpec(),
                        seed=3)
    assert both["readout"]["layers"] == ["conv1", "conv2"]
    # latency + binary spike per pooled unit (the preset's "latency+spikes" features)
    assert both["readout"]["features"] == 2 * (32 * 8 * 8 + 64 * 4 * 4)
    assert conv2["readout"]["features"] == 2 * 64 * 4 * 4
    assert both["readout"]["C"] in spec.svm_c_grid
    # Same seed, same learning: only the readout differs.
    assert both["learning"]["work"] == conv2["learning"]["work"]
    assert both["readout"]["cv_accuracy"] > conv2["readout"]["cv_accuracy"] + 0.01


def test_layer_convergence_over_all_or_alive_synapses():
    from spikeforge.golden.layers import ConvLayer

    layer = ConvLayer(in_channels=1, maps=1, kernel=2, threshold=1.0)
    layer.init_weights(np.random.default_rng(0))
    layer.weights[...] = np.array([0.5, 0.5, 0.0, 0.0]).reshape(layer.weights.shape)
    layer.mask[...] = np.array([True, True, False, False]).reshape(layer.mask.shape)
    assert layer.convergence("all") == pytest.approx(0.125)    # pruned count 0
    assert layer.convergence("alive") == pytest.approx(0.25)
    layer.mask[...] = False
    assert layer.convergence("alive") == 0.0                   # nothing left to learn
    with pytest.raises(ValueError, match="convergence_over"):
        layer.convergence("some")


def test_readout_layers_out_of_range_is_refused_before_training():
    spec = dataclasses.replace(preset("digits"), readout_layers=(0, 2))   # 2 layers only
    data = _limit(load_digits(size=16, seed=0), 20)
    with pytest.raises(ValueError, match="readout_layers"):
        run_network(data, spec, PruneSpec(), seed=0)
