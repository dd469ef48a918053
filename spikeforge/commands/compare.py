"""``spikeforge compare``: the same workload on the unpruned and the pruned core.

Runs on-chip learning (N samples) and inference (M samples) of the digits workload on
both cores in RTL simulation (checked against the golden model), builds both for a
board, estimates power, and writes DIR/report.md, DIR/report.json and PNG plots.
See docs/compare.md.
"""

from __future__ import annotations

from ..errors import UserError
from ._common import add_config_arguments, config_from_args
from .demo import DEMO_SAMPLES_INFER, DEMO_SAMPLES_LEARN

DEFAULT_OUT = "build/compare"


def register(subparsers) -> None:
    from ..boards.platforms import DEFAULT_BOARD, board_names
    p = subparsers.add_parser(
        "compare", help="pruned vs unpruned core: cycles, energy, connectivity, accuracy",
        description="Run the same digits workload (on-chip STDP learning, then inference) on "
                    "the unpruned and the pruned core in RTL simulation, build both for a "
                    "board, and report cycles and speed-ups, energy and savings, "
                    "connectivity, accuracy, the pruning logic's power overhead, "
                    "utilization and Fmax (DIR/report.md, DIR/report.json, PNG plots).")
    p.add_argument("--board", default=DEFAULT_BOARD, metavar="BOARD",
                   help=f"target board: {', '.join(board_names())} (default {DEFAULT_BOARD})")
    p.add_argument("--samples-learn", type=int, default=DEMO_SAMPLES_LEARN, metavar="N",
                   help=f"learning samples (default {DEMO_SAMPLES_LEARN})")
    p.add_argument("--samples-infer", type=int, default=DEMO_SAMPLES_INFER, metavar="M",
                   help=f"inference (test) samples (default {DEMO_SAMPLES_INFER})")
    p.add_argument("--samples-train", type=int, default=None, metavar="K",
                   help="readout-training samples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="workload seed (default 0)")
    p.add_argument("-o", "--out", metavar="DIR", default=DEFAULT_OUT,
                   help=f"report directory (default {DEFAULT_OUT})")
    add_config_arguments(p)
    p.add_argument("--no-build", action="store_true",
                   help="skip the FPGA builds and the power estimate (cycles, connectivity "
                        "and accuracy only)")
    p.add_argument("--freq-mhz", type=float, default=None,
                   help="clock for power and energy (default 100 MHz, or the lower Fmax)")
    p.add_argument("--force", action="store_true", help="overwrite an existing report")
    p.add_argument("--no-skip", action="store_true",
                   help="stream every event of every learning sample (default: the producer "
                        "drops the rest of a sample once the core has decided its winner)")
    p.set_defaults(func=run)


def check_args(args, cfg) -> None:
    from ..boards.platforms import get_board
    from ..compare import check_output_dir, check_sample_counts
    from ..workloads import image_side
    get_board(args.board)
    image_side(cfg)
    check_sample_counts(args.samples_learn, args.samples_infer, args.samples_train)
    if args.seed < 0:
        raise UserError(f"--seed {args.seed}: must be >= 0")
    if args.freq_mhz is not None and not 0 < args.freq_mhz <= 1000:
        raise UserError(f"--freq-mhz {args.freq_mhz}: allowed above 0 up to 1000")
    check_output_dir(args.out, args.force)


def print_headline(report: dict, out) -> None:
    """The closing lines: where the report is and its headline numbers."""
    from rich.console import Console
    console = Console()
    console.print(f"\n[bold]report:[/bold] {out / 'report.md'}  (JSON: {out / 'report.json'})")
    for t in report["targets"]:
        if t["measured"] is None:
            mark = "[yellow]n/a[/yellow]"
            value = "n/a"
        else:
            mark = "[green]met[/green]" if t["met"] else "[red]missed[/red]"
            value = f"{t['measured']:.3f}" if abs(t["measured"]) < 10 else f"{t['measured']:.1f}"
        console.print(f"  {t['name']}: {value} (target {t['target']}) {mark}")
    c = report["cores"]
    acc = report["accuracy"]
    console.print(f"  connectivity: {100 * c['pruned']['connectivity']['fraction']:.1f} % alive; "
                  f"accuracy unpruned "
                  + (f"{100 * acc['unpruned']:.1f} %" if acc["unpruned"] is not None else "n/a")
                  + ", pruned "
                  + (f"{100 * acc['pruned']:.1f} %" if acc["pruned"] is not None else "n/a"))
    for m in report["missing"]:
        console.print(f"  [yellow]missing:[/yellow] {m}")


def run(args) -> int:
    from pathlib import Path

    from rich.console import Console

    from ..compare import run_compare

    cfg = config_from_args(args)
    check_args(args, cfg)
    out = Path(args.out)
    report = run_compare(cfg, args.board, args.samples_learn, args.samples_infer, out,
                         build=not args.no_build, force=args.force,
                         samples_train=args.samples_train, seed=args.seed,
                         freq_mhz=args.freq_mhz, console=Console(stderr=True),
                         skip_decided=not args.no_skip)
    print_headline(report, out)
    return 0
