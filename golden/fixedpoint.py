"""Fixed-point arithmetic of spikeforge: the specification the hardware is held to.

Every function here is integer-exact and is used by the cycle-exact core model
(:mod:`spikeforge.golden.core_model`), by the network-level model in fixed-point mode,
and is what the Amaranth core implements (its comments point here).

Number formats
--------------
* weight ``w``: unsigned integer in ``[0, w_max]``, ``w_max = 2**weight_bits - 1``,
  standing for ``w / w_max`` in [0, 1].
* STDP rate ``a``: unsigned integer with ``rate_frac_bits`` fractional bits
  (``a / 2**rate_frac_bits``).  The depression rate register holds ``|a-|``.
* potential: unsigned integer, saturating at ``2**potential_bits - 1``.

STDP update (multiplicative, dw proportional to w(1-w))
-------------------------------------------------------
``mag(a, w) = ceil(a * w * (w_max - w) / 2**(weight_bits + rate_frac_bits))``

The divisor ``2**weight_bits`` stands in for ``w_max`` (a shift instead of a divider;
the rate is scaled by ``w_max / 2**weight_bits``, i.e. < 0.4 % low for 8-bit weights).
Rounding is **towards +infinity** (ceiling) of the magnitude, so that every synapse
with ``0 < w < w_max`` moves by at least one LSB per update even at the small starting
rate (a+ = 0.004); round-to-nearest would freeze low-precision weights.  ``w = 0`` and
``w = w_max`` stay fixed points because the product is 0 there.

* potentiation (input spiked at or before the winner): ``w' = min(w_max, w + mag(a+, w))``
* depression (input spiked after, or never): ``w' = max(0, w - mag(a-, w))``

Pruning rule (applied after every STDP write-back)
--------------------------------------------------
``if prune_enable and w' < theta_p: w' = 0; mask = 0``.  A masked synapse is skipped in
integration and in every later STDP update and never regrows.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "WEIGHT_DTYPE", "POTENTIAL_DTYPE", "w_max", "stdp_magnitude", "stdp_update",
    "prune", "saturating_accumulate", "quantize_weights", "quantize_rate",
]

# int64 holds every intermediate product for the allowed widths
# (weight_bits <= 12, rate_frac_bits <= 16: a*w*(w_max-w) < 2**38).
WEIGHT_DTYPE = np.int64
POTENTIAL_DTYPE = np.int64


def w_max(weight_bits: int) -> int:
    """Largest weight value for ``weight_bits``; it stands for 1.0."""
    return (1 << weight_bits) - 1


def stdp_magnitude(w, rate: int, weight_bits: int, rate_frac_bits: int):
    """``ceil(rate * w * (w_max - w) / 2**(weight_bits + rate_frac_bits))``, elementwise."""
    w = np.asarray(w, dtype=WEIGHT_DTYPE)
    shift = weight_bits + rate_frac_bits
    product = np.int64(rate) * w * (w_max(weight_bits) - w)
    return (product + ((1 << shift) - 1)) >> shift


def stdp_update(w, potentiate, a_plus: int, a_minus: int, weight_bits: int,
                rate_frac_bits: int):
    """One STDP step for every synapse in ``w``.

    ``potentiate`` is a boolean array (True: LTP, the input spiked at or before the
    post-synaptic spike; False: LTD).  Returns the new weights (int64), saturated to
    ``[0, w_max]``.
    """
    w = np.asarray(w, dtype=WEIGHT_DTYPE)
    potentiate = np.asarray(potentiate, dtype=bool)
    up = np.minimum(w_max(weight_bits), w + stdp_magnitude(w, a_plus, weight_bits, rate_frac_bits))
    down = np.maximum(0, w - stdp_magnitude(w, a_minus, weight_bits, rate_frac_bits))
    return np.where(potentiate, up, down).astype(WEIGHT_DTYPE)


def prune(w, mask, theta_p: int, enable: bool):
    """The pruning rule: weights below ``theta_p`` become 0 and lose their mask bit.

    Returns ``(weights, mask, newly_pruned)``; ``newly_pruned`` marks synapses whose mask
    bit this call cleared.
    """
    w = np.asarray(w, dtype=WEIGHT_DTYPE)
    mask = np.asarray(mask, dtype=bool)
    if not enable:
        return w.copy(), mask.copy(), np.zeros_like(mask)
    newly = mask & (w < theta_p)
    return np.where(newly, 0, w).astype(WEIGHT_DTYPE), mask & ~newly, newly


def saturating_accumulate(potential, increment, potential_bits: int):
    """``min(potential + increment, 2**potential_bits - 1)`` for non-negative operands.

    Because every increment is non-negative, the saturated sum does not depend on the
    order in which increments arrive (min(min(a+b, M)+c, M) == min(a+b+c, M)).
    """
    limit = (1 << potential_bits) - 1
    return np.minimum(np.asarray(potential, dtype=POTENTIAL_DTYPE) + increment, limit)


def quantize_weights(w_real, weight_bits: int):
    """Real weights in [0, 1] to integers (round half to even, clipped)."""
    q = np.rint(np.clip(np.asarray(w_real, dtype=np.float64), 0.0, 1.0) * w_max(weight_bits))
    return q.astype(WEIGHT_DTYPE)


def quantize_rate(rate: float, rate_frac_bits: int) -> int:
    """A real STDP rate magnitude to its register value (round to nearest, clipped)."""
    scale = 1 << rate_frac_bits
    return int(min(scale - 1, max(0, round(abs(rate) * scale))))
