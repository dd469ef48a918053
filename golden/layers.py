"""Layers of the TTFS network golden model: one-spike IF neurons, inhibition, STDP, pruning.

Semantics (REFERENCE.md section 2, SpykeTorch):

* Spike trains are int16 first-spike times; ``T`` (the number of time steps) means never.
* A non-leaky integrate-and-fire neuron fires at most once: its potential at step ``t``
  is the sum of the weights of its alive synapses whose input spiked at or before ``t``;
  it fires at the first step where the potential is ``> threshold``.
* Convolution shares one kernel per feature map; a fully connected layer is a 1x1
  convolution over the flattened input (see :func:`flatten_times`).
* Pointwise (lateral) inhibition: at each position only the earliest neuron across
  maps keeps its spike (ties: larger potential at its firing step, then lower map index).
* k-WTA: up to ``k`` winners per image, earliest spike first, then larger potential,
  then lower flat index (map, y, x); at most one per map; each winner inhibits the
  ``(2r+1)^2`` window around it in every map.
* STDP (multiplicative): for each winner, each alive synapse of its kernel moves by
  ``a+ w(1-w)`` if its input spiked at or before the winner, else by ``a- w(1-w)``
  (``a- < 0``; inputs that never spiked count as after); weights stay in [0, 1].
* Pruning during learning: after each STDP update a weight below ``theta_p`` becomes 0
  and its mask bit is cleared; a masked synapse is skipped in integration and in every
  later update.

Float mode keeps weights in float64 in [0, 1].  Fixed-point mode keeps integer weights in
[0, w_max] and uses :mod:`spikeforge.golden.fixedpoint` for every arithmetic step
(STDP update, pruning, saturating potentials, rate quantisation), so a layer trained here
follows the hardware core's arithmetic exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numpy.lib.stride_tricks import sliding_window_view

from . import fixedpoint as fx
from .encoding import TIME_DTYPE
# The core-exact fully connected layer lives in fc_layer.py; re-exported for discovery.
from .fc_layer import infer_fc_layer_fixed, train_fc_layer_fixed  # noqa: F401

__all__ = [
    "FixedPointFormat", "LayerCounters", "ConvLayer", "im2col", "fire",
    "pointwise_inhibition", "k_winners", "pool_times", "flatten_times", "stdp_float",
    "learning_rates", "convergence", "train_fc_layer_fixed", "infer_fc_layer_fixed",
]


@dataclass(frozen=True)
class FixedPointFormat:
    """Widths of fixed-point mode (the hardware core's CoreConfig fields)."""

    weight_bits: int = 8
    potential_bits: int = 16
    rate_frac_bits: int = 12

    @property
    def w_max(self) -> int:
        return fx.w_max(self.weight_bits)


@dataclass
class LayerCounters:
    """Work actually performed by one layer in one phase."""

    syn_ops: int = 0          # integration: one input spike into one alive synapse
    stdp_updates: int = 0     # alive synapses updated by STDP
    pruned: int = 0           # mask bits cleared by the pruning rule
    images: int = 0           # images processed
    wall_time_s: float = 0.0
    cpu_time_s: float = 0.0   # process CPU time (the wall time also measures a busy machine)

    def add(self, other: "LayerCounters") -> None:
        self.syn_ops += other.syn_ops
        self.stdp_updates += other.stdp_updates
        self.pruned += other.pruned
        self.images += other.images
        self.wall_time_s += other.wall_time_s
        self.cpu_time_s += other.cpu_time_s

    def to_dict(self) -> dict:
        return {"syn_ops": int(self.syn_ops), "stdp_updates": int(self.stdp_updates),
                "pruned": int(self.pruned), "images": int(self.images),
                "wall_time_s": round(self.wall_time_s, 4),
                "cpu_time_s": round(self.cpu_time_s, 4)}


# ---------------------------------------------------------------------------------------
# Pure functions on spike times
# ---------------------------------------------------------------------------------------

def im2col(times: np.ndarray, kernel: int, pad: int, time_steps: int) -> np.ndarray:
    """Patches of spike times ``[N, C, H, W]`` -> ``[N, H', W', C*k*k]`` (stride 1).

    Padding is filled with the "never" sentinel ``time_steps``.
    """
    times = np.asarray(times)
    if pad:
        times = np.pad(times, ((0, 0), (0, 0), (pad, pad), (pad, pad)),
                       constant_values=time_steps)
    win = sliding_window_view(times, (kernel, kernel), axis=(2, 3))  # N,C,H',W',k,k
    n, c, h, w = win.shape[:4]
    return np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(n, h, w, c * kernel * kernel)


def potentials(patches: np.ndarray, weights2d: np.ndarray, time_steps: int,
               dtype=np.float32) -> np.ndarray:
    """Potentials at every step: ``patches [N, L, K]`` x ``weights2d [K, F]`` -> ``[N, T, L, F]``.

    ``pot[n, t, l, f] = sum_i w[i, f] * (patches[n, l, i] <= t)``.  Event-driven: a
    sparse matrix holds one entry per (spike, patch) pair at its spike step, so the work
    is proportional to the spikes, not to the patch size; a cumulative sum over time
    then gives the potentials.
    """
    n, L, K = patches.shape
    nn, ll, ii = np.nonzero(patches < time_steps)
    tt = patches[nn, ll, ii].astype(np.int64)
    rows = (nn * time_steps + tt) * L + ll
    onehot = sp.csr_matrix((np.ones(len(rows), dtype=dtype), (rows, ii)),
                           shape=(n * time_steps * L, K))
    pot = np.asarray(onehot @ weights2d.astype(dtype, copy=False))
    pot = pot.reshape(n, time_steps, L, -1)
    # A running sum step by step: numpy's cumsum along a middle axis runs its inner loop
    # over the short time axis and is an order of magnitude slower.
    for t in range(1, time_steps):
        pot[:, t] += pot[:, t - 1]
    return pot


def fire(pot: np.ndarray, threshold, time_steps: int):
    """First step with potential > threshold.  ``pot [N, T, ...]`` -> (times, fire_pot).

    ``times`` is int16 with ``T`` for neurons that never fire; ``fire_pot`` is the
    potential at the firing step (0 where no spike).  Potentials never decrease within a
    sample, so the firing step is the number of steps whose potential is still
    ``<= threshold``.
    """
    times = (pot <= threshold).sum(axis=1, dtype=np.int16)
    fired = times < time_steps
    idx = np.minimum(times, time_steps - 1).astype(np.intp)
    fire_pot = np.take_along_axis(pot, idx[:, None], axis=1)[:, 0]
    return times.astype(TIME_DTYPE), np.where(fired, fire_pot, 0)


def pointwise_inhibition(times: np.ndarray, pots: np.ndarray, time_steps: int) -> np.ndarray:
    """Keep, at each position, only the earliest spike across maps (axis -3).

    Ties: larger potential, then lower map index.  ``times``/``pots`` are ``[..., F, H, W]``.
    Returns the new times (losers get ``time_steps``).
    """
    times = np.asarray(times)
    earliest = times.min(axis=-3, keepdims=True)
    candidate = (times == earliest) & (times < time_steps)
    score = np.where(candidate, pots.astype(np.float64), -np.inf)
    best = np.argmax(score, axis=-3)  # first max: lowest map index
    keep = np.zeros(times.shape, dtype=bool)
    np.put_along_axis(keep, best[..., None, :, :], True, axis=-3)
    keep &= candidate
    return np.where(keep, times, time_steps).astype(TIME_DTYPE)


def k_winners(times: np.ndarray, pots: np.ndarray, k: int, radius: int,
              time_steps: int) -> list[tuple[int, int, int, int]]:
    """Up to ``k`` winners ``(map, y, x, time)`` of one image (``times [F, H, W]``).

    Order: earliest spike, then larger potential, then lower flat index.  At most one
    winner per map; each winner inhibits the ``(2r+1)^2`` window around it in all maps.
    """
    F, H, W = times.shape
    allowed = times < time_steps
    # Earliest time first; among those the largest potential; np.argmax returns the
    # first (lowest flat index) of equal maxima.
    t = times.astype(np.float64)
    p = pots.astype(np.float64)
    winners = []
    for _ in range(k):
        if not allowed.any():
            break
        tmin = np.where(allowed, t, np.inf).min()
        score = np.where(allowed & (t == tmin), p, -np.inf)
        flat = int(np.argmax(score))
        f, y, x = np.unravel_index(flat, (F, H, W))
        winners.append((int(f), int(y), int(x), int(times[f, y, x])))
        allowed[f] = False
        allowed[:, max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1] = False
    return winners


def pool_times(times: np.ndarray, size: int, stride: int, pad: int, time_steps: int) -> np.ndarray:
    """Max pooling of spikes = min pooling of first-spike times over ``[..., H, W]``."""
    times = np.asarray(times)
    if pad:
        widths = [(0, 0)] * (times.ndim - 2) + [(pad, pad), (pad, pad)]
        times = np.pad(times, widths, constant_values=time_steps)
    win = sliding_window_view(times, (size, size), axis=(-2, -1))
    win = win[..., ::stride, ::stride, :, :]
    return win.min(axis=(-2, -1)).astype(TIME_DTYPE)


def flatten_times(times: np.ndarray) -> np.ndarray:
    """``[N, C, H, W]`` -> ``[N, C*H*W, 1, 1]``: a fully connected layer is then a 1x1 conv."""
    n = times.shape[0]
    return times.reshape(n, -1, 1, 1)


def stdp_float(w: np.ndarray, potentiate: np.ndarray, a_plus: float, a_minus: float) -> np.ndarray:
    """Float multiplicative STDP: ``w + a * w(1-w)``, a = a+ (potentiate) or a- (< 0)."""
    a = np.where(potentiate, a_plus, a_minus)
    return np.clip(w + a * w * (1.0 - w), 0.0, 1.0)


def learning_rates(images_learned: int, a_plus0: float = 0.004, ratio: float = -0.75,
                   double_every: int = 500, a_plus_max: float = 0.15) -> tuple[float, float]:
    """The learning-rate schedule: a+ doubles every ``double_every`` images up to a max."""
    a_plus = min(a_plus_max, a_plus0 * 2.0 ** (images_learned // double_every))
    return a_plus, ratio * a_plus


def convergence(w_real: np.ndarray) -> float:
    """C = mean of w(1-w) over all synapses (pruned synapses have w = 0 and count 0)."""
    w_real = np.asarray(w_real, dtype=np.float64)
    return float(np.mean(w_real * (1.0 - w_real)))


# ---------------------------------------------------------------------------------------
# The convolutional layer
# ---------------------------------------------------------------------------------------

@dataclass
class ConvLayer:
    """A convolutional layer of one-spike IF neurons with shared kernels.

    ``weights [F, C, k, k]``: float64 in [0, 1], or int64 in [0, w_max] in fixed mode
    (``fixed`` not None); ``mask`` bool, False = pruned.  ``threshold`` is in real units
    (fixed mode compares against ``round(threshold * w_max)``).
    """

    in_channels: int
    maps: int
    kernel: int
    threshold: float
    k_winners: int = 1
    radius: int = 0
    pad: int = 0
    time_steps: int = 15
    fixed: FixedPointFormat | None = None
    weights: np.ndarray = field(default=None, repr=False)
    mask: np.ndarray = field(default=None, repr=False)

    def init_weights(self, rng: np.random.Generator, mean: float = 0.8, std: float = 0.05):
        shape = (self.maps, self.in_channels, self.kernel, self.kernel)
        w = np.clip(rng.normal(mean, std, size=shape), 0.0, 1.0)
        self.weights = fx.quantize_weights(w, self.fixed.weight_bits) if self.fixed else w
        self.mask = np.ones(shape, dtype=bool)
        return self

    # -- views ----------------------------------------------------------------------
    @property
    def fan_in(self) -> int:
        return self.in_channels * self.kernel * self.kernel

    @property
    def threshold_units(self):
        """The threshold in the units of the potentials (integers in fixed mode)."""
        if self.fixed:
            return int(round(self.threshold * self.fixed.w_max))
        return self.threshold

    def real_weights(self) -> np.ndarray:
        """Weights as reals in [0, 1] (fixed mode: w / w_max)."""
        if self.fixed:
            return self.weights.astype(np.float64) / self.fixed.w_max
        return self.weights

    def weights2d(self) -> np.ndarray:
        """``[C*k*k, F]`` with pruned synapses at 0."""
        w = np.where(self.mask, self.weights, 0)
        return w.reshape(self.maps, -1).T

    def connectivity(self) -> tuple[int, int]:
        return int(self.mask.sum()), int(self.mask.size)

    def convergence(self, over: str = "all") -> float:
        """C = mean w(1-w) over ``"all"`` synapses (pruned ones count 0) or only the
        ``"alive"`` ones (0.0 if none is left)."""
        if over == "all":
            return convergence(self.real_weights())
        if over == "alive":
            alive = self.real_weights()[self.mask]
            return convergence(alive) if alive.size else 0.0
        raise ValueError(f"convergence_over {over!r}: use 'all' or 'alive'")

    # -- integration ------------------------------------------------------------------
    def forward_patches(self, patches: np.ndarray):
        """Patches ``[N, H', W', K]`` -> (times ``[N, F, H', W']``, fire potentials,
        syn_ops per image ``[N]``)."""
        n, h, w, K = patches.shape
        flat = patches.reshape(n, h * w, K)
        if self.fixed:
            # float64 sums of integers are exact (< 2**53); saturation is order-independent
            # for non-negative increments, so saturating the total equals the hardware's
            # per-event saturating accumulation.
            pot = potentials(flat, self.weights2d().astype(np.float64), self.time_steps,
                             dtype=np.float64)
            pot = fx.saturating_accumulate(0, pot.astype(np.int64), self.fixed.potential_bits)
        else:
            pot = potentials(flat, self.weights2d(), self.time_steps)
        times, fpot = fire(pot, self.threshold_units, self.time_steps)
        times = times.reshape(n, h, w, self.maps).transpose(0, 3, 1, 2)
        fpot = fpot.reshape(n, h, w, self.maps).transpose(0, 3, 1, 2)
        return np.ascontiguousarray(times), np.ascontiguousarray(fpot), self.count_ops(flat)

    def count_ops(self, flat_patches: np.ndarray) -> np.ndarray:
        """Synaptic operations per image: each (input spike, alive synapse) pair is one.

        ``flat_patches [N, L, K]`` -> int64 ``[N]``.
        """
        spikes_per_input = (flat_patches < self.time_steps).sum(axis=1)    # [N, K]
        alive_per_input = self.mask.reshape(self.maps, -1).sum(axis=0)     # [K]
        return spikes_per_input.astype(np.int64) @ alive_per_input.astype(np.int64)

    def forward(self, in_times: np.ndarray, batch: int = 16):
        """Spike times ``[N, C, H, W]`` -> (times, fire potentials, syn_ops per image)."""
        outs_t, outs_p, ops = [], [], []
        for s in range(0, len(in_times), batch):
            patches = im2col(in_times[s:s + batch], self.kernel, self.pad, self.time_steps)
            t, p, o = self.forward_patches(patches)
            outs_t.append(t)
            outs_p.append(p)
            ops.append(o)
        return np.concatenate(outs_t), np.concatenate(outs_p), np.concatenate(ops)

    # -- learning ---------------------------------------------------------------------
    def learn_image(self, in_times: np.ndarray, a_plus: float, a_minus: float,
                    theta_p: float | None, counters: LayerCounters):
        """One learning step on one image ``[C, H, W]``: integrate, k-WTA, STDP, prune.

        ``theta_p`` None disables pruning for this image.  Returns the winners.
        """
        patches = im2col(in_times[None], self.kernel, self.pad, self.time_steps)
        times, fpot, ops = self.forward_patches(patches)
        counters.syn_ops += int(ops[0])
        counters.images += 1
        winners = k_winners(times[0], fpot[0], self.k_winners, self.radius, self.time_steps)
        flat_w = self.weights.reshape(self.maps, -1)
        flat_m = self.mask.reshape(self.maps, -1)
        if self.fixed:
            ap = fx.quantize_rate(a_plus, self.fixed.rate_frac_bits)
            am = fx.quantize_rate(a_minus, self.fixed.rate_frac_bits)
            theta = None if theta_p is None else int(round(theta_p * self.fixed.w_max))
        for f, y, x, t in winners:
            pre = patches[0, y, x]
            alive = flat_m[f]
            counters.stdp_updates += int(alive.sum())
            potentiate = pre <= t
            if self.fixed:
                new = fx.stdp_update(flat_w[f], potentiate, ap, am, self.fixed.weight_bits,
                                     self.fixed.rate_frac_bits)
                new = np.where(alive, new, flat_w[f])
                if theta is not None:
                    new, m, newly = fx.prune(new, alive, theta, True)
                else:
                    m, newly = alive, np.zeros_like(alive)
            else:
                new = np.where(alive, stdp_float(flat_w[f], potentiate, a_plus, a_minus), flat_w[f])
                if theta_p is not None:
                    newly = alive & (new < theta_p)
                    new = np.where(newly, 0.0, new)
                    m = alive & ~newly
                else:
                    m, newly = alive, np.zeros_like(alive)
            flat_w[f] = new
            flat_m[f] = m
            counters.pruned += int(newly.sum())
        return winners
