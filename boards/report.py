"""Schemas and writers for the build and power reports (JSON and Markdown).

The schemas are a small subset of JSON Schema (``type``, ``required``, ``properties``,
``additionalProperties``, ``items``, ``enum``, ``minimum``) checked by
:func:`validate`, so that no extra dependency is needed; they say what every report
must contain and are used by the tests and by ``spikeforge power`` when it reads a
``build.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..errors import UserError
from ..fileio import atomic_write_text

__all__ = ["BUILD_SCHEMA_VERSION", "POWER_SCHEMA_VERSION", "BUILD_SCHEMA", "POWER_SCHEMA",
           "validate", "validate_build_json", "validate_power_json", "build_markdown",
           "power_markdown", "write_text"]

BUILD_SCHEMA_VERSION = 1
POWER_SCHEMA_VERSION = 1

_NUM = {"type": "number", "minimum": 0}
_COUNT = {"type": "integer", "minimum": 0}
_CATS = {"type": "object", "additionalProperties": _COUNT,
         "required": ["LUT4", "CCU2C", "FF", "DPRAM", "EBR", "DSP"]}

BUILD_SCHEMA = {
    "type": "object",
    "required": ["schema", "schema_version", "board", "top_module", "seed", "tools", "steps",
                 "bitstream", "utilization", "fmax"],
    "properties": {
        "schema": {"enum": ["spikeforge.build"]},
        "schema_version": {"enum": [BUILD_SCHEMA_VERSION]},
        "board": {"type": "object",
                  "required": ["name", "device", "package", "vcc", "static_power_w",
                               "static_source"],
                  "properties": {"name": {"type": "string"}, "device": {"type": "string"},
                                 "vcc": _NUM, "static_power_w": _NUM}},
        "top_module": {"type": "string"},
        "seed": _COUNT,
        "tools": {"type": "object", "additionalProperties": {"type": "string"}},
        "steps": {"type": "array", "items": {"type": "object", "required": ["step", "seconds"],
                                             "properties": {"step": {"type": "string"},
                                                            "seconds": _NUM}}},
        "bitstream": {"type": ["string", "null"]},
        "utilization": {
            "type": "object", "required": ["design_total", "modules", "device"],
            "properties": {
                "design_total": _CATS,
                "modules": {"type": "object", "additionalProperties": {
                    "type": "object", "required": ["cells", "own", "total", "children"],
                    "properties": {"cells": {"type": "object", "additionalProperties": _COUNT},
                                   "own": _CATS, "total": _CATS,
                                   "children": {"type": "object",
                                                "additionalProperties": _COUNT}}}},
                "device": {"type": "object", "additionalProperties": {
                    "type": "object", "required": ["used", "available", "percent"],
                    "properties": {"used": _COUNT, "available": _COUNT, "percent": _NUM}}},
            }},
        "fmax": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["achieved_mhz", "constraint_mhz", "constraint_met"],
            "properties": {"achieved_mhz": _NUM, "constraint_mhz": _NUM,
                           "constraint_met": {"type": "boolean"}}}},
        "critical_paths": {"type": "array", "items": {
            "type": "object", "required": ["start", "end", "delay_ns", "sources"],
            "properties": {"delay_ns": _NUM, "sources": {"type": "array"}}}},
    },
}

_RES_W = {"type": "object", "additionalProperties": _NUM,
          "required": ["FF", "LUT4", "MUX", "CCU2C", "DPRAM", "EBR", "DSP", "clock"]}
_SET = {"type": "object",
        "required": ["static_w", "dynamic_w", "total_w", "by_resource_w", "by_module_w",
                     "energy_per_cycle_j", "dynamic_energy_per_cycle_j"],
        "properties": {"static_w": _NUM, "dynamic_w": _NUM, "total_w": _NUM,
                       "by_resource_w": _RES_W,
                       "by_module_w": {"type": "object", "additionalProperties": _RES_W},
                       "energy_per_cycle_j": _NUM, "dynamic_energy_per_cycle_j": _NUM,
                       "energy_per_sample_j": _NUM, "dynamic_energy_per_sample_j": _NUM}}

POWER_SCHEMA = {
    "type": "object",
    "required": ["schema", "schema_version", "board", "frequency_mhz", "cycles_per_sample",
                 "static", "activity", "confidence", "modules", "sets", "coefficients"],
    "properties": {
        "schema": {"enum": ["spikeforge.power"]},
        "schema_version": {"enum": [POWER_SCHEMA_VERSION]},
        "frequency_mhz": _NUM,
        "cycles_per_sample": {"type": ["number", "null"], "minimum": 0},
        "static": {"type": "object", "required": ["power_w", "source"],
                   "properties": {"power_w": _NUM, "source": {"type": "string"}}},
        "activity": {"type": "object", "required": ["file", "format", "cycles"]},
        "confidence": {"type": "object",
                       "required": ["simulated_share", "level", "simulated_cells",
                                    "defaulted_cells", "default_toggle_rate"],
                       "properties": {"simulated_share": {"type": "number", "minimum": 0,
                                                          "maximum": 1},
                                      "level": {"enum": ["high", "medium", "low"]}}},
        "modules": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["simulated", "cells", "events_per_cycle"]}},
        "sets": {"type": "object", "additionalProperties": _SET},
        "coefficients": {"type": "object", "required": ["sets_pj", "sources"]},
    },
}

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _type_ok(value, name: str) -> bool:
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and \
            math.isfinite(value)
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def validate(data, schema: dict, where: str = "$") -> list[str]:
    """Check ``data`` against ``schema``; returns a list of problems (empty: valid)."""
    problems = []
    if "enum" in schema and data not in schema["enum"]:
        problems.append(f"{where}: {data!r} is not one of {schema['enum']}")
        return problems
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(data, t) for t in types):
            problems.append(f"{where}: expected {' or '.join(types)}, got {type(data).__name__}")
            return problems
    if _type_ok(data, "number"):
        if "minimum" in schema and data < schema["minimum"]:
            problems.append(f"{where}: {data} is below {schema['minimum']}")
        if "maximum" in schema and data > schema["maximum"]:
            problems.append(f"{where}: {data} is above {schema['maximum']}")
    if isinstance(data, dict):
        for key in schema.get("required", []):
            if key not in data:
                problems.append(f"{where}: missing {key!r}")
        props = schema.get("properties", {})
        for key, value in data.items():
            if key in props:
                problems += validate(value, props[key], f"{where}.{key}")
            elif "additionalProperties" in schema:
                problems += validate(value, schema["additionalProperties"], f"{where}.{key}")
    if isinstance(data, list) and "items" in schema:
        for i, item in enumerate(data):
            problems += validate(item, schema["items"], f"{where}[{i}]")
    return problems


def validate_build_json(data, source: str = "build.json") -> None:
    problems = validate(data, BUILD_SCHEMA)
    if problems:
        raise UserError(f"{source} is not a spikeforge build report: "
                        f"{'; '.join(problems[:5])}")


def validate_power_json(data, source: str = "power.json") -> None:
    problems = validate(data, POWER_SCHEMA)
    if problems:
        raise UserError(f"{source} is not a spikeforge power report: "
                        f"{'; '.join(problems[:5])}")


def write_text(path, text: str, force: bool) -> Path:
    """Write ``text`` to ``path``; an existing file is only replaced with ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise UserError(f"refusing to overwrite {str(path)!r}: use --force, or choose another "
                        f"output directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, text, force=True)   # temp file + rename


def to_json(data) -> str:
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


# ----------------------------------------------------------------------------- Markdown

def _si(value: float, unit: str) -> str:
    for factor, prefix in ((1, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p")):
        if abs(value) >= factor or factor == 1e-12:
            return f"{value / factor:.3f} {prefix}{unit}"
    return f"{value} {unit}"


def build_markdown(build: dict) -> str:
    """A human-readable summary of a ``build.json``."""
    board = build["board"]
    lines = [f"# Build: {board['name']} ({board['device']}-{board.get('speed', '')}"
             f"{board['package']})", ""]
    lines.append(f"Tools: {', '.join(f'{k}: {v}' for k, v in build['tools'].items())}; "
                 f"nextpnr seed {build['seed']}.")
    lines += ["", "## Fmax (post-route)", "", "| clock | achieved MHz | constraint MHz | met |",
              "|---|---:|---:|---|"]
    for clock, f in build["fmax"].items():
        lines.append(f"| {clock} | {f['achieved_mhz']:.2f} | {f['constraint_mhz']:.2f} | "
                     f"{'yes' if f['constraint_met'] else 'NO'} |")
    cats = ["LUT4", "CCU2C", "FF", "DPRAM", "EBR", "DSP", "MUX"]
    lines += ["", "## Utilization per module (own cells / including submodules)", "",
              "| module | " + " | ".join(cats) + " |", "|---|" + "---:|" * len(cats)]
    for name, info in build["utilization"]["modules"].items():
        if not any(info["total"].get(c, 0) for c in cats):
            continue
        lines.append(f"| {name} | " + " | ".join(
            f"{info['own'].get(c, 0)} / {info['total'].get(c, 0)}" for c in cats) + " |")
    lines += ["", "## Device utilization", "", "| resource | used | available | % |",
              "|---|---:|---:|---:|"]
    for bel, u in build["utilization"]["device"].items():
        if u["used"]:
            lines.append(f"| {bel} | {u['used']} | {u['available']} | {u['percent']:.2f} |")
    paths = build.get("critical_paths") or []
    if paths:
        lines += ["", "## Critical paths (nextpnr)", "",
                  "| clocks | delay ns (logic + routing) | levels | start -> end | sources |",
                  "|---|---:|---:|---|---|"]
        for p in paths:
            lines.append(f"| {p['from_clock']} -> {p['to_clock']} | {p['delay_ns']:.2f} "
                         f"({p['logic_ns']:.2f} + {p['routing_ns']:.2f}) | {p['logic_levels']} "
                         f"| {p['start']} -> {p['end']} | {', '.join(p['sources'][:4])} |")
    return "\n".join(lines) + "\n"


def power_markdown(report: dict) -> str:
    """A human-readable summary of a power report."""
    board = report["board"]
    conf = report["confidence"]
    act = report["activity"]
    lines = [f"# Power estimate: {board['name']} ({board['device']}) at "
             f"{report['frequency_mhz']:.3f} MHz", ""]
    if act.get("file"):
        lines.append(f"Activity: {act['file']} ({act['format']}, {act['cycles']:.0f} simulated "
                     f"cycles, scope {act['saif_root']} = build module {act['build_module']}).")
    else:
        lines.append("Activity: none (vectorless default toggle rate everywhere).")
    lines.append(f"Confidence: **{conf['level']}**: {100 * conf['simulated_share']:.1f} % of the "
                 f"resources have simulated activity ({conf['simulated_cells']} cells); "
                 f"{conf['defaulted_cells']} cells use the vectorless default of "
                 f"{100 * conf['default_toggle_rate']:.1f} %.")
    lines.append(f"Static power: {_si(report['static']['power_w'], 'W')} "
                 f"({report['static']['source']}).")
    lines += ["", "## Totals per coefficient set", "",
              "| set | static | dynamic | total | energy/cycle | energy/sample |",
              "|---|---:|---:|---:|---:|---:|"]
    for name, s in report["sets"].items():
        eps = _si(s["energy_per_sample_j"], "J") if "energy_per_sample_j" in s else "-"
        lines.append(f"| {name} | {_si(s['static_w'], 'W')} | {_si(s['dynamic_w'], 'W')} | "
                     f"{_si(s['total_w'], 'W')} | {_si(s['energy_per_cycle_j'], 'J')} | {eps} |")
    nominal = report["sets"].get("nominal") or next(iter(report["sets"].values()))
    resources = list(nominal["by_resource_w"])
    lines += ["", "## Dynamic power by resource (nominal)", "",
              "| " + " | ".join(resources) + " |", "|" + "---:|" * len(resources),
              "| " + " | ".join(_si(nominal["by_resource_w"][r], "W") for r in resources) + " |"]
    lines += ["", "## Dynamic power by module (nominal)", "",
              "| module | simulated | reg toggle rate | logic toggle rate | dynamic |",
              "|---|---|---:|---:|---:|"]
    for name, per in sorted(nominal["by_module_w"].items(), key=lambda kv: -kv[1]["total"]):
        if per["total"] <= 0:
            continue
        row = report["modules"][name]
        lines.append(f"| {name} | {'yes' if row['simulated'] else 'default'} | "
                     f"{row['toggle_rate_registers']:.4f} | {row['toggle_rate_logic']:.4f} | "
                     f"{_si(per['total'], 'W')} |")
    lines += ["", "## Coefficients (pJ per event at 1.1 V)", "",
              "| coefficient | low | nominal | high | status |", "|---|---:|---:|---:|---|"]
    sets = report["coefficients"]["sets_pj"]
    for key in sets["nominal"]:
        status = report["coefficients"]["sources"].get(key, {}).get("status", "?")
        lines.append(f"| {key} | {sets['low'][key]} | {sets['nominal'][key]} | "
                     f"{sets['high'][key]} | {status} |")
    lines += ["", "Zero-delay simulation has no glitches: dynamic power of arithmetic is a "
              "lower bound.  Coefficients marked 'assumption' have no public ECP5 figure; "
              "compare the three sets for the sensitivity."]
    return "\n".join(lines) + "\n"
