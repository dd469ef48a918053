"""``spikeforge fuzz``: random legal configurations x random workloads, RTL vs model.

Each case ``(config c, seed s)`` comes from :func:`spikeforge.golden.config_fuzz.make_case`
(config drawn from ``c`` alone, registers/weights/masks/samples from ``(c, s)``), runs
in a simulator and is compared with the cycle-exact model: every output beat with its
cycle, every end beat, end weights, masks and counters.  The exit status is 0 only when
no case mismatches.

Simulators: ``amaranth`` (amaranth.sim, no build step; the default) or ``verilator`` /
``icarus`` (the cocotb regression of :mod:`spikeforge.sim.regression` on the generated
Verilog; it draws its own workload from the seed, with the case's config and registers).
"""

from __future__ import annotations

import json
import sys
import time

from ..errors import UserError

SIMULATORS = ("amaranth", "verilator", "icarus")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fuzz", help="random legal configs x seeds, RTL held to the golden model",
        description="Run random legal core configurations with random registers and "
                    "workloads in a simulator and compare every beat, cycle, weight, "
                    "mask and counter with the golden model.  Exit 0 only if nothing "
                    "mismatches.")
    p.add_argument("--configs", type=int, default=50, help="number of random configs (default 50)")
    p.add_argument("--seeds", type=int, default=5, help="workload seeds per config (default 5)")
    p.add_argument("--first-config", type=int, default=0,
                   help="index of the first config (to replay a case; default 0)")
    p.add_argument("--samples", type=int, default=3, help="samples per case (default 3)")
    p.add_argument("--sim", default="amaranth", help=f"simulator: {', '.join(SIMULATORS)}")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.set_defaults(func=run)


def _check_args(args) -> None:
    for name in ("configs", "seeds", "samples"):
        value = getattr(args, name)
        if value < 1:
            raise UserError(f"--{name} {value}: must be at least 1")
    if args.first_config < 0:
        raise UserError(f"--first-config {args.first_config}: must be at least 0")
    if args.sim not in SIMULATORS:
        raise UserError(f"--sim {args.sim}: unknown simulator; allowed {', '.join(SIMULATORS)}")


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
    from amaranth.hdl import ClockDomain, Module
    from amaranth.sim import Simulator

    from ..golden.core_model import COUNTER_NAMES
    from ..hw.core import TTFSCore

    dut = TTFSCore(cfg)
    top = Module()
    top.domains.sync = domain = ClockDomain("sync")
    top.submodules.core = dut
    sim = Simulator(top)
    sim.add_clock(1e-8)
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
                await ctx.tick()
        ctx.set(dut.access_cmd.valid, 0)
        observed = []
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
    from ..sim.regression import run_regression

    for case, record in zip(cases, records):
        result = run_regression(case.cfg, sim=sim, mode="learn" if case.regs.learn else "infer",
                                seed=case.seed, samples=n_samples, regs=case.regs,
                                prune_fraction=0.3 if case.cfg.pruning else 0.0)
        record["problems"] = ([] if result["passed"] else
                              [(result.get("first_mismatch") or {}).get("message")
                               or str(result.get("aborted"))])
    return records


def run(args) -> int:
    _check_args(args)
    started = time.perf_counter()
    failures, cases = [], 0
    for c in range(args.first_config, args.first_config + args.configs):
        try:
            records = run_config(c, range(args.seeds), sim=args.sim, n_samples=args.samples)
        except UserError:
            raise
        except Exception as exc:  # a crash in one config is a finding, not the end of the run
            records = [{"config_seed": c, "seed": s,
                        "problems": [f"crashed: {type(exc).__name__}: {exc}"]}
                       for s in range(args.seeds)]
        for record in records:
            cases += 1
            if record["problems"]:
                failures.append(record)
                if not args.json:
                    print(f"MISMATCH config {c} seed {record['seed']}: {record['problems'][0]}",
                          file=sys.stderr)
    summary = {"sim": args.sim, "configs": args.configs, "seeds": args.seeds,
               "first_config": args.first_config, "samples": args.samples, "cases": cases,
               "mismatches": len(failures), "passed": not failures,
               "failures": failures[:20],
               "wall_seconds": round(time.perf_counter() - started, 1)}
    if args.json:
        print(json.dumps(summary, indent=1, default=int))
    else:
        print(f"fuzz ({args.sim}): {cases} cases ({args.configs} configs x {args.seeds} seeds), "
              f"{len(failures)} mismatch(es), {summary['wall_seconds']} s")
        if failures:
            f = failures[0]
            print(f"replay the first: spikeforge fuzz --first-config {f['config_seed']} "
                  f"--configs 1 --seeds {f['seed'] + 1} --sim {args.sim}")
    return 0 if not failures else 1
