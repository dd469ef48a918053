"""``spikeforge build``: synthesize, place and route the core for an ECP5 board.

Writes ``DIR/build.json`` (utilization per module, device utilization, post-route Fmax),
``DIR/build.md``, ``DIR/config.toml``, the bitstream ``DIR/top.bit`` (unless
``--no-bitstream``) and every tool log.  See docs/build-and-power.md.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ._common import add_config_arguments, config_from_args

DESIGNS = ("core", "standin")


def register(subparsers) -> None:
    from ..boards.platforms import DEFAULT_BOARD, board_names
    p = subparsers.add_parser(
        "build", help="build the core for an ECP5 board (Yosys, nextpnr, ecppack)",
        description="Build the core (or a small stand-in design) for an ECP5 board with the "
                    "YoWASP Yosys/nextpnr/ecppack tools and write DIR/build.json with "
                    "per-module utilization and post-route Fmax.")
    p.add_argument("--board", default=DEFAULT_BOARD, metavar="BOARD",
                   help=f"target board: {', '.join(board_names())} (default {DEFAULT_BOARD})")
    add_config_arguments(p)
    p.add_argument("-o", "--out", metavar="DIR", default=None,
                   help="build directory (default build/<board>)")
    p.add_argument("--no-bitstream", action="store_true",
                   help="stop after place and route (no ecppack)")
    p.add_argument("--force", action="store_true", help="overwrite an existing DIR/build.json")
    p.add_argument("--seed", type=int, default=None, help="nextpnr placement seed (default 1)")
    p.add_argument("--clock-mhz", type=float, default=None,
                   help="replace the board's clock constraint by this target (MHz), so that "
                        "nextpnr optimizes for it; Fmax is reported either way")
    p.add_argument("--design", choices=DESIGNS, default="core",
                   help="what to build: the TTFS core in its board top (default), or "
                        "'standin', a small counter/flip-flop-chain design for checking the flow")
    p.set_defaults(func=run)


def make_design(design: str, cfg, board: str):
    """The elaboratable to build: the core's board top, or the stand-in design."""
    if design == "standin":
        from ..boards._standin import StandinTop
        return StandinTop()
    try:
        from ..boards.top import make_top
    except ImportError as exc:
        raise UserError(f"the board top (boards/top.py) is not available in this installation "
                        f"({exc}); '--design standin' builds the flow's test design") from None
    return make_top(cfg, board)


def run(args) -> int:
    from rich.console import Console

    from ..boards.flow import DEFAULT_SEED, build
    from ..boards.platforms import get_board
    from ..boards.report import build_markdown, to_json, write_text

    info = get_board(args.board)
    cfg = config_from_args(args)
    out = Path(args.out) if args.out else Path("build") / info.name
    if out.exists() and not out.is_dir():
        raise UserError(f"output {str(out)!r} exists and is not a directory")
    if (out / "build.json").exists() and not args.force:
        raise UserError(f"refusing to overwrite {str(out / 'build.json')!r}: use --force, or "
                        f"choose another output directory with -o")
    top = make_design(args.design, cfg, info.name)
    # A forced rebuild that fails must not leave the previous build.json looking current.
    (out / "build.json").unlink(missing_ok=True)
    console = Console(stderr=True)
    result = build(top, info.name, out, bitstream=not args.no_bitstream,
                   seed=DEFAULT_SEED if args.seed is None else args.seed,
                   clock_mhz=args.clock_mhz, console=console)
    data = result.to_dict()
    data["design"] = args.design
    data["config"] = cfg.to_dict()
    write_text(out / "config.toml", cfg.to_toml(), force=True)
    write_text(out / "build.md", build_markdown(data), force=True)
    write_text(out / "build.json", to_json(data), force=True)
    total = data["utilization"]["design_total"]
    print(f"build: {out / 'build.json'}")
    print("cells: " + ", ".join(f"{k} {v}" for k, v in total.items() if k not in ("IO", "OTHER")))
    for clock, f in data["fmax"].items():
        print(f"Fmax {clock}: {f['achieved_mhz']:.2f} MHz (constraint {f['constraint_mhz']:.2f} "
              f"MHz, {'met' if f['constraint_met'] else 'MISSED'})")
    if result.bitstream:
        print(f"bitstream: {result.bitstream}")
    return 0
