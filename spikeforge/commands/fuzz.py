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
from ..sim.fuzz import run_config

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
