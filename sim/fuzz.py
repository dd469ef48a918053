"""Randomized-configuration regression in amaranth.sim: many runs on one elaborated core,
each held to the cycle-exact golden model (used by ``spikeforge fuzz`` and the tests).

:func:`simulate_amaranth` is the polite, cycle-exact driver of docs/core.md (beats back
to back, consumers always ready) around :class:`~spikeforge.hw.core.TTFSCore`;
:func:`run_config` draws cases from :mod:`spikeforge.golden.config_fuzz` and compares.
"""

from __future__ import annotations

__all__ = ["simulate_amaranth", "run_config", "core_simulator"]


def core_simulator(cfg):
    """A fresh :class:`~spikeforge.hw.core.TTFSCore` in an amaranth.sim ``Simulator``
    with a 100 MHz ``sync`` clock and its memory-collision assertions on: returns
    ``(dut, sync domain, simulator)``."""
    from amaranth.hdl import ClockDomain, Module
    from amaranth.sim import Simulator

    from ..hw.core import TTFSCore

    dut = TTFSCore(cfg, check_memory_collisions=True)
    top = Module()
    top.domains.sync = domain = ClockDomain("sync")
    top.submodules.core = dut
    sim = Simulator(top)
    sim.add_clock(1e-8)
    return dut, domain, sim


def simulate_amaranth(cfg, runs, *, cycle_limit: int = 200_000):
    """Simulate several runs on one elaborated core (elaboration dominates for wide
    configs).  Each run is ``(weights, mask, samples, regs)``: reset (2 cycles of
    ``rst``, which clears potentials, state and counters), load every synapse, run the
    samples back to back with the polite, cycle-exact protocol of docs/core.md (beats
    back to back, consumers always ready), read every synapse back.

    Returns per run ``(observed, weights, mask, counters)`` in the shapes
    :func:`~spikeforge.golden.config_fuzz.compare_runs` takes.
    """
    import numpy as np
    from ..golden.core_model import COUNTER_NAMES

    dut, domain, sim = core_simulator(cfg)
    results = []

    async def one_run(ctx, weights, mask, samples, regs):
        ctx.set(domain.rst, 1)
        for _ in range(2):
            await ctx.tick()   # a plain tick does not raise DomainReset
        ctx.set(domain.rst, 0)
        for name in ("threshold", "theta_p", "a_plus", "a_minus"):
            ctx.set(getattr(dut, name), int(getattr(regs, name)))
        ctx.set(dut.prune_enable, int(regs.prune_enable))
        ctx.set(dut.learn, int(regs.learn))
        ctx.set(dut.events_out.ready, 1)
        ctx.set(dut.access_rsp.ready, 1)
        ctx.set(dut.access_cmd.valid, 1)
        for i in range(cfg.n_inputs):
            for j in range(cfg.n_neurons):
                ctx.set(dut.access_cmd.payload, {"write": 1, "input": i, "neuron": j,
                                                 "weight": int(weights[i, j]),
                                                 "mask": int(mask[i, j])})
                while not ctx.get(dut.access_cmd.ready):    # held off while a sample runs
                    await ctx.tick()
                await ctx.tick()
        ctx.set(dut.access_cmd.valid, 0)
        observed = []
        for events in samples:
            beats = [{"index": int(i), "time": int(t), "end": 0} for i, t in events]
            beats.append({"index": 0, "time": 0, "end": 1})
            ptr, cycle, c0 = 0, 0, None
            record = {"out_events": [], "cycles": None, "accept_cycles": []}
            while True:
                if ptr < len(beats):
                    ctx.set(dut.events_in.valid, 1)
                    ctx.set(dut.events_in.payload, beats[ptr])
                else:
                    ctx.set(dut.events_in.valid, 0)
                if ctx.get(dut.events_in.valid) and ctx.get(dut.events_in.ready):
                    if c0 is None:
                        c0 = cycle
                    record["accept_cycles"].append(cycle - c0)
                    ptr += 1
                if ctx.get(dut.events_out.valid):
                    beat = ctx.get(dut.events_out.payload)
                    if beat.end:
                        record["cycles"] = (int(beat.cycles), cycle - c0)
                        await ctx.tick()
                        break
                    record["out_events"].append((int(beat.neuron), int(beat.time), cycle - c0))
                await ctx.tick()
                cycle += 1
                if cycle > cycle_limit:
                    record["cycles"] = (None, None)
                    record["hung"] = True
                    break
            ctx.set(dut.events_in.valid, 0)
            observed.append(record)
            if record.get("hung"):
                break
        w_out = np.zeros((cfg.n_inputs, cfg.n_neurons), dtype=np.int64)
        m_out = np.zeros((cfg.n_inputs, cfg.n_neurons), dtype=bool)
        for i in range(cfg.n_inputs):
            for j in range(cfg.n_neurons):
                ctx.set(dut.access_cmd.valid, 1)
                ctx.set(dut.access_cmd.payload, {"write": 0, "input": i, "neuron": j,
                                                 "weight": 0, "mask": 0})
                await ctx.tick()
                ctx.set(dut.access_cmd.valid, 0)
                for _ in range(4):
                    if ctx.get(dut.access_rsp.valid):
                        break
                    await ctx.tick()
                rsp = ctx.get(dut.access_rsp.payload)
                w_out[i, j], m_out[i, j] = int(rsp.weight), bool(rsp.mask)
                await ctx.tick()
        counters = {name: int(ctx.get(getattr(dut, f"cnt_{name}"))) for name in COUNTER_NAMES}
        results.append((observed, w_out, m_out, counters))

    async def testbench(ctx):
        ctx.set(dut.counters_clear, 0)
        for weights, mask, samples, regs in runs:
            await one_run(ctx, weights, mask, samples, regs)

    sim.add_testbench(testbench)
    sim.run()
    return results


def run_config(config_seed: int, seeds, *, sim: str = "amaranth", n_samples: int = 3) -> list:
    """Run the cases ``(config_seed, s)`` for every ``s`` in ``seeds``.

    Returns one record per case: ``config_seed``, ``seed``, ``config``, ``regs`` and
    ``problems`` (one line per difference from the model; empty = pass).
    """
    from ..golden.config_fuzz import compare_runs, make_case
    from ..golden.core_model import CoreModel

    cases = [make_case(config_seed, s, n_samples=n_samples) for s in seeds]
    records = [{"config_seed": config_seed, "seed": c.seed, "config": c.cfg.to_dict(),
                "regs": dict(c.regs.__dict__)} for c in cases]
    if sim == "amaranth":
        rtl = simulate_amaranth(cases[0].cfg, [(c.weights, c.mask, c.samples, c.regs)
                                               for c in cases])
        for case, record, (observed, w, m, counters) in zip(cases, records, rtl):
            model = CoreModel(case.cfg, case.weights, case.mask)
            expected = [model.run_sample(s, case.regs) for s in case.samples]
            record["problems"] = compare_runs(expected, observed, model.weights, model.mask,
                                              model.counters, w, m, counters)
        return records
    from .regression import run_regression

    for case, record in zip(cases, records):
        result = run_regression(case.cfg, sim=sim, mode="learn" if case.regs.learn else "infer",
                                seed=case.seed, samples=n_samples, regs=case.regs,
                                prune_fraction=0.3 if case.cfg.pruning else 0.0)
        record["problems"] = ([] if result["passed"] else
                              [(result.get("first_mismatch") or {}).get("message")
                               or str(result.get("aborted"))])
    return records
