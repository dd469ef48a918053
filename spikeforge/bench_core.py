"""Cycles per sample of the core against its lower bound (issue 2's benchmark).

The cycle counts come from the cycle-exact golden model, which the regression
(``spikeforge verify``, tests/test_core_amaranth.py, tests/test_cocotb_core.py) holds
beat for beat and cycle for cycle to the generated Verilog; ``--rtl`` re-runs each case
through Verilator as well and reports both.

Lower bound of one run (issue 2): ``ceil(alive synaptic events / lanes)`` plus the
design's fixed overhead, where *alive synaptic events* are the synaptic operations the
core must do: integration of the alive synapses of every input event (in learning only
up to the winner's step: later events cannot change the result) plus the STDP updates.
Work the core does beyond that (in learning, integration of the step after the winner's,
which it starts before the winner is known and then drops) is not in the bound.  Steps
overlap in both modes (docs/core.md), so the fixed overhead is the pipeline drain of the
last step, ``D = 4`` cycles (accept -> F stage -> pick -> fetch -> update) per sample
that integrated anything.

A second bound also counts the front end (one input beat per cycle):
``max(beats, ceil(alive / lanes))`` plus the same fixed overhead.  Output beats, the
WTA scan and the STDP pipeline's fill are left out (a lower bound may leave out what
it likes; most output beats go out beside the integration anyway).
"""

from __future__ import annotations

import math
import time

import numpy as np

from .config import CoreConfig, CoreRegisters
from .golden import fixedpoint as fx
from .golden.core_model import CoreModel, syn_ops_bounds

#: cycles to drain the integration pipeline (accept -> F stage -> pick -> fetch ->
#: update), paid once per sample (steps overlap)
PIPELINE_DRAIN = 4


def _workload(cfg: CoreConfig, rng, n_samples, prune_fraction, spike_fraction):
    shape = (cfg.n_inputs, cfg.n_neurons)
    weights = fx.quantize_weights(rng.normal(0.8, 0.05, shape), cfg.weight_bits)
    mask = rng.random(shape) >= prune_fraction if cfg.pruning else np.ones(shape, bool)
    samples = []
    for _ in range(n_samples):
        idx = np.flatnonzero(rng.random(cfg.n_inputs) < spike_fraction)
        times = rng.integers(0, cfg.time_steps, len(idx))
        order = np.lexsort((idx, times))
        samples.append(np.stack([idx[order], times[order]], axis=1))
    return np.where(mask, weights, 0), mask, samples


def bench_case(cfg: CoreConfig, *, learn: bool, prune_fraction: float, samples: int = 20,
               seed: int = 0, spike_fraction: float = 0.3, skip_decided: bool = False) -> dict:
    """Run one case on the model and return cycles, bounds and ratios.  ``skip_decided``:
    the producer drops the rest of a learning sample once the core has decided it."""
    rng = np.random.default_rng(seed)
    weights, mask, workload = _workload(cfg, rng, samples, prune_fraction, spike_fraction)
    alive_per_input = 0.8 * cfg.w_max * (1 - prune_fraction)
    # threshold: fire after ~40 % of the expected input, so most neurons fire mid-sample
    threshold = int(0.4 * alive_per_input * cfg.n_inputs * spike_fraction)
    regs = CoreRegisters(threshold=min(cfg.potential_max, threshold), theta_p=0,
                         a_plus=fx.quantize_rate(0.004, cfg.rate_frac_bits),
                         a_minus=fx.quantize_rate(0.003, cfg.rate_frac_bits),
                         prune_enable=False, learn=learn)
    model = CoreModel(cfg, weights, mask)
    started = time.perf_counter()
    results = [model.run_sample(s, regs, skip_decided=skip_decided) for s in workload]
    model_seconds = time.perf_counter() - started
    cycles = sum(r.cycles for r in results)
    # the integration the samples need: their events up to the winner's step
    needed_syn_ops, _ = syn_ops_bounds(results)
    alive_ops = needed_syn_ops + model.counters["stdp_updates"]
    needed = [s if r.winner_time is None else s[s[:, 1] <= r.winner_time]
              for s, r in zip(workload, results)]
    steps = sum(len(np.unique(s[:, 1])) for s in needed)
    beats = sum(len(r.accept_cycles) for r in results)      # beats offered and taken
    out_beats = sum(len(r.out_events) for r in results)
    fixed = PIPELINE_DRAIN * sum(len(s) > 0 for s in needed)
    bound = math.ceil(alive_ops / cfg.lanes) + fixed
    bound_fe = max(beats, math.ceil(alive_ops / cfg.lanes)) + fixed
    return {
        "mode": ("learn-skip" if skip_decided else "learn") if learn else "infer",
        "pruned_fraction": prune_fraction,
        "samples": samples, "cycles": cycles, "cycles_per_sample": cycles / samples,
        "alive_synaptic_ops": alive_ops, "needed_syn_ops": needed_syn_ops,
        "syn_ops": model.counters["syn_ops"],
        "stdp_updates": model.counters["stdp_updates"], "steps": steps,
        "input_beats": beats, "output_beats": out_beats,
        "fixed_overhead": fixed, "lower_bound": bound, "ratio": cycles / bound,
        "lower_bound_with_io": bound_fe, "ratio_with_io": cycles / bound_fe,
        "model_cycles_per_second": cycles / model_seconds if model_seconds else None,
    }


def bench_core(cfg: CoreConfig, *, samples: int = 20, seed: int = 0,
               fractions=(0.0, 0.5, 0.9), rtl: bool = False, progress=None) -> dict:
    """All cases (both modes x pruned fractions); with ``rtl`` also Verilator runs."""
    cases = []
    for learn, skip in ((False, False), (True, False), (True, True)):
        for fraction in fractions:
            if fraction > 0 and not cfg.pruning:
                continue
            case = bench_case(cfg, learn=learn, prune_fraction=fraction, samples=samples,
                              seed=seed, skip_decided=skip)
            if rtl:
                from .sim.regression import run_regression
                summary = run_regression(cfg, sim="verilator",
                                         mode="learn" if learn else "infer", seed=seed,
                                         samples=samples, prune_fraction=fraction,
                                         skip_decided=skip)
                case["rtl"] = {k: summary[k] for k in ("passed", "cycles_rtl", "cycles_golden",
                                                       "sim_cycles", "sim_seconds")}
            cases.append(case)
            if progress:
                progress(case)
    return {"config": cfg.to_dict(), "pipeline_drain": PIPELINE_DRAIN, "cases": cases}
