"""An amaranth.sim testbench for the whole core, held against the golden model.

Faster to start than the cocotb regression (no Verilog build) and so used for the quick
sub-block and whole-core checks in the default suite; the cocotb regression in sim/ is
the full check on generated Verilog.
"""

from __future__ import annotations

import numpy as np
from spikeforge.config import CoreConfig, CoreRegisters
from spikeforge.golden.config_fuzz import compare_runs
from spikeforge.golden.core_model import CoreModel
from spikeforge.sim.fuzz import simulate_amaranth


def simulate_core(cfg: CoreConfig, weights, mask, samples, regs: CoreRegisters):
    """Load weights/masks, run ``samples`` back to back, read everything back
    (:func:`spikeforge.sim.fuzz.simulate_amaranth`, one run).

    Returns ``(results, weights, mask, counters)`` where ``results`` is a list of dicts
    with ``out_events`` [(neuron, time, cycle)] and ``cycles`` (end-beat payload and the
    cycle, relative to the first accepted beat, at which the end beat was taken), and
    ``counters`` is keyed by the core's port names (``cnt_*``).
    """
    [(observed, w_out, m_out, counters)] = simulate_amaranth(
        cfg, [(weights, mask, samples, regs)])
    for record in observed:
        if record.get("hung"):
            raise AssertionError("core hung: no end beat")
    return observed, w_out, m_out, {f"cnt_{k}": v for k, v in counters.items()}


def check_against_model(cfg: CoreConfig, weights, mask, samples, regs: CoreRegisters):
    """Run ``samples`` on the RTL (:func:`simulate_core`) and on the golden model and
    assert that every output beat, end beat, input beat's acceptance cycle, end weight,
    mask and counter is equal (:func:`spikeforge.golden.config_fuzz.compare_runs`, the
    fuzzer's comparison, whose messages name the first differing beat or synapse).
    Returns the model and its per-sample results."""
    model = CoreModel(cfg, weights, mask)
    expected = [model.run_sample(s, regs) for s in samples]
    got, w_rtl, m_rtl, counters = simulate_core(cfg, weights, mask, samples, regs)
    problems = compare_runs(expected, got, model.weights, model.mask, model.counters,
                            w_rtl, m_rtl, {k.removeprefix("cnt_"): v for k, v in counters.items()})
    assert not problems, "; ".join(problems[:4])
    np.testing.assert_array_equal(w_rtl, model.weights)
    np.testing.assert_array_equal(m_rtl.astype(bool), model.mask)
    assert counters == {f"cnt_{k}": v for k, v in model.counters.items()}
    return model, expected


def random_workload(cfg: CoreConfig, rng, n_samples: int, *, prune_fraction=0.0,
                    spike_fraction=0.3, invalid=False):
    """Random weights around 0.8 w_max, random masks and random TTFS samples."""
    weights = np.clip(np.rint(rng.normal(0.8, 0.05, (cfg.n_inputs, cfg.n_neurons)) * cfg.w_max),
                      0, cfg.w_max).astype(np.int64)
    mask = rng.random((cfg.n_inputs, cfg.n_neurons)) >= prune_fraction
    if not cfg.pruning:
        mask[:] = True
    weights = np.where(mask, weights, 0)
    samples = []
    for _ in range(n_samples):
        spiking = rng.random(cfg.n_inputs) < spike_fraction
        idx = np.flatnonzero(spiking)
        times = rng.integers(0, cfg.time_steps, len(idx))
        order = np.lexsort((idx, times))
        events = np.stack([idx[order], times[order]], axis=1) if len(idx) else np.zeros((0, 2), int)
        if invalid and len(events) > 2:
            bad = [(cfg.n_inputs + 3, events[0, 1]), (0, cfg.time_steps + 1)]
            rows = list(map(tuple, events))
            rows.insert(len(rows) // 2, bad[0])
            rows.insert(len(rows) // 2 + 1, bad[1])
            rows.append((1, 0))  # out of order: time 0 after later times
            limit_i = (1 << cfg.input_index_bits) - 1
            limit_t = (1 << cfg.time_bits) - 1
            events = np.array([(min(i, limit_i), min(t, limit_t)) for i, t in rows])
        samples.append(events)
    return weights, mask, samples
