"""Edge cases of the core, each held to the golden model bit- and cycle-exactly
(amaranth.sim, the polite protocol of docs/core.md) plus the property that makes the
case an edge: what must (not) happen there."""

import numpy as np
import pytest

from core_amaranth_tb import check_against_model
from spikeforge.config import CoreConfig, CoreRegisters

SMALL = CoreConfig(n_inputs=10, n_neurons=4, lanes=2, time_steps=6, weight_bits=5,
                   potential_bits=10)


def _run(cfg, weights, mask, samples, regs):
    """RTL vs model, everything compared; returns the model and its per-sample results."""
    return check_against_model(cfg, np.where(mask, weights, 0), mask, samples, regs)


def _weights(cfg, rng, low=0.6, high=0.95):
    return rng.integers(int(low * cfg.w_max), int(high * cfg.w_max) + 1,
                        (cfg.n_inputs, cfg.n_neurons)).astype(np.int64)


def _all_at(cfg, time):
    return np.stack([np.arange(cfg.n_inputs), np.full(cfg.n_inputs, time)], axis=1)


def _regs(**changes):
    base = dict(threshold=60, theta_p=5, a_plus=400, a_minus=300, prune_enable=True,
                learn=False)
    return CoreRegisters(**{**base, **changes})


@pytest.mark.parametrize("learn", [False, True], ids=["infer", "learn"])
def test_all_inputs_spike_at_the_first_step(learn):
    cfg = SMALL
    rng = np.random.default_rng(1)
    w = _weights(cfg, rng)
    mask = np.ones_like(w, dtype=bool)
    model, res = _run(cfg, w, mask, [_all_at(cfg, 0)] * 2, _regs(learn=learn))
    first = res[0]
    assert first.out_events and all(t == 0 for _, t, _ in first.out_events)
    if learn:
        assert len(first.out_events) == 1 and first.winner is not None
        assert first.stdp_updates == cfg.n_inputs      # every input spiked: all LTP
    else:
        assert len(first.out_events) == cfg.n_neurons  # every neuron crosses at step 0
    assert first.syn_ops == cfg.n_inputs * cfg.n_neurons


@pytest.mark.parametrize("learn", [False, True], ids=["infer", "learn"])
def test_no_input_spikes_only_the_end_marker(learn):
    cfg = SMALL
    w = _weights(cfg, np.random.default_rng(2))
    empty = np.zeros((0, 2), dtype=np.int64)
    model, res = _run(cfg, w, np.ones_like(w, dtype=bool), [empty] * 3, _regs(learn=learn))
    for r in res:
        assert r.out_events == [] and r.winner is None and r.syn_ops == 0
    assert model.counters["samples"] == 3 and model.counters["stdp_updates"] == 0
    np.testing.assert_array_equal(model.weights, w)


@pytest.mark.parametrize("value", ["zero", "w_max"])
def test_weights_at_zero_and_at_w_max_are_fixed_points(value):
    """w(1-w) = 0 at both ends: STDP leaves them where they are (pruning disabled so that
    w = 0 stays alive and keeps being updated)."""
    cfg = SMALL
    w = np.full((cfg.n_inputs, cfg.n_neurons), 0 if value == "zero" else cfg.w_max,
                dtype=np.int64)
    samples = [_all_at(cfg, 0), _all_at(cfg, 2)[:5]]
    regs = _regs(learn=True, threshold=0 if value == "zero" else 60, prune_enable=False,
                 a_plus=(1 << cfg.rate_frac_bits) - 1, a_minus=(1 << cfg.rate_frac_bits) - 1)
    model, res = _run(cfg, w, np.ones_like(w, dtype=bool), samples, regs)
    np.testing.assert_array_equal(model.weights, w)
    if value == "zero":   # potentials stay 0, never > threshold 0: nobody fires
        assert all(r.winner is None for r in res)
    else:
        assert all(r.winner is not None for r in res)
        assert model.counters["stdp_updates"] == 2 * cfg.n_inputs


def test_theta_p_zero_never_prunes():
    """theta_p = 0: ``w < 0`` never holds, so even weights driven to 0 keep their mask."""
    cfg = SMALL
    rng = np.random.default_rng(3)
    w = rng.integers(0, 4, (cfg.n_inputs, cfg.n_neurons)).astype(np.int64)   # low weights
    regs = _regs(learn=True, threshold=2, theta_p=0, a_minus=(1 << cfg.rate_frac_bits) - 1)
    samples = [_all_at(cfg, 5)[:3]] + [_all_at(cfg, 0)[:3]] * 3
    model, res = _run(cfg, w, np.ones_like(w, dtype=bool), samples, regs)
    assert model.counters["stdp_updates"] > 0
    assert model.counters["pruned"] == 0 and model.mask.all()


def test_theta_p_w_max_prunes_everything_below_w_max():
    """theta_p = w_max: every updated synapse that does not end at w_max is pruned."""
    cfg = SMALL
    w = _weights(cfg, np.random.default_rng(4))
    regs = _regs(learn=True, theta_p=cfg.w_max)
    model, res = _run(cfg, w, np.ones_like(w, dtype=bool), [_all_at(cfg, 1)[:6]], regs)
    winner = res[0].winner
    assert winner is not None
    col_w, col_m = model.weights[:, winner], model.mask[:, winner]
    assert (col_m == (col_w == cfg.w_max)).all()
    assert res[0].pruned == int((~col_m).sum()) > 0


def test_smallest_potential_bits_saturate_like_the_model():
    """potential_bits = 4 (the smallest allowed; weight_bits = 3): potentials saturate at
    15 within a step.  Threshold 14 fires at saturation; threshold 15 (= potential_max)
    can never fire."""
    cfg = CoreConfig(n_inputs=12, n_neurons=3, lanes=1, time_steps=4, weight_bits=3,
                     potential_bits=4)
    w = np.full((cfg.n_inputs, cfg.n_neurons), cfg.w_max, dtype=np.int64)
    sample = _all_at(cfg, 1)
    assert cfg.n_inputs * cfg.w_max > cfg.potential_max        # saturation really happens
    _, res = _run(cfg, w, np.ones_like(w, dtype=bool), [sample], _regs(threshold=14, theta_p=0))
    assert [n for n, _, _ in res[0].out_events] == [0, 1, 2]
    _, res = _run(cfg, w, np.ones_like(w, dtype=bool), [sample],
                  _regs(threshold=cfg.potential_max, theta_p=0))
    assert res[0].out_events == []


def test_every_synapse_pruned_then_no_synaptic_operations():
    """theta_p = w_max and a+ = 0: each winner loses its whole column in one update and
    can no longer fire; after every neuron has won once the layer is empty, and further
    samples cost no synaptic operation, no spike and no STDP update."""
    cfg = SMALL
    w = _weights(cfg, np.random.default_rng(5))
    regs = _regs(learn=True, threshold=0, theta_p=cfg.w_max, a_plus=0)
    learning = [_all_at(cfg, 0)] * cfg.n_neurons
    after = [_all_at(cfg, 0), _all_at(cfg, 3)[:4]]
    model, res = _run(cfg, w, np.ones_like(w, dtype=bool), learning + after, regs)
    assert sorted(r.winner for r in res[:cfg.n_neurons]) == list(range(cfg.n_neurons))
    assert not model.mask.any() and not model.weights.any()
    for r in res[cfg.n_neurons:]:
        assert r.syn_ops == 0 and r.out_events == [] and r.stdp_updates == 0
    assert model.counters["pruned"] == cfg.n_inputs * cfg.n_neurons


@pytest.mark.parametrize("time_steps", [2, 256])
@pytest.mark.parametrize("learn", [False, True], ids=["infer", "learn"])
def test_time_steps_at_their_bounds(time_steps, learn):
    """T = 2 (1-bit times) and T = 256 (8-bit times, every time value legal): events at
    the first and the last step, several steps in between for T = 256."""
    cfg = CoreConfig(n_inputs=10, n_neurons=4, lanes=2, time_steps=time_steps, weight_bits=5,
                     potential_bits=10)
    w = _weights(cfg, np.random.default_rng(time_steps))
    times = ([0, 0, 1, 1, 1, 1] if time_steps == 2 else [0, 17, 100, 200, 254, 255])
    sample = np.stack([np.arange(6), times], axis=1)
    late = np.array([[7, time_steps - 1], [8, time_steps - 1]])
    model, res = _run(cfg, w, np.ones_like(w, dtype=bool), [sample, late],
                      _regs(threshold=70, learn=learn))
    assert res[0].out_events
    assert res[0].dropped == 0 and res[1].dropped == 0
    spike_times = {t for _, t, _ in res[0].out_events}
    assert spike_times <= set(times), "spikes only close steps that had events"
    assert max(spike_times) >= (1 if time_steps == 2 else 100)   # late steps exercised


@pytest.mark.parametrize("which", ["rates_max", "rates_zero", "threshold_max", "threshold_zero"])
def test_registers_at_their_extremes(which):
    cfg = SMALL
    w = _weights(cfg, np.random.default_rng(6), low=0.3, high=0.7)
    top = (1 << cfg.rate_frac_bits) - 1
    regs = {
        "rates_max": _regs(learn=True, a_plus=top, a_minus=top, theta_p=0),
        "rates_zero": _regs(learn=True, a_plus=0, a_minus=0, theta_p=0),
        "threshold_max": _regs(learn=False, threshold=cfg.potential_max),
        "threshold_zero": _regs(learn=False, threshold=0),
    }[which]
    sample = np.stack([np.arange(8), [0, 0, 1, 2, 2, 3, 4, 5]], axis=1)
    model, res = _run(cfg, w, np.ones_like(w, dtype=bool), [sample, sample[::2]], regs)
    if which == "rates_zero":
        np.testing.assert_array_equal(model.weights, w)
        assert model.counters["stdp_updates"] > 0
    elif which == "rates_max":
        assert (model.weights != w).any()
    elif which == "threshold_max":
        assert all(r.out_events == [] for r in res)
    else:   # any positive potential fires at the first step
        assert [t for _, t, _ in res[0].out_events] == [0] * cfg.n_neurons
