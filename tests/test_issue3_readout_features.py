"""Issue 3, digits accuracy loss: the ``latency+spikes`` readout features and the
digits preset's stricter convergence stop (docs/network.md, "Digits (default)")."""

import dataclasses

import numpy as np
import pytest

from spikeforge.golden.datasets import load_digits
from spikeforge.golden.experiment import TARGETS, _limit, compare_runs
from spikeforge.golden.layers import ConvLayer
from spikeforge.golden.network import PruneSpec, preset, run_network
from spikeforge.golden.readout import spike_features

# Two images, one map of 1x3 pooled units, T = 4: a spike at step 0, a late spike at the
# last step (3), and no spike (the sentinel 4).
_TIMES = np.array([[[[0, 3, 4]]], [[[4, 2, 1]]]], dtype=np.int16)


def test_latency_and_spikes_hand_values():
    lat = spike_features(_TIMES, 4, "latency")
    spk = spike_features(_TIMES, 4, "spikes")
    np.testing.assert_array_equal(lat, np.array([[1.0, 0.25, 0.0], [0.0, 0.5, 0.75]],
                                                dtype=np.float32))
    np.testing.assert_array_equal(spk, np.array([[1, 1, 0], [0, 1, 1]], dtype=np.float32))
    both = spike_features(_TIMES, 4, "latency+spikes")
    assert both.dtype == np.float32 and both.shape == (2, 6)
    # The latencies first, then the spikes: a late spike (0.25) and no spike (0.0) are
    # close in the latency part and apart in the binary part.
    np.testing.assert_array_equal(both, np.array([[1.0, 0.25, 0.0, 1, 1, 0],
                                                  [0.0, 0.5, 0.75, 0, 1, 1]], dtype=np.float32))


def test_default_feature_kind_is_unchanged():
    # spikeforge/workloads.py and compare.py rely on the defaults of readout.py.
    np.testing.assert_array_equal(spike_features(_TIMES, 4),
                                  spike_features(_TIMES, 4, "spikes"))


def test_unknown_feature_kind_names_the_allowed_ones():
    with pytest.raises(ValueError, match="'spikes', 'latency' or 'latency\\+spikes'"):
        spike_features(_TIMES, 4, "latencies")


def test_convergence_over_all_synapses_hides_unsettled_alive_weights():
    """Why the digits preset stops at C < 0.0025: with 95 % of a kernel pruned (w = 0),
    C over all synapses is 20x smaller than over the alive ones, so the old 0.01 stop
    fires while the alive weights are still mid-way (w(1-w) = 0.19 here)."""
    layer = ConvLayer(in_channels=1, maps=1, kernel=10, threshold=1.0)
    layer.init_weights(np.random.default_rng(0))
    flat_w, flat_m = layer.weights.reshape(-1), layer.mask.reshape(-1)
    flat_m[5:] = False
    flat_w[5:] = 0.0
    w = 0.5 + np.sqrt(0.25 - 0.19)          # w(1-w) = 0.19
    flat_w[:5] = w
    assert layer.convergence("alive") == pytest.approx(0.19)
    assert layer.convergence("all") == pytest.approx(0.0095)
    assert layer.convergence("all") < 0.01                        # the old stop fires
    assert layer.convergence("all") >= preset("digits").convergence_stop   # the new does not


def test_digits_preset_readout_is_latency_and_spikes_of_both_layers():
    """A shortened digits run (400 images per set, 300 learning images per layer): the
    readout reads 2 x (32x8x8 + 64x4x4) features, and only the readout differs from a
    latency-only readout of the same run (same learning work)."""
    spec = preset("digits")
    assert spec.readout == "latency+spikes" and spec.readout_layers == (0, 1)
    short = dataclasses.replace(spec, readout_cv_repeats=0, svm_c_grid=(), layers=tuple(
        dataclasses.replace(l, learn_images=300) for l in spec.layers))
    data = _limit(load_digits(size=16, seed=3), 400)
    both = run_network(data, short, PruneSpec(), seed=3)
    lat = run_network(data, dataclasses.replace(short, readout="latency"), PruneSpec(), seed=3)
    assert both["readout"]["features"] == 2 * (32 * 8 * 8 + 64 * 4 * 4)
    assert lat["readout"]["features"] == 32 * 8 * 8 + 64 * 4 * 4
    assert both["learning"]["work"] == lat["learning"]["work"]
    assert both["connectivity"] == lat["connectivity"]


@pytest.mark.slow
def test_digits_preset_meets_the_non_accuracy_targets_and_the_cv_loss_on_seed_0():
    """The full digits preset, pruned vs unpruned from seed 0 (about a minute on one
    core): connectivity, learning-work and inference targets, and the cross-validated
    accuracy loss on the readout-training images within 0.5 points."""
    spec = preset("digits")
    data = load_digits(size=spec.image_size[0], seed=0)
    unpruned = run_network(data, spec, PruneSpec(enabled=False), seed=0)
    pruned = run_network(data, spec, PruneSpec(theta_p=0.3), seed=0)
    t = compare_runs(pruned, unpruned)["targets"]
    for name in ("connectivity_reduction_pct", "learning_work_speedup",
                 "inference_syn_ops_speedup", "accuracy_loss_points_cv"):
        assert t[name]["met"] is True, (name, t[name])
    assert t["connectivity_reduction_pct"]["measured"] >= TARGETS["connectivity_reduction_pct"]
    for layer in pruned["layers"] + unpruned["layers"]:
        assert layer["learning"]["converged"] is True
        assert layer["convergence"] < spec.convergence_stop
