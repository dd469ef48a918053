"""Random legal configurations, registers and workloads for fuzzing the core.

Plain NumPy and seeded (``numpy.random.default_rng``): a fuzz case is fully determined
by ``(config seed, workload seed)``, so any mismatch found by ``spikeforge fuzz`` can be
replayed exactly.  Every generation parameter of :class:`CoreConfig` is varied over its
whole allowed range, except that the sizes (``n_inputs``, ``n_neurons``) are kept small
so that one case simulates in about a second; the edges of the ranges are drawn on
purpose (a quarter of the draws of a ranged field take one of its bounds).

:func:`compare_runs` is the comparison the fuzzer applies to an RTL run: it lists every
difference from the model (beats with their cycles, end beats, weights, masks, counters).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import CoreConfig, CoreRegisters
from . import fixedpoint as fx

__all__ = ["FuzzCase", "random_config", "random_registers", "random_case_workload",
           "make_case", "compare_runs", "SIZE_LIMITS"]

# Sizes kept small for simulation speed (the hardware's limits are in config._LIMITS).
SIZE_LIMITS = {"n_inputs": (1, 80), "n_neurons": (1, 20)}
_LANES = (1, 2, 4, 8, 16)
_LANE_WEIGHTS = {1: 0.25, 2: 0.3, 4: 0.3, 8: 0.1, 16: 0.1}
_FIFO_DEPTHS = (2, 4, 8, 16, 32, 64)


def _ranged(rng, lo: int, hi: int) -> int:
    """An integer in [lo, hi]; one of the bounds a quarter of the time."""
    if rng.random() < 0.25:
        return int(lo if rng.random() < 0.5 else hi)
    return int(rng.integers(lo, hi + 1))


def random_config(rng: np.random.Generator) -> CoreConfig:
    """A random legal :class:`CoreConfig` with small sizes.

    Varies ``n_inputs`` (1-80 with one lane, 1-48 with two or four: one to three
    column-mask words, so both ways of the mask write-back run), ``n_neurons`` (1-20),
    ``lanes`` (any allowed value up to ``n_neurons``; 8 and 16 less often), ``weight_bits`` (2-12),
    ``potential_bits`` (``weight_bits + 1`` to 32, often tight so saturation happens),
    ``time_steps`` (2-256), ``rate_frac_bits`` (4-16), ``fifo_depth`` (2-64),
    ``counter_bits`` (16-48) and ``pruning``.
    """
    n_neurons = _ranged(rng, *SIZE_LIMITS["n_neurons"])
    allowed = [l for l in _LANES if l <= n_neurons]
    # Many lanes make the simulation slow (amaranth.sim: ~30 s to elaborate and ~30 ms
    # per cycle at 16 lanes), so 8 and 16 are drawn less often and with fewer inputs.
    weights = np.array([_LANE_WEIGHTS[l] for l in allowed])
    lanes = int(rng.choice(allowed, p=weights / weights.sum()))
    input_limit = {1: SIZE_LIMITS["n_inputs"][1], 2: 48, 4: 48, 8: 24, 16: 12}[lanes]
    if lanes == 16:
        n_neurons = min(n_neurons, 18)
    weight_bits = _ranged(rng, 2, 12)
    low_p = max(4, weight_bits + 1)
    if rng.random() < 0.5:   # tight potentials: saturation within a sample
        potential_bits = int(rng.integers(low_p, min(32, low_p + 3) + 1))
    else:
        potential_bits = _ranged(rng, low_p, 32)
    return CoreConfig(
        n_inputs=_ranged(rng, SIZE_LIMITS["n_inputs"][0], input_limit),
        n_neurons=n_neurons,
        weight_bits=weight_bits,
        potential_bits=potential_bits,
        time_steps=_ranged(rng, 2, 256),
        lanes=lanes,
        pruning=bool(rng.random() < 0.7),
        rate_frac_bits=_ranged(rng, 4, 16),
        fifo_depth=int(rng.choice(_FIFO_DEPTHS)),
        counter_bits=_ranged(rng, 16, 48),
    )


def random_registers(cfg: CoreConfig, rng: np.random.Generator, *, learn: bool,
                     expected_potential: float) -> CoreRegisters:
    """Random legal registers; the threshold is usually placed so that neurons fire
    part-way through a sample, sometimes at its extremes (0: everything fires at the
    first event's step; ``potential_max``: nothing can fire)."""
    pick = rng.random()
    if pick < 0.1:
        threshold = 0
    elif pick < 0.15:
        threshold = cfg.potential_max
    else:
        threshold = int(min(cfg.potential_max, max(0, expected_potential * rng.uniform(0.1, 0.8))))
    rate_top = (1 << cfg.rate_frac_bits) - 1

    def rate():
        r = rng.random()
        if r < 0.1:
            return 0
        if r < 0.2:
            return rate_top
        return int(rng.integers(1, rate_top + 1))

    theta = rng.random()
    theta_p = 0 if theta < 0.1 else (cfg.w_max if theta < 0.2 else
                                     int(rng.integers(0, cfg.w_max + 1) // 2))
    return CoreRegisters(threshold=threshold, theta_p=theta_p, a_plus=rate(), a_minus=rate(),
                         prune_enable=bool(rng.random() < 0.8), learn=bool(learn)).validate(cfg)


@dataclass
class FuzzCase:
    """One fuzz case: a config, its registers, initial weights/masks and samples."""

    config_seed: int
    seed: int
    cfg: CoreConfig
    regs: CoreRegisters
    weights: np.ndarray
    mask: np.ndarray
    samples: list = field(default_factory=list)


def random_case_workload(cfg: CoreConfig, rng: np.random.Generator, n_samples: int):
    """Weights (mostly around 0.8 w_max, some uniform, some exactly 0 or w_max), a mask
    with a random pre-pruned fraction, and samples with a random activity, random times
    and (now and then) invalid beats: an index or time out of range, or out of order."""
    shape = (cfg.n_inputs, cfg.n_neurons)
    w = fx.quantize_weights(rng.normal(0.8, 0.08, size=shape), cfg.weight_bits)
    uniform = rng.random(shape) < 0.2
    w = np.where(uniform, rng.integers(0, cfg.w_max + 1, size=shape), w)
    extreme = rng.random(shape) < 0.05
    w = np.where(extreme, rng.choice([0, cfg.w_max], size=shape), w)
    if cfg.pruning:
        mask = rng.random(shape) >= rng.choice([0.0, 0.0, 0.2, 0.6, 0.95])
    else:
        mask = np.ones(shape, dtype=bool)
    w = np.where(mask, w, 0).astype(fx.WEIGHT_DTYPE)
    samples = []
    index_limit, time_limit = 1 << cfg.input_index_bits, 1 << cfg.time_bits
    for _ in range(n_samples):
        p = float(rng.choice([0.0, 0.05, 0.3, 0.6, 1.0], p=[0.05, 0.15, 0.4, 0.3, 0.1]))
        spiking = np.flatnonzero(rng.random(cfg.n_inputs) < p)
        spiking = rng.permutation(spiking)
        times = rng.integers(0, min(cfg.time_steps, int(rng.choice([1, 3, 256]))),
                             size=len(spiking))
        order = np.argsort(times, kind="stable")
        rows = [(int(i), int(t)) for i, t in zip(spiking[order], times[order])]
        if rows and rng.random() < 0.3:
            for _ in range(int(rng.integers(1, 4))):
                pos = int(rng.integers(0, len(rows) + 1))
                kind = rng.integers(0, 3)
                if kind == 0 and index_limit > cfg.n_inputs:
                    rows.insert(pos, (int(rng.integers(cfg.n_inputs, index_limit)), 0))
                elif kind == 1 and time_limit > cfg.time_steps:
                    rows.insert(pos, (0, int(rng.integers(cfg.time_steps, time_limit))))
                else:
                    rows.insert(pos, (int(rng.integers(0, cfg.n_inputs)), 0))  # maybe late
        samples.append(np.asarray(rows, dtype=np.int64).reshape(-1, 2))
    return w, mask, samples


def make_case(config_seed: int, seed: int, *, n_samples: int = 3) -> FuzzCase:
    """The fuzz case ``(config_seed, seed)``: the config is drawn from ``config_seed``
    alone (so the seeds of one config share its hardware), the rest from both."""
    cfg = random_config(np.random.default_rng([0xC0F1, config_seed]))
    rng = np.random.default_rng([0x5EED, config_seed, seed])
    weights, mask, samples = random_case_workload(cfg, rng, n_samples)
    spiking = cfg.n_inputs * 0.4
    mean_w = float(weights[mask].mean()) if mask.any() else 0.0
    regs = random_registers(cfg, rng, learn=bool(rng.random() < 0.6),
                            expected_potential=spiking * mean_w)
    return FuzzCase(config_seed, seed, cfg, regs, weights, mask, samples)


def compare_runs(expected, observed, model_weights, model_mask, model_counters,
                 rtl_weights, rtl_mask, rtl_counters) -> list[str]:
    """Every difference between the model and an RTL run, as one-line messages.

    ``expected``: the model's :class:`SampleResult` list; ``observed``: per sample a dict
    with ``out_events`` [(neuron, time, cycle)], ``cycles`` (end payload, end cycle) and,
    where the runner records it, ``accept_cycles`` (the cycle each input beat was taken).
    """
    problems = []
    if len(observed) != len(expected):
        problems.append(f"{len(observed)} samples observed, {len(expected)} expected")
    for n, (e, g) in enumerate(zip(expected, observed)):
        if list(map(tuple, g["out_events"])) != list(map(tuple, e.out_events)):
            problems.append(f"sample {n}: output beats {g['out_events']} != model "
                            f"{e.out_events}")
        if tuple(g["cycles"]) != (e.cycles, e.cycles):
            problems.append(f"sample {n}: end beat (payload, cycle) {tuple(g['cycles'])} != "
                            f"model ({e.cycles}, {e.cycles})")
        accepted = g.get("accept_cycles")       # recorded by the amaranth.sim runner
        if accepted is not None and list(accepted) != list(e.accept_cycles):
            rtl, model = list(accepted) + [None], list(e.accept_cycles) + [None]
            first = next(k for k, (a, b) in enumerate(zip(rtl, model)) if a != b)
            problems.append(f"sample {n}: input beat {first} taken at cycle {rtl[first]}, "
                            f"model {model[first]}")
    bad = np.argwhere(np.asarray(rtl_weights) != np.asarray(model_weights))
    if len(bad):
        i, j = bad[0]
        problems.append(f"{len(bad)} weight(s) differ, first (input {i}, neuron {j}): rtl "
                        f"{rtl_weights[i, j]} model {model_weights[i, j]}")
    bad = np.argwhere(np.asarray(rtl_mask, dtype=bool) != np.asarray(model_mask, dtype=bool))
    if len(bad):
        i, j = bad[0]
        problems.append(f"{len(bad)} mask bit(s) differ, first (input {i}, neuron {j})")
    for name, value in model_counters.items():
        got = rtl_counters.get(name)
        if got != value:
            problems.append(f"counter {name}: rtl {got} model {value}")
    return problems
