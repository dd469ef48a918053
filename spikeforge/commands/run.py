"""``spikeforge run``: on-chip learning and inference on a board (or the simulated board).

The flow (``spikeforge.host.flow``): PING and check the board's config, load the initial
weights, learn on ``--learn`` samples and infer on ``--infer`` samples (batch mode: the
samples run back to back from on-chip memory), read the counters and the learned
weights back, and check everything against the golden core model.  ``--sim`` runs the
identical flow against the board top simulated by Verilator under cocotb.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..errors import UserError
from ._common import add_config_arguments, config_from_args

BOARD_CHOICES = ("ulx3s-85f", "orangecrab-25f", "ecpix5-85f")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="learn and infer on a board over its USB serial link (or --sim)",
        description="Run on-chip STDP learning and inference on a board programmed with "
                    "the spikeforge board top, over its serial host link; --sim runs the "
                    "same flow against the simulated board top (Verilator + cocotb). The "
                    "results are checked against the golden core model.")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--board", metavar="BOARD",
                        help=f"the board: {', '.join(BOARD_CHOICES)} (needs --port)")
    target.add_argument("--sim", action="store_true",
                        help="simulate the board top instead (no board needed)")
    p.add_argument("--port", metavar="PORT", help="serial port of the board, e.g. /dev/ttyUSB0")
    p.add_argument("--baud", type=int, default=None,
                   help="baud rate the bitstream was built for (default: the board's "
                        "default); with --sim, the simulated link's rate (default 25000000, "
                        "the 100 MHz clock / 4)")
    p.add_argument("--dataset", default="digits", metavar="NAME",
                   help="digits (sklearn, encoded as latency spikes; default) or random")
    p.add_argument("--learn", type=int, default=20, metavar="N",
                   help="learning samples (default 20)")
    p.add_argument("--infer", type=int, default=20, metavar="M",
                   help="inference samples (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and samples")
    p.add_argument("--stream", action="store_true",
                   help="stream the samples over the link instead of batch mode (cycle "
                        "counts then include waiting for the link and are not compared)")
    p.add_argument("--save-weights", metavar="FILE", default=None,
                   help="save the learned weights and mask (.npz)")
    p.add_argument("--json", metavar="FILE", default=None, help="write the report as JSON")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("--fmax-mhz", type=float, default=None, metavar="F",
                   help="also report on-chip samples/s at this clock (e.g. the post-route "
                        "Fmax of `spikeforge build`)")
    p.add_argument("--batch-events", type=int, default=None, metavar="N",
                   help="--sim: batch input memory depth in beats (default 1024)")
    add_config_arguments(p)
    p.set_defaults(func=run)


def _check_output(path: str | None, force: bool) -> Path | None:
    if path is None:
        return None
    out = Path(path)
    if out.exists() and not force:
        raise UserError(f"refusing to overwrite {str(out)!r}: use --force or another name")
    if out.parent and not out.parent.exists():
        raise UserError(f"folder {str(out.parent)!r} does not exist")
    return out


def _board_run(args, cfg, work):
    from ..boards.top import DEFAULT_BAUD
    from ..host.driver import Board
    from ..host.flow import run_on_board
    from ..host.transport import SerialTransport

    if args.board not in BOARD_CHOICES:
        raise UserError(f"unknown board {args.board!r}: choose one of {', '.join(BOARD_CHOICES)}")
    if not args.port:
        raise UserError("--board needs --port (the board's serial port, e.g. /dev/ttyUSB0)")
    baud = args.baud or DEFAULT_BAUD[args.board]
    with SerialTransport(args.port, baud) as transport:
        report = run_on_board(Board(transport), work, batch=not args.stream,
                              progress=lambda text: print(f"  {text}", file=sys.stderr))
    from ..boards.platforms import get_board
    from ..boards.top import board_clock_hz
    report["clk_freq"] = board_clock_hz(args.board, get_board(args.board).platform)
    report["baud"] = baud
    report["target"] = args.board
    return report


def _sim_run(args, cfg, work):
    from ..host.sim_board import build_board_sim, run_board_sim

    from ..host.sim_board import SIM_DIVISOR, sim_divisor_for_baud

    batch_events = args.batch_events or 1024
    divisor = sim_divisor_for_baud(args.baud) if args.baud else SIM_DIVISOR
    print("  building the simulated board top (Verilator, cached)", file=sys.stderr)
    build = build_board_sim(cfg, batch_events=batch_events,
                            batch_outputs=max(256, 2 * (cfg.n_neurons + 1)), divisor=divisor)
    print(f"  running the flow in simulation ({args.learn} learn + {args.infer} infer samples)",
          file=sys.stderr)
    params = {"dataset": args.dataset, "n_learn": args.learn, "n_infer": args.infer,
              "seed": args.seed, "batch": not args.stream}
    result, work_dir = run_board_sim(build, params, testcase="board_run")
    if result is None:
        raise UserError(f"the simulation failed before writing its result; see "
                        f"{work_dir / 'sim.log'}")
    result["weights"] = np.asarray(result["weights"], dtype=np.int64)
    result["mask"] = np.asarray(result["mask"], dtype=bool)
    result["target"] = "sim"
    result["sim_dir"] = str(work_dir)
    return result


def run(args) -> int:
    from ..fileio import atomic_write_text, save_checkpoint
    from ..host.flow import REPORT_COUNTERS, compare_with_golden, make_run_workload, run_golden

    cfg = config_from_args(args)
    save = _check_output(args.save_weights, args.force)
    json_out = _check_output(args.json, args.force)
    work = make_run_workload(cfg, dataset=args.dataset, n_learn=args.learn,
                             n_infer=args.infer, seed=args.seed)
    print(f"spikeforge run: {work.description}; {args.learn} learn, {args.infer} infer",
          file=sys.stderr)
    report = _sim_run(args, cfg, work) if args.sim else _board_run(args, cfg, work)
    golden = run_golden(work)
    problems = compare_with_golden(report, golden, cycles=not args.stream)

    clk = report.get("clk_freq")
    lines = [f"target {report['target']}, {report['mode']} mode, clock {clk / 1e6:g} MHz, "
             f"UART {report.get('baud')} baud"]
    header = ["phase", *REPORT_COUNTERS, "output_spikes", "on_chip_us", "link_s"]
    lines.append(" ".join(f"{h:>13}" for h in header))
    summary = {}
    rate_lines = []
    for phase, entry in report["phases"].items():
        run_cycles = entry.get("batch_run_cycles")
        on_chip_us = run_cycles / clk * 1e6 if run_cycles is not None and clk else None
        row = [phase] + [entry[n] for n in REPORT_COUNTERS] + [entry["output_spikes"]]
        row += [f"{on_chip_us:.1f}" if on_chip_us is not None else "-",
                f"{entry['link_seconds']:.4g}"]
        lines.append(" ".join(f"{str(v):>13}" for v in row))
        on_chip_s = None if on_chip_us is None else on_chip_us * 1e-6
        link_s = entry["link_seconds"]
        summary[phase] = {**{n: entry[n] for n in REPORT_COUNTERS},
                          "output_spikes": entry["output_spikes"],
                          "input_events": entry["input_events"],
                          "batch_run_cycles": run_cycles, "on_chip_seconds": on_chip_s,
                          "link_seconds": link_s,
                          # the phase's input events per second of link time (all traffic:
                          # loading, running, polling, reading outputs back)
                          "link_events_per_s": entry["input_events"] / link_s if link_s else None,
                          "on_chip_samples_per_s":
                              entry["samples"] / on_chip_s if on_chip_s else None,
                          "link_share": 1.0 - on_chip_s / link_s if on_chip_s and link_s else None}
        rates = summary[phase]
        extra = f"  {phase}: {rates['link_events_per_s']:.4g} input events/s over the link"
        if on_chip_s:
            rates["cycles_per_sample"] = run_cycles / entry["samples"]
            extra += (f", {rates['cycles_per_sample']:.1f} cycles/sample on chip = "
                      f"{rates['on_chip_samples_per_s']:.4g} samples/s at {clk / 1e6:g} MHz")
            if args.fmax_mhz:
                rates["samples_per_s_at_fmax"] = args.fmax_mhz * 1e6 / rates["cycles_per_sample"]
                extra += (f" ({rates['samples_per_s_at_fmax']:.4g} at {args.fmax_mhz:g} MHz)")
            extra += f"; link share of the phase {rates['link_share']:.1%}"
        rate_lines.append(extra)
    lines += rate_lines
    alive = int(report["mask"].sum())
    lines.append(f"synapses alive after learning: {alive} of {report['mask'].size}")
    compared = ("read-back weights, masks, output spikes and counters identical (cycle "
                "counts not compared in streaming mode)" if args.stream else
                "read-back weights, masks, output spikes, cycle counts and counters identical")
    lines.append("golden model: " + (compared if not problems else
                                     f"{len(problems)} difference(s): " + "; ".join(problems[:3])))
    print("\n".join(lines))

    if save is not None:
        # a checkpoint records its config and is written atomically (spikeforge.fileio)
        save_checkpoint(save, cfg, report["weights"], report["mask"], force=True)
        print(f"weights saved to {save}", file=sys.stderr)
    if json_out is not None:
        data = {"target": report["target"], "mode": report["mode"], "config": cfg.to_dict(),
                "dataset": args.dataset, "seed": args.seed, "learn": args.learn,
                "infer": args.infer, "clk_freq": clk, "baud": report.get("baud"),
                "phases": summary, "synapses_alive": alive,
                "golden_match": not problems, "golden_differences": problems,
                "weight_load_seconds": report.get("weight_load_seconds")}
        for key in ("sim_seconds", "wall_seconds", "bytes_sent", "bytes_received"):
            if key in report:
                data[key] = report[key]
        atomic_write_text(json_out, json.dumps(data, indent=1), force=True)
    return 0 if not problems else 1
