"""``spikeforge verify``: hold the generated Verilog to the golden model, cycle by cycle."""

from __future__ import annotations

import json

from ..errors import UserError
from ._common import add_config_arguments, config_from_args


def _non_negative_int(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise UserError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise UserError(f"expected a non-negative integer, got {value}")
    return value


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "verify", help="run the cocotb regression of the core against the golden model",
        description="Simulate the generated core (Verilator or Icarus, through cocotb) on "
                    "random weights and input samples drawn from a seed, and compare every "
                    "output beat (content and cycle), the end weights, masks and counters "
                    "with the cycle-exact golden model.  Exit status 0 only if every check "
                    "passed, 1 on a mismatch, 2 on bad input.")
    add_config_arguments(parser)
    parser.add_argument("--sim", choices=("verilator", "icarus"), default="verilator",
                        help="simulator (default: verilator)")
    parser.add_argument("--mode", choices=("infer", "learn"), default="learn",
                        help="inference, or learning with STDP and pruning (default: learn)")
    parser.add_argument("--seed", type=str, default="0", help="workload seed (default: 0)")
    parser.add_argument("--samples", type=str, default="8",
                        help="input samples per run (default: 8)")
    parser.add_argument("--prune-fraction", type=float, default=0.0, metavar="F",
                        help="fraction of synapses pre-pruned in the initial mask (default: 0)")
    parser.add_argument("--invalid-events", action="store_true",
                        help="put invalid input beats in every sample (they must be dropped "
                             "and counted)")
    parser.add_argument("--waves", action="store_true",
                        help="record a waveform (Verilator: FST if liblz4 headers exist, else "
                             "VCD; Icarus: FST) and print its path")
    parser.add_argument("--saif", action="store_true",
                        help="record a SAIF activity file (Verilator only)")
    parser.add_argument("--skip-decided", action="store_true",
                        help="learning: the input driver drops the rest of a sample once the "
                             "core has decided its winner (the `decided` output)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)


def run(args) -> int:
    cfg = config_from_args(args)
    seed = _non_negative_int(args.seed)
    samples = _non_negative_int(args.samples)
    if samples < 1:
        raise UserError("--samples must be at least 1")
    from ..sim.regression import run_regression

    result = run_regression(cfg, sim=args.sim, mode=args.mode, seed=seed, samples=samples,
                            waves=args.waves, saif=args.saif,
                            prune_fraction=args.prune_fraction,
                            invalid_events=args.invalid_events,
                            skip_decided=args.skip_decided)
    if args.json:
        result.pop("mismatch_list", None)
        print(json.dumps(result, indent=1))
    else:
        print(_summary(result))
    return 0 if result["passed"] else 1


def _summary(r: dict) -> str:
    status = "PASSED" if r["passed"] else "FAILED"
    cfg = r["config"]
    lines = [
        f"verify {status}: {r['sim']}, {r['mode']}, seed {r['seed']}, "
        f"{r.get('samples_run', 0)}/{r['samples']} samples, {cfg['n_inputs']}x{cfg['n_neurons']} "
        f"lanes {cfg['lanes']} weight_bits {cfg['weight_bits']} time_steps {cfg['time_steps']} "
        f"pruning {str(cfg['pruning']).lower()}",
        f"  mismatches: {r['mismatches']}",
        f"  sample cycles: rtl {r['cycles_rtl']}, golden {r['cycles_golden']}",
        f"  simulated {r['sim_cycles']} cycles in {r['sim_seconds']:.1f} s "
        f"(build {r['build_seconds']:.1f} s{', cached' if r.get('build_reused') else ''}; "
        f"total {r['wall_seconds']:.1f} s)",
        f"  speed: {r.get('cycles_per_minute', 0):,} simulated cycles/min "
        f"({r.get('cycles_per_minute_with_build', 0):,} including the build)",
    ]
    if r.get("first_mismatch"):
        lines.append(f"  first mismatch: {r['first_mismatch']['message']}")
    if r.get("aborted"):
        lines.append(f"  aborted: {r['aborted']}")
    if r.get("trace_file"):
        lines.append(f"  trace: {r['trace_file']}")
    if r.get("run_dir") and not r["passed"]:
        lines.append(f"  logs: {r['run_dir']}")
    return "\n".join(lines)
