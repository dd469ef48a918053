"""``spikeforge demo``: the comparison report with embedded defaults, end to end.

The digits workload, on-chip learning and inference in RTL simulation with and without
pruning, builds for the ULX3S-85F, power, and the report (``spikeforge compare`` with
the defaults below).  It ends by printing where the report is and its headline numbers.
"""

from __future__ import annotations

DEMO_BOARD = "ulx3s-85f"
# 1,000 learning samples: pruning removes connections progressively, so a learning run
# must be long enough for the pruned steady state to weigh in its cycles and energy
# (the paper learns on thousands of images); docs/compare.md shows 300 against 1,000
DEMO_SAMPLES_LEARN = 1000
DEMO_SAMPLES_INFER = 100
DEMO_SAMPLES_TRAIN = 1000
DEMO_OUT = "build/demo"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="the pruned-vs-unpruned report with embedded defaults (ULX3S-85F)",
        description=f"Run 'spikeforge compare' with embedded defaults: the default core, the "
                    f"digits workload ({DEMO_SAMPLES_LEARN} learning and {DEMO_SAMPLES_INFER} "
                    f"inference samples), builds for {DEMO_BOARD}, power and the report.")
    p.add_argument("-o", "--out", metavar="DIR", default=DEMO_OUT,
                   help=f"report directory (default {DEMO_OUT})")
    p.add_argument("--force", action="store_true", help="overwrite an existing report")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from rich.console import Console

    from ..compare import check_output_dir, run_compare
    from ..config import load_config
    from .compare import print_headline

    out = check_output_dir(Path(args.out), args.force)
    cfg = load_config(None)
    console = Console(stderr=True)
    console.print(f"[bold]spikeforge demo[/bold]: default core ({cfg.n_inputs} inputs x "
                  f"{cfg.n_neurons} neurons, {cfg.lanes} lanes) on the digits workload, "
                  f"pruned vs unpruned, {DEMO_BOARD}")
    report = run_compare(cfg, DEMO_BOARD, DEMO_SAMPLES_LEARN, DEMO_SAMPLES_INFER, out,
                         build=True, force=args.force, samples_train=DEMO_SAMPLES_TRAIN,
                         console=console)
    print_headline(report, out)
    return 0
