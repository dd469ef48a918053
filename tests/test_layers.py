"""Layers against small hand-computed cases: IF firing, inhibition, k-WTA, pooling, STDP,
pruning, counting, the rate schedule, and the core-exact fully connected layer."""

import numpy as np
import pytest

from spikeforge.config import CoreConfig, CoreRegisters
from spikeforge.golden import fixedpoint as fx
from spikeforge.golden.fc_layer import infer_fc_layer_fixed, train_fc_layer_fixed
from spikeforge.golden.layers import (ConvLayer, FixedPointFormat, LayerCounters, convergence,
                                      fire, im2col, k_winners, learning_rates,
                                      pointwise_inhibition, pool_times, potentials, stdp_float)

T = 4


def one_patch_layer(weights, threshold, fixed=None):
    """A 1-map layer with a 2x2 kernel over a 1-channel 2x2 input: one neuron."""
    layer = ConvLayer(in_channels=1, maps=1, kernel=2, threshold=threshold, k_winners=1,
                      time_steps=T, fixed=fixed)
    layer.weights = np.array(weights, dtype=np.int64 if fixed else np.float64).reshape(1, 1, 2, 2)
    layer.mask = np.ones((1, 1, 2, 2), dtype=bool)
    return layer


def test_potentials_and_first_spike_hand_case():
    times = np.array([[0, 1], [2, T]], dtype=np.int16).reshape(1, 1, 2, 2)
    layer = one_patch_layer([0.5, 0.3, 0.4, 0.9], threshold=0.7)
    patches = im2col(times, 2, 0, T)
    pot = potentials(patches.reshape(1, 1, 4), layer.weights2d(), T, dtype=np.float64)
    # Potentials by step: 0.5, 0.8, 1.2, 1.2 (the 4th input never spikes).
    np.testing.assert_allclose(pot[0, :, 0, 0], [0.5, 0.8, 1.2, 1.2])
    out, fpot, ops = layer.forward(times)
    assert out[0, 0, 0, 0] == 1 and fpot[0, 0, 0, 0] == pytest.approx(0.8)
    assert ops[0] == 3  # three input spikes into three alive synapses


def test_fire_needs_strictly_greater_than_threshold():
    pot = np.array([[1.0, 2.0, 2.0, 3.0]]).reshape(1, 4, 1)
    times, fpot = fire(pot, 2.0, 4)
    assert times[0, 0] == 3 and fpot[0, 0] == 3.0
    times, fpot = fire(pot, 3.0, 4)
    assert times[0, 0] == 4 and fpot[0, 0] == 0


def test_pruned_synapse_is_skipped_in_integration_and_ops():
    times = np.array([[0, 0], [0, 0]], dtype=np.int16).reshape(1, 1, 2, 2)
    layer = one_patch_layer([0.5, 0.5, 0.5, 0.5], threshold=1.2)
    layer.mask[0, 0, 0, 0] = False
    layer.weights[0, 0, 0, 0] = 0.0
    out, fpot, ops = layer.forward(times)
    assert fpot[0, 0, 0, 0] == pytest.approx(1.5) and ops[0] == 3


def test_pointwise_inhibition_hand_case():
    # 3 maps, 1x2 positions.  Position 0: map 1 earliest.  Position 1: maps 0 and 2 tie
    # at time 1, map 2 has the larger potential.
    times = np.array([[[3, 1]], [[2, 4]], [[4, 1]]], dtype=np.int16)
    pots = np.array([[[9., 5.]], [[1., 0.]], [[0., 7.]]])
    got = pointwise_inhibition(times, pots, 4)
    np.testing.assert_array_equal(got, [[[4, 4]], [[2, 4]], [[4, 1]]])


def test_pointwise_inhibition_full_tie_keeps_lowest_map():
    times = np.array([[[1]], [[1]]], dtype=np.int16)
    pots = np.array([[[2.]], [[2.]]])
    np.testing.assert_array_equal(pointwise_inhibition(times, pots, 4), [[[1]], [[4]]])


def test_k_winners_order_radius_and_one_per_map():
    F, H, W = 3, 5, 5
    times = np.full((F, H, W), T, dtype=np.int16)
    pots = np.zeros((F, H, W))
    times[0, 0, 0], pots[0, 0, 0] = 0, 5.0   # earliest: winner 1
    times[0, 4, 4], pots[0, 4, 4] = 0, 9.0   # same map as winner 1... but larger pot
    times[1, 1, 1], pots[1, 1, 1] = 0, 1.0   # inside radius of (4,4)? no; of (0,0)? yes (r=1)
    times[2, 2, 2], pots[2, 2, 2] = 1, 8.0   # later time
    times[1, 4, 0], pots[1, 4, 0] = 2, 3.0
    got = k_winners(times, pots, k=3, radius=1, time_steps=T)
    # Step 1: time 0, largest potential -> map 0 at (4,4); map 0 is then inhibited.
    # Step 2: time 0 candidates left: (1,1,1) -> wins.  Step 3: (2,2,2) at time 1 is
    # inside the window of (1,1)? |2-1| <= 1 -> inhibited; (1,4,0) is map 1: inhibited.
    assert got == [(0, 4, 4, 0), (1, 1, 1, 0)]
    got2 = k_winners(times, pots, k=3, radius=0, time_steps=T)
    assert got2 == [(0, 4, 4, 0), (1, 1, 1, 0), (2, 2, 2, 1)]


def test_k_winners_tie_on_time_and_potential_takes_lowest_flat_index():
    times = np.array([[[0, 0]]], dtype=np.int16).repeat(2, axis=0)
    pots = np.ones((2, 1, 2))
    assert k_winners(times, pots, 1, 0, T) == [(0, 0, 0, 0)]


def test_pool_times_is_min_over_windows():
    t = np.array([[5, 1, 5, 5],
                  [5, 5, 2, 5],
                  [0, 5, 5, 5],
                  [5, 5, 5, 3]], dtype=np.int16)[None]
    np.testing.assert_array_equal(pool_times(t, 2, 2, 0, 5), [[[1, 2], [0, 3]]])
    # Padding never wins: it is the "never" sentinel.
    np.testing.assert_array_equal(pool_times(t, 2, 2, 1, 5)[0, 0], [5, 1, 5])


def test_stdp_float_hand_values():
    w = np.array([0.5, 0.5, 0.0, 1.0, 0.2])
    pot = np.array([True, False, True, False, False])
    got = stdp_float(w, pot, 0.1, -0.075)
    np.testing.assert_allclose(got, [0.525, 0.48125, 0.0, 1.0, 0.188])


def test_learn_image_stdp_prune_and_counts_hand_case():
    # One neuron, 4 inputs spike at 0, 1, 3, never; threshold crossed at step 1.
    times = np.array([[0, 1], [3, T]], dtype=np.int16).reshape(1, 2, 2)
    layer = one_patch_layer([0.5, 0.5, 0.1, 0.06], threshold=0.9)
    c = LayerCounters()
    winners = layer.learn_image(times, 0.1, -0.5, theta_p=0.05, counters=c)
    assert winners == [(0, 0, 0, 1)]
    # LTP for inputs at 0 and 1 (<= 1); LTD for the input at 3 and the silent one.
    want = [0.5 + 0.1 * 0.25, 0.5 + 0.1 * 0.25, 0.1 - 0.5 * 0.09, 0.06 - 0.5 * 0.06 * 0.94]
    want = [w if w >= 0.05 else 0.0 for w in want]  # 0.0318 is pruned
    np.testing.assert_allclose(layer.weights.ravel(), want)
    np.testing.assert_array_equal(layer.mask.ravel(), [True, True, True, False])
    assert (c.stdp_updates, c.pruned, c.syn_ops, c.images) == (4, 1, 3, 1)
    # The pruned synapse is skipped in the next update: 3 updates, it stays 0 and masked.
    layer.learn_image(times, 0.1, -0.5, theta_p=0.05, counters=c)
    assert c.stdp_updates == 7
    assert layer.weights.ravel()[3] == 0.0 and not layer.mask.ravel()[3]


def test_learn_image_fixed_point_uses_fixedpoint_functions():
    fmt = FixedPointFormat(weight_bits=8, potential_bits=16, rate_frac_bits=12)
    times = np.array([[0, 1], [3, T]], dtype=np.int16).reshape(1, 2, 2)
    w0 = np.array([128, 128, 26, 15])
    layer = one_patch_layer(w0, threshold=0.9, fixed=fmt)  # threshold 230 in units
    assert layer.threshold_units == 230
    c = LayerCounters()
    winners = layer.learn_image(times, 0.1, -0.5, theta_p=0.08, counters=c)
    assert winners == [(0, 0, 0, 1)]
    ap, am = fx.quantize_rate(0.1, 12), fx.quantize_rate(0.5, 12)
    want = fx.stdp_update(w0, np.array([True, True, False, False]), ap, am, 8, 12)
    want, mask, newly = fx.prune(want, np.ones(4, bool), round(0.08 * 255), True)
    np.testing.assert_array_equal(layer.weights.ravel(), want)
    np.testing.assert_array_equal(layer.mask.ravel(), mask)
    assert c.pruned == int(newly.sum()) and c.pruned >= 1


def test_count_ops_conv_hand_case():
    # 1 channel 3x3 input, kernel 2, 2 maps, no padding: 4 output positions.
    times = np.full((1, 1, 3, 3), T, dtype=np.int16)
    times[0, 0, 1, 1] = 0   # the centre belongs to all 4 patches
    times[0, 0, 0, 0] = 2   # the corner to 1 patch
    layer = ConvLayer(in_channels=1, maps=2, kernel=2, threshold=10.0, time_steps=T)
    layer.init_weights(np.random.default_rng(0))
    assert layer.forward(times)[2][0] == 2 * 5
    # Prune map 1's top-left tap: the corner spike is its top-left input in patch (0,0),
    # the centre spike is the top-left input of patch (1,1).
    layer.mask[1, 0, 0, 0] = False
    assert layer.forward(times)[2][0] == 10 - 2


def test_learning_rate_schedule():
    assert learning_rates(0) == pytest.approx((0.004, -0.003))
    assert learning_rates(499)[0] == pytest.approx(0.004)
    assert learning_rates(500)[0] == pytest.approx(0.008)
    assert learning_rates(1500)[0] == pytest.approx(0.032)
    assert learning_rates(100000) == pytest.approx((0.15, -0.1125))


def test_convergence_measure():
    assert convergence(np.array([0.0, 1.0, 0.5, 0.5])) == pytest.approx(0.125)


# ---------------------------------------------------------------------------------------
# The core-exact fully connected layer (docs/core.md semantics)
# ---------------------------------------------------------------------------------------

def reference_train(cfg, regs, weights, mask, samples):
    """A literal, event-by-event reading of docs/core.md's learning semantics."""
    w = np.array(weights, dtype=np.int64)
    m = np.array(mask, dtype=bool) if cfg.pruning else np.ones_like(w, dtype=bool)
    w = np.where(m, w, 0)
    winners = []
    for sample in samples:
        pot = [0] * cfg.n_neurons
        last_valid = -1
        step = None
        winner = None
        events_valid = []
        for i, t in sample:
            if not (0 <= i < cfg.n_inputs and 0 <= t < cfg.time_steps) or t < last_valid:
                continue
            if step is not None and t > step and winner is None:
                fired = [j for j in range(cfg.n_neurons) if pot[j] > regs.threshold]
                if fired:
                    best = max(pot[j] for j in fired)
                    winner = (min(j for j in fired if pot[j] == best), step)
            last_valid = t
            step = t
            events_valid.append((i, t))
            if winner is None:
                for j in range(cfg.n_neurons):
                    if m[i, j]:
                        pot[j] = min(cfg.potential_max, pot[j] + int(w[i, j]))
        if step is not None and winner is None:
            fired = [j for j in range(cfg.n_neurons) if pot[j] > regs.threshold]
            if fired:
                best = max(pot[j] for j in fired)
                winner = (min(j for j in fired if pot[j] == best), step)
        if winner is None:
            winners.append((-1, -1))
            continue
        j, tw = winner
        winners.append(winner)
        early = {i for i, t in events_valid if t <= tw}
        for i in range(cfg.n_inputs):
            if not m[i, j]:
                continue
            ww = int(w[i, j])
            if i in early:
                ww = min(cfg.w_max, ww + int(fx.stdp_magnitude(ww, regs.a_plus, cfg.weight_bits,
                                                                cfg.rate_frac_bits)))
            else:
                ww = max(0, ww - int(fx.stdp_magnitude(ww, regs.a_minus, cfg.weight_bits,
                                                        cfg.rate_frac_bits)))
            if cfg.pruning and regs.prune_enable and ww < regs.theta_p:
                ww = 0
                m[i, j] = False
            w[i, j] = ww
    return w, m, np.array(winners).reshape(-1, 2)


def test_fc_train_hand_case():
    cfg = CoreConfig(n_inputs=3, n_neurons=2, weight_bits=4, potential_bits=8, time_steps=4,
                     lanes=1, rate_frac_bits=4)
    regs = CoreRegisters(threshold=10, theta_p=3, a_plus=8, a_minus=8, prune_enable=True)
    w = np.array([[6, 5], [6, 9], [2, 1]])
    mask = np.ones((3, 2), bool)
    # Step 0: input 0 -> pots (6, 5).  Step 1: input 1 -> (12, 14): both fire, neuron 1
    # has the larger potential and wins at t=1.  Input 2 at t=2 comes after: depressed.
    res = train_fc_layer_fixed(cfg, regs, w, mask, [[(0, 0), (1, 1), (2, 2)]])
    weights, m, winners = res
    np.testing.assert_array_equal(winners, [[1, 1]])
    # Neuron 1: w=5 LTP: ceil(8*5*10/256)=2 -> 7; w=9 LTP: ceil(8*9*6/256)=2 -> 11;
    # w=1 LTD: ceil(8*1*14/256)=1 -> 0 -> pruned (< 3).  Neuron 0 untouched.
    np.testing.assert_array_equal(weights, [[6, 7], [6, 11], [2, 0]])
    np.testing.assert_array_equal(m, [[1, 1], [1, 1], [1, 0]])
    assert res.counters["syn_ops"] == 4 and res.counters["stdp_updates"] == 3
    assert res.counters["pruned"] == 1


def test_fc_train_drops_invalid_events_and_no_winner_means_no_update():
    cfg = CoreConfig(n_inputs=3, n_neurons=2, weight_bits=4, potential_bits=8, time_steps=4,
                     lanes=1, rate_frac_bits=4)
    regs = CoreRegisters(threshold=100, theta_p=3, a_plus=8, a_minus=8)
    w = np.array([[6, 5], [6, 9], [2, 1]])
    res = train_fc_layer_fixed(cfg, regs, w, np.ones((3, 2), bool),
                               [[(0, 2), (5, 2), (1, 4), (2, 1), (1, 3)]])
    np.testing.assert_array_equal(res.winners, [[-1, -1]])
    np.testing.assert_array_equal(res.weights, w)
    # (5,2): bad index; (1,4): time out of range; (2,1): out of order.
    assert res.counters["dropped"] == 3 and res.counters["syn_ops"] == 4


@pytest.mark.parametrize("pruning", [True, False])
def test_fc_train_matches_literal_reference_on_random_samples(pruning):
    rng = np.random.default_rng(7)
    cfg = CoreConfig(n_inputs=24, n_neurons=6, weight_bits=6, potential_bits=9, time_steps=8,
                     lanes=2, pruning=pruning, rate_frac_bits=8)
    regs = CoreRegisters(threshold=150, theta_p=10, a_plus=60, a_minus=45, prune_enable=True)
    w = rng.integers(20, 64, size=(24, 6))
    mask = rng.random((24, 6)) > 0.1
    samples = []
    for _ in range(60):
        n = rng.integers(0, 20)
        idx = rng.integers(0, 26, size=n)               # some out of range
        t = np.sort(rng.integers(0, 9, size=n))         # some times == T (invalid)
        ev = list(zip(idx.tolist(), t.tolist()))
        if n > 3 and rng.random() < 0.3:
            ev.insert(n // 2, (int(rng.integers(0, 24)), 0))   # out of order
        samples.append(ev)
    got_w, got_m, got_win = train_fc_layer_fixed(cfg, regs, w, mask, samples)
    ref_w, ref_m, ref_win = reference_train(cfg, regs, w, mask, samples)
    np.testing.assert_array_equal(got_win, ref_win)
    np.testing.assert_array_equal(got_w, ref_w)
    np.testing.assert_array_equal(got_m, ref_m)
    assert (got_win[:, 0] >= 0).sum() > 10, "the case must exercise learning"
    if pruning:
        assert (~got_m).sum() > (~mask).sum(), "the case must exercise pruning"
    else:
        assert got_m.all()


def test_fc_infer_emits_every_neuron_once_in_order():
    cfg = CoreConfig(n_inputs=3, n_neurons=3, weight_bits=4, potential_bits=8, time_steps=4,
                     lanes=1, rate_frac_bits=4)
    regs = CoreRegisters(threshold=7, theta_p=0, a_plus=0, a_minus=0)
    w = np.array([[8, 0, 4], [0, 8, 4], [0, 0, 4]])
    res = infer_fc_layer_fixed(cfg, regs, w, None, [[(0, 0), (1, 2), (2, 2)]])
    assert res.spikes == [[(0, 0), (1, 2), (2, 2)]]
    assert res.counters["syn_ops"] == 9


def test_fc_train_rejects_bad_shapes():
    cfg = CoreConfig(n_inputs=3, n_neurons=2, lanes=1)
    with pytest.raises(ValueError, match="shape"):
        train_fc_layer_fixed(cfg, CoreRegisters(), np.zeros((2, 3)), None, [])
