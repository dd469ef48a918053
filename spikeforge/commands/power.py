"""``spikeforge power``: activity-based power and energy estimate of a build.

Reads ``BUILD/build.json`` and a SAIF (Verilator ``--trace-saif``) or VCD of a workload,
and writes ``power.json`` and ``power.md``.  See docs/build-and-power.md for the model.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError

SETS = ("low", "nominal", "high", "all")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "power", help="estimate power and energy of a build from simulated activity",
        description="Estimate static and dynamic power (per module and resource), energy per "
                    "sample and a confidence figure for a 'spikeforge build' directory, from "
                    "the toggle counts of a simulation (SAIF or VCD).")
    p.add_argument("--build", required=True, metavar="DIR", help="a 'spikeforge build' directory")
    p.add_argument("--saif", metavar="FILE", default=None,
                   help="activity file (.saif from Verilator --trace-saif, or .vcd); without "
                        "it every resource toggles at the vectorless default (low confidence)")
    p.add_argument("--freq-mhz", type=float, default=None,
                   help="clock frequency (default: the build's clock constraint)")
    p.add_argument("--cycles-per-sample", type=float, default=None,
                   help="clock cycles per workload sample (gives energy per sample)")
    p.add_argument("--coeffs", choices=SETS, default="all",
                   help="coefficient set(s) to report (default all)")
    p.add_argument("--coefficients", metavar="FILE", default=None,
                   help="coefficient TOML (default boards/data/power_coefficients.toml)")
    p.add_argument("--accesses", metavar="FILE", default=None,
                   help='JSON {"EBR": n or {module: n}, "DSP": ...}: block-RAM/multiplier '
                        "accesses in the simulated window")
    p.add_argument("--verilog", metavar="FILE", default=None,
                   help="the simulated Verilog, to take flip-flop activity from its registers")
    p.add_argument("--clock-net", default="clk", help="clock net name in the activity file")
    p.add_argument("--sim-cycles", type=float, default=None,
                   help="cycles simulated (only if the activity file has no clock net)")
    p.add_argument("--saif-scope", default=None,
                   help="the activity file's scope of the simulated design (default: found)")
    p.add_argument("--build-module", default=None,
                   help="the build module that was simulated (default: found from the hierarchy)")
    p.add_argument("-o", "--out", metavar="DIR", default=None,
                   help="output directory for power.json/power.md (default: the build directory)")
    p.add_argument("--force", action="store_true", help="overwrite existing power.json/power.md")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..boards.power import estimate_power, load_build, load_coefficients, \
        registers_from_verilog
    from ..boards.report import power_markdown, to_json, validate_power_json, write_text
    from ..boards.saif import read_activity

    build = load_build(args.build)
    out = Path(args.out) if args.out else Path(args.build)
    targets = [out / "power.json", out / "power.md"]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not args.force:
        raise UserError(f"refusing to overwrite {', '.join(existing)}: use --force, or choose "
                        f"another output directory with -o")
    freq_mhz = args.freq_mhz
    if freq_mhz is None:
        constraints = [f["constraint_mhz"] for f in build["fmax"].values()]
        if not constraints:
            raise UserError("the build has no clock constraint: pass --freq-mhz")
        freq_mhz = constraints[0]
    if not freq_mhz > 0:
        raise UserError(f"--freq-mhz must be positive, not {freq_mhz}")
    coefficients = load_coefficients(args.coefficients)
    activity = read_activity(args.saif) if args.saif else None
    accesses = None
    if args.accesses:
        try:
            accesses = json.loads(Path(args.accesses).read_text())
        except OSError as exc:
            raise UserError(f"cannot read {args.accesses!r}: {exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise UserError(f"{args.accesses!r} is not valid JSON: {exc}") from None
        if not isinstance(accesses, dict):
            raise UserError(f"{args.accesses!r} must hold a JSON object like {{\"EBR\": 1000}}")
    registers = None
    if args.verilog:
        try:
            registers = registers_from_verilog(Path(args.verilog).read_text())
        except OSError as exc:
            raise UserError(f"cannot read {args.verilog!r}: {exc.strerror or exc}") from None
    report = estimate_power(build, activity, freq_hz=freq_mhz * 1e6, coefficients=coefficients,
                            cycles_per_sample=args.cycles_per_sample, accesses=accesses,
                            clock_nets=(args.clock_net,), sim_cycles=args.sim_cycles,
                            saif_scope=args.saif_scope, build_module=args.build_module,
                            verilog_registers=registers)
    if args.coeffs != "all":
        report["sets"] = {args.coeffs: report["sets"][args.coeffs]}
    validate_power_json(report)
    write_text(targets[0], to_json(report), force=True)
    write_text(targets[1], power_markdown(report), force=True)
    conf = report["confidence"]
    print(f"power: {targets[0]} (confidence {conf['level']}, "
          f"{100 * conf['simulated_share']:.1f} % of resources simulated)")
    for name, s in report["sets"].items():
        line = (f"{name:>8}: static {s['static_w'] * 1e3:.2f} mW, dynamic "
                f"{s['dynamic_w'] * 1e3:.3f} mW, total {s['total_w'] * 1e3:.2f} mW")
        if "energy_per_sample_j" in s:
            line += f", {s['energy_per_sample_j'] * 1e6:.3f} uJ/sample"
        print(line)
    return 0
