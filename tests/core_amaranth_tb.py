"""An amaranth.sim testbench for the whole core, held against the golden model.

Faster to start than the cocotb regression (no Verilog build) and so used for the quick
sub-block and whole-core checks in the default suite; the cocotb regression in sim/ is
the full check on generated Verilog.
"""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from spikeforge.config import CoreConfig, CoreRegisters
from spikeforge.hw.core import COUNTER_PORTS, TTFSCore


def simulate_core(cfg: CoreConfig, weights, mask, samples, regs: CoreRegisters,
                  *, out_ready_pattern=None):
    """Load weights/masks, run ``samples`` back to back, read everything back.

    Returns ``(results, weights, mask, counters)`` where ``results`` is a list of dicts
    with ``out_events`` [(neuron, time, cycle)] and ``cycles`` (end-beat payload and the
    cycle, relative to the first accepted beat, at which the end beat was taken).
    """
    dut = TTFSCore(cfg)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    out = {}

    async def testbench(ctx):
        ctx.set(dut.threshold, regs.threshold)
        ctx.set(dut.theta_p, regs.theta_p)
        ctx.set(dut.a_plus, regs.a_plus)
        ctx.set(dut.a_minus, regs.a_minus)
        ctx.set(dut.prune_enable, int(regs.prune_enable))
        ctx.set(dut.learn, int(regs.learn))
        ctx.set(dut.events_out.ready, 1)
        ctx.set(dut.access_rsp.ready, 1)
        # load
        ctx.set(dut.access_cmd.valid, 1)
        for i in range(cfg.n_inputs):
            for j in range(cfg.n_neurons):
                ctx.set(dut.access_cmd.payload, {"write": 1, "input": i, "neuron": j,
                                                 "weight": int(weights[i, j]),
                                                 "mask": int(mask[i, j])})
                await ctx.tick()
        ctx.set(dut.access_cmd.valid, 0)
        results = []
        for events in samples:
            beats = [{"index": int(i), "time": int(t), "end": 0} for i, t in events]
            beats.append({"index": 0, "time": 0, "end": 1})
            ptr, cycle, c0 = 0, 0, None
            record = {"out_events": [], "cycles": None}
            while True:
                if ptr < len(beats):
                    ctx.set(dut.events_in.valid, 1)
                    ctx.set(dut.events_in.payload, beats[ptr])
                else:
                    ctx.set(dut.events_in.valid, 0)
                if ctx.get(dut.events_in.valid) and ctx.get(dut.events_in.ready):
                    if c0 is None:
                        c0 = cycle
                    ptr += 1
                if ctx.get(dut.events_out.valid):
                    beat = ctx.get(dut.events_out.payload)
                    rel = cycle - c0
                    if beat.end:
                        record["cycles"] = (int(beat.cycles), rel)
                        await ctx.tick()
                        break
                    record["out_events"].append((int(beat.neuron), int(beat.time), rel))
                await ctx.tick()
                cycle += 1
                if cycle > 200_000:
                    raise AssertionError("core hung: no end beat after 200000 cycles")
            ctx.set(dut.events_in.valid, 0)
            results.append(record)
        # read back
        w_out = np.zeros_like(weights)
        m_out = np.zeros_like(mask)
        for i in range(cfg.n_inputs):
            for j in range(cfg.n_neurons):
                ctx.set(dut.access_cmd.valid, 1)
                ctx.set(dut.access_cmd.payload, {"write": 0, "input": i, "neuron": j,
                                                 "weight": 0, "mask": 0})
                await ctx.tick()
                ctx.set(dut.access_cmd.valid, 0)
                rsp = ctx.get(dut.access_rsp.payload)
                assert ctx.get(dut.access_rsp.valid)
                w_out[i, j], m_out[i, j] = rsp.weight, rsp.mask
                await ctx.tick()
        out["counters"] = {name: ctx.get(getattr(dut, name)) for name in COUNTER_PORTS}
        out["results"], out["weights"], out["mask"] = results, w_out, m_out

    sim.add_testbench(testbench)
    sim.run()
    return out["results"], out["weights"], out["mask"], out["counters"]


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
