"""Stored build baselines: utilization and Fmax of known designs, per board and tool version.

A baseline lives in ``boards/baselines/<board>/<tool-tag>.json`` (tool tag: e.g.
``yosys-0.70_nextpnr-0.11.1``).  The default test suite rebuilds the designs and compares
against it with tolerances, so that a change in the generated hardware or the tools that
moves utilization or Fmax is noticed.  Baselines are only (re)written deliberately::

    python -m spikeforge.boards.baselines write --board orangecrab-25f --design standin

never by the tests themselves: a missing baseline fails the test and says this command.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from ...errors import UserError

__all__ = ["BASELINE_DIR", "DESIGNS", "TOLERANCE", "tiny_core_config", "make_baseline_design",
           "baseline_path", "baseline_from_build", "compare_with_baseline", "write_baseline"]

BASELINE_DIR = Path(__file__).resolve().parent
DESIGNS = ("standin", "tiny-core")
# Utilization may move by a few cells with unrelated changes; Fmax by a few % with seeds.
TOLERANCE = {"cells_rel": 0.05, "cells_abs": 2, "fmax_rel": 0.10}


def tiny_core_config():
    """The small core configuration the default test suite builds on the 25F."""
    from ...config import CoreConfig
    return CoreConfig(n_inputs=16, n_neurons=4, weight_bits=4, potential_bits=8, time_steps=4,
                      lanes=2, fifo_depth=4, counter_bits=16)


def make_baseline_design(design: str, board: str):
    """The elaboratable for a baseline design name."""
    if design == "standin":
        from .._standin import StandinTop
        return StandinTop(16, 16)
    if design == "tiny-core":
        from ..top import make_top
        return make_top(tiny_core_config(), board)
    raise UserError(f"unknown baseline design {design!r}: choose one of {', '.join(DESIGNS)}")


def baseline_path(board: str, design: str, tool_tag: str) -> Path:
    return BASELINE_DIR / board / f"{tool_tag}.json" if design == "standin" else \
        BASELINE_DIR / board / f"{tool_tag}.{design}.json"


def baseline_from_build(build: dict, design: str, tool_tag: str) -> dict:
    """The part of a ``build.json`` that a baseline keeps."""
    cats = ("LUT4", "CCU2C", "FF", "DPRAM", "EBR", "DSP", "MUX")
    return {
        "schema": "spikeforge.baseline", "board": build["board"]["name"], "design": design,
        "tool_tag": tool_tag, "tools": build["tools"], "seed": build["seed"],
        "tolerance": TOLERANCE,
        "design_total": {c: build["utilization"]["design_total"][c] for c in cats},
        "modules": {name: {c: m["total"][c] for c in cats}
                    for name, m in build["utilization"]["modules"].items()
                    if any(m["total"][c] for c in cats)},
        "fmax_mhz": {clock: f["achieved_mhz"] for clock, f in build["fmax"].items()},
    }


def compare_with_baseline(build: dict, baseline: dict) -> list[str]:
    """Differences beyond the baseline's tolerance (empty list: within tolerance)."""
    tol = baseline.get("tolerance", TOLERANCE)
    problems = []

    def cells_close(now: int, then: int) -> bool:
        return abs(now - then) <= max(tol["cells_abs"], tol["cells_rel"] * then)

    total = build["utilization"]["design_total"]
    for cat, then in baseline["design_total"].items():
        if not cells_close(total.get(cat, 0), then):
            problems.append(f"design total {cat}: {total.get(cat, 0)} vs baseline {then}")
    modules = build["utilization"]["modules"]
    for name, cats in baseline["modules"].items():
        if name not in modules:
            problems.append(f"module {name} is missing from the build")
            continue
        for cat, then in cats.items():
            now = modules[name]["total"].get(cat, 0)
            if not cells_close(now, then):
                problems.append(f"module {name} {cat}: {now} vs baseline {then}")
    for clock, then in baseline["fmax_mhz"].items():
        now = build["fmax"].get(clock, {}).get("achieved_mhz")
        if now is None:
            problems.append(f"clock {clock} is missing from the build")
        elif abs(now - then) > tol["fmax_rel"] * then:
            problems.append(f"Fmax {clock}: {now:.2f} MHz vs baseline {then:.2f} MHz")
    return problems


def write_baseline(board: str, design: str, force: bool = False) -> Path:
    """Build ``design`` for ``board`` and store its baseline for the current tools."""
    from ..flow import build, tool_version_tag, tool_versions
    from ..platforms import get_board
    get_board(board)
    tag = tool_version_tag(tool_versions())
    path = baseline_path(board, design, tag)
    if path.exists() and not force:
        raise UserError(f"baseline {path} exists: pass --force to replace it deliberately")
    with tempfile.TemporaryDirectory() as tmp:
        result = build(make_baseline_design(design, board), board, tmp, bitstream=False)
        data = baseline_from_build(result.to_dict(), design, tag)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spikeforge.boards.baselines",
                                     description="(Re)write a stored build baseline.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="build a design and store its baseline")
    w.add_argument("--board", default="orangecrab-25f")
    w.add_argument("--design", choices=DESIGNS, default="standin")
    w.add_argument("--force", action="store_true", help="replace an existing baseline")
    args = parser.parse_args(argv)
    try:
        path = write_baseline(args.board, args.design, args.force)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0
