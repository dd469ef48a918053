"""Fixed-point mode agrees with float mode within the quantisation step."""

import numpy as np
import pytest

from spikeforge.golden import fixedpoint as fx
from spikeforge.golden.layers import ConvLayer, FixedPointFormat, LayerCounters, stdp_float

T = 8


def random_times(rng, shape, p_spike=0.5):
    t = rng.integers(0, T, size=shape).astype(np.int16)
    t[rng.random(shape) > p_spike] = T
    return t


def pair(bits, rng, threshold=4.0):
    fmt = FixedPointFormat(weight_bits=bits, potential_bits=bits + 10, rate_frac_bits=12)
    flt = ConvLayer(in_channels=2, maps=4, kernel=3, threshold=threshold, k_winners=2,
                    radius=1, time_steps=T).init_weights(rng)
    fix = ConvLayer(in_channels=2, maps=4, kernel=3, threshold=threshold, k_winners=2,
                    radius=1, time_steps=T, fixed=fmt)
    fix.weights = fx.quantize_weights(flt.weights, bits)
    fix.mask = flt.mask.copy()
    return fmt, flt, fix


@pytest.mark.parametrize("bits", [4, 8])
def test_potentials_agree_within_half_lsb_per_synapse(bits):
    rng = np.random.default_rng(bits)
    fmt, flt, fix = pair(bits, rng)
    times = random_times(rng, (3, 2, 6, 6))
    from spikeforge.golden.layers import im2col, potentials
    patches = im2col(times, 3, 0, T).reshape(3, -1, 18)
    p_float = potentials(patches, flt.weights2d(), T, dtype=np.float64)
    p_fixed = potentials(patches, fix.weights2d().astype(np.float64), T, dtype=np.float64)
    n_spikes = (patches < T).sum(axis=2)[:, None, :, None]  # inputs per neuron
    # Each weight is off by at most half an LSB; the potential by n_spikes half LSBs.
    bound = n_spikes * 0.5 / fmt.w_max + 1e-9
    err = np.abs(p_fixed / fmt.w_max - p_float)
    assert np.all(err <= bound)
    assert err.max() > 0, "the comparison must see quantisation error"


@pytest.mark.parametrize("bits", [6, 8, 10])
def test_one_stdp_step_agrees_within_two_lsb(bits):
    rng = np.random.default_rng(100 + bits)
    w = rng.uniform(0, 1, size=500)
    pot = rng.random(500) < 0.5
    a_plus, a_minus = 0.1, -0.075
    wmax = fx.w_max(bits)
    q = fx.quantize_weights(w, bits)
    fixed = fx.stdp_update(q, pot, fx.quantize_rate(a_plus, 12), fx.quantize_rate(a_minus, 12),
                           bits, 12) / wmax
    flt = stdp_float(w, pot, a_plus, a_minus)
    # Sources: weight rounding (1/2 LSB), ceiling of the step (< 1 LSB), the 2**bits
    # divisor and rate rounding (a small fraction of one step).
    assert np.max(np.abs(fixed - flt)) <= 2.0 / wmax


def test_learning_step_same_winners_and_weights_within_two_lsb():
    rng = np.random.default_rng(5)
    fmt, flt, fix = pair(8, rng, threshold=3.3)
    # Start both from the same (quantised) weights so that both integrate identical
    # potentials; they may then differ only by the STDP arithmetic.
    w0 = fix.weights.copy()
    learned = 0
    for _ in range(6):
        times = random_times(rng, (2, 6, 6), p_spike=0.4)
        flt.weights, fix.weights = w0 / fmt.w_max, w0.copy()
        flt.mask, fix.mask = np.ones_like(fix.mask), np.ones_like(fix.mask)
        c_f, c_x = LayerCounters(), LayerCounters()
        win_f = flt.learn_image(times, 0.05, -0.0375, None, c_f)
        win_x = fix.learn_image(times, 0.05, -0.0375, None, c_x)
        assert win_f == win_x
        learned += len(win_f)
        err = np.abs(fix.real_weights() - flt.weights)
        assert err.max() <= 2.0 / fmt.w_max
        assert (c_f.syn_ops, c_f.stdp_updates) == (c_x.syn_ops, c_x.stdp_updates)
    assert learned >= 6, "the case must exercise learning"


def test_fixed_potentials_saturate():
    fmt = FixedPointFormat(weight_bits=4, potential_bits=5, rate_frac_bits=8)
    layer = ConvLayer(in_channels=1, maps=1, kernel=2, threshold=100.0, time_steps=T, fixed=fmt)
    layer.weights = np.full((1, 1, 2, 2), 15, dtype=np.int64)
    layer.mask = np.ones((1, 1, 2, 2), bool)
    from spikeforge.golden.layers import im2col, potentials
    times = np.zeros((1, 1, 2, 2), dtype=np.int16)
    # forward_patches saturates at 2**5 - 1 = 31 (sum would be 60): threshold 100*15 never met.
    out, fpot, _ = layer.forward(times)
    assert out[0, 0, 0, 0] == T
    layer.threshold = 2.0  # 30 in units: 31 > 30 fires with the saturated potential
    out, fpot, _ = layer.forward(times)
    assert out[0, 0, 0, 0] == 0 and fpot[0, 0, 0, 0] == 31
