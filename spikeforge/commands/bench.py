"""``spikeforge bench``: cycles per sample of the core vs its lower bound."""

from __future__ import annotations

import json

from ..errors import UserError
from ._common import add_config_arguments, config_from_args


def register(subparsers):
    parser = subparsers.add_parser(
        "bench", help="cycles per sample vs the lower bound at 0/50/90 %% pruning",
        description="Measure the core's cycles per sample (cycle-exact model; --rtl also "
                    "runs Verilator) against ceil(alive synaptic ops / lanes) + a fixed "
                    "per-time-step overhead, in both modes at several pruned fractions.")
    add_config_arguments(parser)
    parser.add_argument("--samples", type=int, default=20, help="samples per case (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rtl", action="store_true", help="also run each case in Verilator")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..bench_core import bench_core
    cfg = config_from_args(args)
    if args.samples < 1:
        raise UserError(f"--samples {args.samples}: must be at least 1")
    report = bench_core(cfg, samples=args.samples, seed=args.seed, rtl=args.rtl)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{'mode':10} {'pruned':>6} {'cyc/sample':>10} {'bound':>8} {'ratio':>6} "
          f"{'bound+io':>8} {'ratio':>6}" + ("  rtl" if args.rtl else ""))
    for c in report["cases"]:
        line = (f"{c['mode']:10} {c['pruned_fraction']:6.0%} {c['cycles_per_sample']:10.1f} "
                f"{c['lower_bound'] / c['samples']:8.1f} {c['ratio']:6.2f} "
                f"{c['lower_bound_with_io'] / c['samples']:8.1f} {c['ratio_with_io']:6.2f}")
        if "rtl" in c:
            line += f"  {'ok' if c['rtl']['passed'] else 'MISMATCH'} {c['rtl']['cycles_rtl']}"
        print(line)
    return 0
