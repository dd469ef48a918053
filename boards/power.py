"""Activity-based power estimate for an ECP5 build.

Open Yosys/nextpnr have no power analysis; this is spikeforge's, in the style of the
established estimators (Vivado report_power, Quartus PowerPlay, VersaPower): a netlist's
resource counts, toggle rates from simulation (or a vectorless default), and energy per
event from a coefficient file, plus the data-sheet static power.

Model (per coefficient set s in low/nominal/high; f the clock frequency; all per clock
cycle of the simulated workload)::

    P_static          = ICC*VCC + ICCAUX*VCCAUX                (data sheet, per device)
    events(m, FF)     = N_FF(m)    * a_reg(m)                  a: toggles per bit per cycle
    events(m, LUT4)   = N_LUT4(m)  * a_logic(m)
    events(m, MUX)    = N_MUX(m)   * a_logic(m)                PFUMX / L6MUX21
    events(m, CCU2C)  = 2 * N_CCU2C(m) * a_logic(m)            two sum outputs per cell
    events(m, DPRAM)  = 4 * N_DPR16X4(m) * a_logic(m)          four data outputs per cell
    events(m, EBR)    = accesses(m, EBR) / cycles              from counts, else default
    events(m, DSP)    = accesses(m, DSP) / cycles
    E_clock(m)        = N_FF(m)*clock_ff + (N_EBR(m)+N_DSP(m))*clock_ebr
                        (+ clock_root per clock domain, booked on the top module)
    P_dyn(m, r)       = events(m, r) * E_s(r) * (VCC/1.1)^2 * f
    P_total           = P_static + sum_m sum_r P_dyn(m, r)
    E_sample          = P_total * cycles_per_sample / f

``a_reg(m)`` is the mean toggle rate of module m's register bits (registers found in
the simulated Verilog when it is given; otherwise the mean over m's named nets, which in
Amaranth's Verilog are mostly registers and ports); ``a_logic(m)`` is the mean over all
of m's net bits, including Yosys' ``$``-named expression temporaries.  Clock nets are
excluded.  Build modules with no simulated scope toggle at the vectorless default rate
(12.5 %), and EBR/DSP without access counts are accessed at that rate per cycle; the
*confidence* is the share of resources whose activity was simulated.

Zero-delay simulation has no glitches, so dynamic power of arithmetic is a lower bound.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from .saif import Activity, Scope

__all__ = ["Coefficients", "load_coefficients", "load_build", "estimate_power",
           "registers_from_verilog", "COEFFICIENT_SETS", "DEFAULT_COEFFICIENTS_PATH",
           "RESOURCES"]

DEFAULT_COEFFICIENTS_PATH = Path(__file__).with_name("data") / "power_coefficients.toml"
COEFFICIENT_SETS = ("low", "nominal", "high")
_COEFF_KEYS = ("ff_toggle", "lut_toggle", "carry_toggle", "dpram_toggle", "ebr_access",
               "dsp_access", "clock_ff", "clock_ebr", "clock_root")
# resource (as reported) -> (coefficient, outputs per cell, activity kind)
_EVENT_MODEL = {
    "FF": ("ff_toggle", 1, "reg"),
    "LUT4": ("lut_toggle", 1, "logic"),
    "MUX": ("lut_toggle", 1, "logic"),
    "CCU2C": ("carry_toggle", 2, "logic"),
    "DPRAM": ("dpram_toggle", 4, "logic"),
    "EBR": ("ebr_access", 1, "access"),
    "DSP": ("dsp_access", 1, "access"),
}
RESOURCES = tuple(_EVENT_MODEL) + ("clock",)
CONFIDENCE_LEVELS = ((0.9, "high"), (0.5, "medium"), (0.0, "low"))


@dataclass(frozen=True)
class Coefficients:
    """Energy per event (pJ at ``reference_vcc``) in low/nominal/high sets."""

    sets: dict
    sources: dict
    default_toggle_rate: float
    reference_vcc: float
    path: str

    def to_dict(self) -> dict:
        return {"file": self.path, "reference_vcc": self.reference_vcc,
                "default_toggle_rate": self.default_toggle_rate, "sets_pj": self.sets,
                "sources": self.sources}


def load_coefficients(path=None) -> Coefficients:
    """Read and check the coefficient file (default: ``boards/data/power_coefficients.toml``)."""
    path = Path(path) if path else DEFAULT_COEFFICIENTS_PATH
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise UserError(f"cannot read coefficient file {str(path)!r}: {exc.strerror or exc}") \
            from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"coefficient file {str(path)!r} is not valid TOML: {exc}") from None
    sets = {}
    for name in COEFFICIENT_SETS:
        table = data.get(name)
        if not isinstance(table, dict):
            raise UserError(f"coefficient file {str(path)!r} lacks the [{name}] table")
        missing = [k for k in _COEFF_KEYS if k not in table]
        if missing:
            raise UserError(f"coefficient file {str(path)!r}: [{name}] lacks {', '.join(missing)}")
        values = {}
        for key in _COEFF_KEYS:
            value = table[key]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise UserError(f"coefficient file {str(path)!r}: [{name}] {key} = {value!r} "
                                f"must be a non-negative number (pJ)")
            values[key] = float(value)
        sets[name] = values
    sources = data.get("sources", {})
    undocumented = [k for k in _COEFF_KEYS if k not in sources]
    if undocumented:
        raise UserError(f"coefficient file {str(path)!r}: no [sources.<key>] entry for "
                        f"{', '.join(undocumented)}: every coefficient must cite its source")
    rate = data.get("default_toggle_rate", 0.125)
    if not isinstance(rate, (int, float)) or not 0 <= rate <= 2:
        raise UserError(f"coefficient file {str(path)!r}: default_toggle_rate = {rate!r} must be "
                        f"a number from 0 to 2")
    return Coefficients(sets=sets, sources=sources, default_toggle_rate=float(rate),
                        reference_vcc=float(data.get("reference_vcc", 1.1)), path=str(path))


def load_build(build_dir) -> dict:
    """The ``build.json`` of a build directory (written by ``spikeforge build``)."""
    build_dir = Path(build_dir)
    if not build_dir.is_dir():
        raise UserError(f"build directory {str(build_dir)!r} does not exist: run "
                        f"'spikeforge build -o {build_dir}' first")
    path = build_dir / "build.json"
    if not path.exists():
        raise UserError(f"{str(path)!r} does not exist: {str(build_dir)!r} is not a finished "
                        f"spikeforge build (run 'spikeforge build -o {build_dir}')")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{str(path)!r} is not valid JSON: {exc}") from None
    from .report import validate_build_json
    validate_build_json(data, str(path))
    return data


# ----------------------------------------------------------------------------- activity

_REG_ASSIGN = re.compile(
    r"always\s*@\(\s*posedge\s+[^)]*\)\s*(?:begin\s*)?(?:if\s*\([^;]*?\)\s*)?"
    r"\\?([A-Za-z_$][^\s\[<=]*)\s*(?:\[[^\]]*\]\s*)?<=")
_MODULE = re.compile(r"^\s*module\s+\\?([^\s(]+)\s*\(", re.MULTILINE)


def registers_from_verilog(text: str) -> dict[str, set]:
    """Register (flip-flop) signal names per module of Amaranth/Yosys-written Verilog.

    Yosys' Verilog back end writes each flip-flop as ``always @(posedge clk) q <= d;``;
    memories (``mem[addr] <= ...``) are excluded (they are EBR/distributed RAM, not FFs).
    Returns module name -> set of register base names."""
    result: dict[str, set] = {}
    starts = [(m.start(), m.group(1)) for m in _MODULE.finditer(text)]
    for i, (start, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        body = text[start:end]
        regs = set()
        for m in _REG_ASSIGN.finditer(body):
            if "[" in body[m.end(1):m.end()]:
                continue  # mem[addr] <= ...: a memory write port, not a flip-flop
            regs.add(m.group(1))
        result[name] = regs
    return result


def _base(bit_name: str) -> str:
    return bit_name.split("[", 1)[0]


def _scope_rates(scope: Scope, cycles: float, clock_nets: set, registers: set | None) -> dict:
    """Mean toggles per cycle of a scope's register bits, named bits and all bits."""
    reg_sum = reg_n = named_sum = named_n = all_sum = all_n = 0
    for bit_name, bit in scope.nets.items():
        base = _base(bit_name)
        if base in clock_nets:
            continue
        rate = bit.tc / cycles
        all_sum += rate
        all_n += 1
        if not base.startswith("$"):
            named_sum += rate
            named_n += 1
        if registers is not None and base in registers:
            reg_sum += rate
            reg_n += 1
    result = {"bits": all_n, "named_bits": named_n, "register_bits": reg_n,
              "logic": all_sum / all_n if all_n else None,
              "named": named_sum / named_n if named_n else None,
              "registers": reg_sum / reg_n if reg_n else None}
    return result


def _sim_root(activity: Activity, saif_scope: str | None) -> tuple[Scope, str]:
    root = activity.root
    if saif_scope:
        parts = [p for p in re.split(r"[./]", saif_scope) if p]
        if parts and parts[0] == root.name:
            parts = parts[1:]
        found = root.find(parts)
        if found is None:
            available = sorted(".".join((root.name,) + p) for p, _ in root.walk() if len(p) <= 2)
            raise UserError(f"scope {saif_scope!r} is not in {activity.source}: available "
                            f"(top levels): {', '.join(available[:20])}")
        return found, saif_scope
    path = [root.name]
    # Simulator wrappers (Verilator's TOP, cocotb's $rootio next to the design) hold only
    # copies of the design's ports: descend to the one real design instance.
    while True:
        real = [c for name, c in root.children.items() if not name.startswith("$")]
        if len(real) == 1 and all(n in real[0].nets for n in root.nets):
            root = real[0]
            path.append(root.name)
        else:
            break
    return root, ".".join(p for p in path if p)


def _find_anchor(modules: dict, sim_root: Scope, build_module: str | None) -> str:
    if build_module:
        if build_module not in modules:
            raise UserError(f"build module {build_module!r} is not in the build: modules are "
                            f"{', '.join(sorted(modules)[:30])}")
        return build_module
    rel_paths = [p for p, _ in sim_root.walk() if p]
    scores = {}
    for anchor in modules:
        # submodule paths in common, plus one for the same instance name
        scores[anchor] = sum(1 for p in rel_paths if ".".join((anchor,) + p) in modules) + \
            (anchor.split(".")[-1] == sim_root.name)
    best = max(scores.values())
    if best == 0:
        raise UserError(f"no module of the build matches the simulated design "
                        f"{sim_root.name!r} or its submodules "
                        f"({', '.join(sorted(sim_root.children)[:8]) or 'none'}): is the "
                        f"activity file from this design? Pass --build-module to map it")
    candidates = [a for a, s in scores.items() if s == best]
    if len(candidates) > 1:
        same_name = [a for a in candidates if a.split(".")[-1] == sim_root.name]
        if len(same_name) == 1:
            return same_name[0]
        raise UserError(f"cannot tell which build module the simulated design "
                        f"{sim_root.name!r} is: candidates {', '.join(sorted(candidates)[:10])}; "
                        f"pass --build-module")
    return candidates[0]


# ----------------------------------------------------------------------------- estimate

def estimate_power(build: dict, activity: Activity | None, *, freq_hz: float,
                   coefficients: Coefficients | None = None,
                   cycles_per_sample: float | None = None, accesses: dict | None = None,
                   clock_nets=("clk",), sim_cycles: float | None = None,
                   saif_scope: str | None = None, build_module: str | None = None,
                   verilog_registers: dict | None = None) -> dict:
    """Estimate power of ``build`` (a ``build.json`` dict) under ``activity``.

    Args:
        activity: toggle counts (:func:`spikeforge.boards.saif.read_activity`); None means
            no simulation at all (every resource at the vectorless default).
        freq_hz: clock frequency the power is computed for.
        cycles_per_sample: clock cycles per workload sample, for energy per sample.
        accesses: ``{"EBR": n or {module: n}, "DSP": ...}``: access counts over the
            simulated window; a number is spread over the simulated modules in proportion
            to their EBR/DSP cells; module keys are build module names or paths relative
            to the simulated top.
        clock_nets: net names that are clocks (excluded from toggle rates; the first one
            gives the simulated cycle count: 2 toggles per cycle).
        sim_cycles: cycles simulated, if the activity has no clock net.
        saif_scope, build_module: which simulated scope corresponds to which build module
            (found automatically when the hierarchy makes it unambiguous).
        verilog_registers: :func:`registers_from_verilog` of the simulated Verilog.

    Returns the report dict (see docs/build-and-power.md and ``report.POWER_SCHEMA``).
    """
    coefficients = coefficients or load_coefficients()
    if not isinstance(freq_hz, (int, float)) or not freq_hz > 0:
        raise UserError(f"clock frequency must be a positive number of Hz, not {freq_hz!r}")
    if cycles_per_sample is not None and not cycles_per_sample > 0:
        raise UserError(f"cycles per sample must be positive, not {cycles_per_sample!r}")
    board = build["board"]
    modules = build["utilization"]["modules"]
    top = build["top_module"]
    clock_nets = set(clock_nets)
    default_rate = coefficients.default_toggle_rate
    vscale = (board["vcc"] / coefficients.reference_vcc) ** 2

    # --- which build module is which simulated scope
    sim_info = {"file": None, "format": None, "cycles": None, "duration_s": None,
                "saif_root": None, "build_module": None}
    mapping: dict[str, Scope] = {}
    anchor = None
    cycles = None
    if activity is not None:
        cycles = sim_cycles
        if cycles is None:
            for net in clock_nets:
                cycles = activity.clock_cycles(net)
                if cycles:
                    break
        if not cycles or cycles <= 0:
            raise UserError(f"{activity.source}: no toggling clock net named "
                            f"{'/'.join(sorted(clock_nets))} to count the simulated cycles: "
                            f"pass the clock's name or the number of simulated cycles")
        sim_root, root_path = _sim_root(activity, saif_scope)
        anchor = _find_anchor(modules, sim_root, build_module)
        for path, scope in sim_root.walk():
            name = ".".join((anchor,) + path)
            if name in modules and scope.nets:
                mapping[name] = scope
        sim_info = {"file": activity.source, "format": activity.fmt, "cycles": cycles,
                    "duration_s": activity.duration_s, "saif_root": root_path,
                    "build_module": anchor}

    # Verilog register names are keyed by the simulated module names: <sim top>.<path>
    def registers_for(module: str) -> set | None:
        if not verilog_registers or anchor is None:
            return None
        rel = module[len(anchor):].lstrip(".")
        for sim_name, regs in verilog_registers.items():
            parts = sim_name.split(".", 1)
            sim_rel = parts[1] if len(parts) == 2 else ""
            if sim_rel == rel:
                return regs
        return None

    access_rates = _access_rates(accesses, modules, mapping, anchor, cycles)

    # --- events per cycle, per module and resource
    module_rows = {}
    simulated_cells = defaulted_cells = 0
    for name, info in modules.items():
        own = info["own"]
        scope = mapping.get(name)
        if scope is not None:
            rates = _scope_rates(scope, cycles, clock_nets, registers_for(name))
            a_reg = rates["registers"] if rates["registers"] is not None else rates["named"]
            a_reg_source = "registers" if rates["registers"] is not None else "named nets"
            a_logic = rates["logic"]
            if a_reg is None:
                a_reg = a_logic
            logic_simulated = True
        else:
            rates = None
            a_reg = a_logic = default_rate
            a_reg_source = "default"
            logic_simulated = False
        events = {}
        resource_simulated = {}
        for resource, (_, outputs, kind) in _EVENT_MODEL.items():
            count = own.get(resource, 0)
            if kind == "reg":
                events[resource] = count * outputs * (a_reg or 0.0)
                resource_simulated[resource] = logic_simulated
            elif kind == "logic":
                events[resource] = count * outputs * (a_logic or 0.0)
                resource_simulated[resource] = logic_simulated
            else:
                rate = access_rates.get(resource, {}).get(name)
                resource_simulated[resource] = rate is not None
                events[resource] = count * default_rate if rate is None else rate
            if count:
                if resource_simulated[resource]:
                    simulated_cells += count
                else:
                    defaulted_cells += count
        module_rows[name] = {
            "simulated": logic_simulated,
            "scope": (".".join([sim_info["saif_root"]] + ([name[len(anchor) + 1:]]
                                                          if name != anchor else [])))
            if logic_simulated else None,
            "toggle_rate_registers": a_reg, "toggle_rate_registers_from": a_reg_source,
            "toggle_rate_logic": a_logic,
            "cells": {r: own.get(r, 0) for r in _EVENT_MODEL},
            "events_per_cycle": events,
            "access_simulated": {r: resource_simulated[r] for r in ("EBR", "DSP")},
        }

    n_domains = max(1, len(build.get("fmax", {})))
    total_cells = simulated_cells + defaulted_cells
    share = simulated_cells / total_cells if total_cells else 0.0
    level = next(lbl for threshold, lbl in CONFIDENCE_LEVELS if share >= threshold)

    # --- power per coefficient set
    static_w = board["static_power_w"]
    sets = {}
    for set_name, coeff in coefficients.sets.items():
        by_module, by_resource = {}, {r: 0.0 for r in RESOURCES}
        for name, row in module_rows.items():
            cells = row["cells"]
            per = {}
            for resource, (key, _, _) in _EVENT_MODEL.items():
                per[resource] = row["events_per_cycle"][resource] * coeff[key] * 1e-12 * \
                    vscale * freq_hz
            clock_pj = cells["FF"] * coeff["clock_ff"] + \
                (cells["EBR"] + cells["DSP"]) * coeff["clock_ebr"]
            if name == top:
                clock_pj += n_domains * coeff["clock_root"]
            per["clock"] = clock_pj * 1e-12 * vscale * freq_hz
            per["total"] = sum(per[r] for r in RESOURCES)
            by_module[name] = per
            for r in RESOURCES:
                by_resource[r] += per[r]
        dynamic = sum(by_resource.values())
        total = static_w + dynamic
        entry = {"static_w": static_w, "dynamic_w": dynamic, "total_w": total,
                 "by_resource_w": by_resource, "by_module_w": by_module,
                 "energy_per_cycle_j": total / freq_hz,
                 "dynamic_energy_per_cycle_j": dynamic / freq_hz}
        if cycles_per_sample is not None:
            entry["energy_per_sample_j"] = total * cycles_per_sample / freq_hz
            entry["dynamic_energy_per_sample_j"] = dynamic * cycles_per_sample / freq_hz
        sets[set_name] = entry

    from .report import POWER_SCHEMA_VERSION
    return {
        "schema": "spikeforge.power",
        "schema_version": POWER_SCHEMA_VERSION,
        "board": board,
        "frequency_mhz": freq_hz / 1e6,
        "cycles_per_sample": cycles_per_sample,
        "voltage_scale": vscale,
        "static": {"power_w": static_w, "source": board["static_source"]},
        "activity": sim_info,
        "confidence": {"simulated_share": share, "level": level,
                       "simulated_cells": simulated_cells, "defaulted_cells": defaulted_cells,
                       "default_toggle_rate": default_rate,
                       "defaulted_modules": sorted(n for n, r in module_rows.items()
                                                   if not r["simulated"] and
                                                   any(r["cells"].values()))},
        "modules": module_rows,
        "sets": sets,
        "coefficients": coefficients.to_dict(),
    }


def _access_rates(accesses, modules, mapping, anchor, cycles) -> dict:
    """Access counts -> accesses per cycle per build module, for EBR and DSP."""
    result: dict[str, dict] = {}
    if not accesses:
        return result
    if cycles is None:
        raise UserError("access counts need a simulation (SAIF/VCD) to give the cycle count")
    for resource, value in accesses.items():
        if resource not in ("EBR", "DSP"):
            raise UserError(f"access counts: unknown resource {resource!r}: use EBR or DSP")
        rates = {}
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            holders = {n: modules[n]["own"].get(resource, 0) for n in mapping}
            holders = {n: c for n, c in holders.items() if c}
            total = sum(holders.values())
            if value < 0:
                raise UserError(f"access count for {resource} must be >= 0, not {value}")
            if total == 0 and value:
                raise UserError(f"{value} {resource} accesses given, but no simulated module "
                                f"of the build has {resource} cells")
            for n, c in holders.items():
                rates[n] = value * c / total / cycles
        elif isinstance(value, dict):
            for key, count in value.items():
                name = key if key in modules else ".".join(p for p in (anchor, key) if p)
                if name not in modules:
                    raise UserError(f"access counts: module {key!r} is not in the build")
                if not isinstance(count, (int, float)) or count < 0:
                    raise UserError(f"access count for {resource} in {key!r} must be a "
                                    f"number >= 0, not {count!r}")
                rates[name] = count / cycles
        else:
            raise UserError(f"access counts for {resource} must be a number or a table of "
                            f"module -> number, not {value!r}")
        result[resource] = rates
    return result
