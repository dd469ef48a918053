"""Random workloads for the core regression: weights, masks, registers and input samples.

Everything is drawn from one seed with NumPy's ``default_rng``, so the cocotb test (in the
simulator's process) and any host-side check build the very same workload.  Plain NumPy:
no cocotb, no Amaranth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import CoreConfig, CoreRegisters
from ..golden import fixedpoint as fx

__all__ = ["Workload", "make_workload", "random_weights", "random_mask", "random_sample",
           "insert_invalid_events", "choose_registers", "MODES"]

MODES = ("infer", "learn")


@dataclass
class Workload:
    """One regression run: the core's initial state, its registers and the samples."""

    cfg: CoreConfig
    regs: CoreRegisters
    weights: np.ndarray          # int64 (n_inputs, n_neurons)
    mask: np.ndarray             # bool  (n_inputs, n_neurons)
    samples: list = field(default_factory=list)   # each an int64 (k, 2) array of (index, time)


def random_weights(cfg: CoreConfig, rng: np.random.Generator, low_fraction: float = 0.1,
                   low_limit: int | None = None) -> np.ndarray:
    """Weights around N(0.8, 0.05) (the usual STDP start), quantized to ``weight_bits``.

    A ``low_fraction`` of the synapses is instead drawn uniformly from ``[0, low_limit]``
    so that depression pushes some of them below the pruning threshold within a few
    samples (otherwise pruning would never trigger in a short run).
    """
    shape = (cfg.n_inputs, cfg.n_neurons)
    w = fx.quantize_weights(rng.normal(0.8, 0.05, size=shape), cfg.weight_bits)
    if low_fraction > 0:
        limit = cfg.w_max // 4 if low_limit is None else min(cfg.w_max, low_limit)
        low = rng.random(shape) < low_fraction
        w = np.where(low, rng.integers(0, limit + 1, size=shape), w)
    return w.astype(fx.WEIGHT_DTYPE)


def random_mask(cfg: CoreConfig, rng: np.random.Generator, prune_fraction: float) -> np.ndarray:
    """A random pre-pruned mask with ``prune_fraction`` of the synapses cleared
    (all alive when the config has no pruning hardware)."""
    shape = (cfg.n_inputs, cfg.n_neurons)
    if not cfg.pruning or prune_fraction <= 0:
        return np.ones(shape, dtype=bool)
    return rng.random(shape) >= prune_fraction


def random_sample(cfg: CoreConfig, rng: np.random.Generator, spike_probability: float) -> np.ndarray:
    """One input sample: each input spikes at most once, at a random time step, with
    probability ``spike_probability``; events sorted by time, in random order within a
    time step (the core must not depend on that order)."""
    spiking = np.flatnonzero(rng.random(cfg.n_inputs) < spike_probability)
    spiking = rng.permutation(spiking)
    times = rng.integers(0, cfg.time_steps, size=len(spiking))
    order = np.argsort(times, kind="stable")
    return np.stack([spiking[order], times[order]], axis=1).astype(np.int64).reshape(-1, 2)


def insert_invalid_events(cfg: CoreConfig, rng: np.random.Generator, events: np.ndarray,
                          count: int) -> np.ndarray:
    """Insert ``count`` invalid beats at random positions: an index ``>= n_inputs`` or a
    time ``>= time_steps`` (where the payload width can express one), or a time earlier
    than the preceding valid event (out of order).  docs/core.md: they are accepted,
    have no effect and are counted as dropped."""
    out = [tuple(e) for e in np.asarray(events).reshape(-1, 2)]
    index_limit = 1 << cfg.input_index_bits
    time_limit = 1 << cfg.time_bits
    kinds = ["out_of_order"]
    if index_limit > cfg.n_inputs:
        kinds.append("index")
    if time_limit > cfg.time_steps:
        kinds.append("time")
    for _ in range(count):
        pos = int(rng.integers(0, len(out) + 1))
        last_time = max((t for i, t in out[:pos] if i < cfg.n_inputs and t < cfg.time_steps),
                        default=0)
        kind = kinds[int(rng.integers(0, len(kinds)))]
        if kind == "out_of_order" and last_time == 0:
            # nothing earlier than time 0: fall back to an out-of-range beat if possible
            kind = "index" if "index" in kinds else ("time" if "time" in kinds else None)
            if kind is None:
                continue
        index = int(rng.integers(0, cfg.n_inputs))
        if kind == "index":
            out.insert(pos, (int(rng.integers(cfg.n_inputs, index_limit)),
                             int(rng.integers(0, cfg.time_steps))))
        elif kind == "time":
            out.insert(pos, (index, int(rng.integers(cfg.time_steps, time_limit))))
        else:
            out.insert(pos, (index, int(rng.integers(0, last_time))))
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


def choose_registers(cfg: CoreConfig, rng: np.random.Generator, weights: np.ndarray,
                     mask: np.ndarray, learn: bool, spike_probability: float) -> CoreRegisters:
    """Registers that make neurons fire part-way through a sample.

    The threshold is 30-70 % of the expected final potential (spiking inputs times the
    mean alive weight), clipped to what ``potential_bits`` can hold, so spikes happen in
    the middle time steps rather than never or all at step 0.  Rates are larger than
    the paper's start (0.004) so that a short run moves weights visibly, and theta_p is
    3-10 % of w_max so that pruning bites on the low weights of :func:`random_weights`.
    """
    alive_weights = np.where(mask, weights, 0)
    expected = cfg.n_inputs * spike_probability * float(alive_weights.mean())
    threshold = int(expected * rng.uniform(0.3, 0.7))
    threshold = int(min(max(threshold, 0), cfg.potential_max - 1))
    rate_top = 1 << cfg.rate_frac_bits
    return CoreRegisters(
        threshold=threshold,
        theta_p=int(round(cfg.w_max * rng.uniform(0.03, 0.10))),
        a_plus=int(rng.integers(rate_top // 256 + 1, rate_top // 8 + 2)),
        a_minus=int(rng.integers(rate_top // 256 + 1, rate_top // 8 + 2)),
        prune_enable=bool(cfg.pruning),
        learn=bool(learn),
    ).validate(cfg)


def make_workload(cfg: CoreConfig, *, mode: str = "learn", seed: int = 0, samples: int = 8,
                  prune_fraction: float = 0.0, regs: CoreRegisters | None = None,
                  invalid_events: int = 0, spike_probability: float = 0.5) -> Workload:
    """The workload of one regression run, fully determined by its arguments.

    Args:
        mode: ``"infer"`` or ``"learn"`` (sets ``regs.learn``).
        seed: seed of every random draw.
        samples: number of input samples.
        prune_fraction: fraction of synapses pre-pruned in the initial mask.
        regs: registers to use (``learn`` is overridden by ``mode``); None: chosen by
            :func:`choose_registers`.
        invalid_events: invalid beats inserted into each sample.
        spike_probability: mean probability that an input spikes in a sample.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: allowed {', '.join(MODES)}")
    if not 0.0 <= prune_fraction < 1.0:
        raise ValueError(f"prune_fraction {prune_fraction}: allowed 0.0 <= f < 1.0")
    if samples < 0:
        raise ValueError(f"samples {samples}: must be >= 0")
    rng = np.random.default_rng(seed)
    learn = mode == "learn"
    mask = random_mask(cfg, rng, prune_fraction)
    weights = np.where(mask, random_weights(cfg, rng), 0).astype(fx.WEIGHT_DTYPE)
    if regs is None:
        regs = choose_registers(cfg, rng, weights, mask, learn, spike_probability)
    else:
        regs = CoreRegisters(**{**regs.__dict__, "learn": learn}).validate(cfg)
    sample_list = []
    for _ in range(samples):
        # vary the activity between samples: a sparse sample now and then exercises
        # the "no neuron fired" path
        p = spike_probability * rng.uniform(0.6, 1.4) if rng.random() > 0.1 else \
            spike_probability * 0.05
        events = random_sample(cfg, rng, min(1.0, p))
        if invalid_events:
            events = insert_invalid_events(cfg, rng, events, invalid_events)
        sample_list.append(events)
    return Workload(cfg=cfg, regs=regs, weights=weights, mask=mask, samples=sample_list)
