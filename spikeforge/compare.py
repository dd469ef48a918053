"""The pruned-vs-unpruned report: the same workload on both cores, in RTL simulation.

:func:`run_compare` is what ``spikeforge compare`` and ``spikeforge demo`` call.  It

1. draws the digits workload from the seed (:mod:`spikeforge.workloads`);
2. builds the unpruned core (``pruning=False``) and the pruned core (``pruning=True``)
   for Verilator (with ``--trace-saif`` when power is estimated) and runs, on each, the
   learning phase (N samples with on-chip STDP; the host writes the learning-rate
   schedule and the pruning start into the registers between samples) and then the
   inference phase (M test samples with the learned weights) through
   :mod:`spikeforge.sim.test_workload`, which checks every beat, cycle, end weight,
   mask and counter against the cycle-exact golden model;
3. builds both cores in their board top for the board (:func:`spikeforge.boards.flow.build`)
   for utilization and post-route Fmax, and estimates power from each run's SAIF
   (:func:`spikeforge.boards.power.estimate_power`) after subtracting a *baseline*
   simulation (weights loaded and read back, no samples), so that only the samples'
   activity counts;
4. measures the pruning logic's power overhead: the pruned build runs the unpruned
   core's inference workload with nothing pruned (same weights, all masks set, same
   cycles) against the unpruned build;
5. trains a LinearSVC readout on the core's output spike times (both cores) and
   evaluates it on the test samples;
6. writes ``report.json`` (checked against :data:`REPORT_SCHEMA`), ``report.md`` and PNG
   plots into the output directory.

Without ``build`` (``--no-build``) steps 3-4 are skipped and the report says so.
"""

from __future__ import annotations

import io

import json
import math
import os
import shutil
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .config import CoreConfig
from .errors import UserError
from .fileio import atomic_write_bytes, atomic_write_text
from .workloads import DEFAULT_SCHEDULE, LearningSchedule, make_digits_workload, save_run_file

__all__ = ["run_compare", "REPORT_SCHEMA", "REPORT_SCHEMA_VERSION", "validate_report",
           "TARGETS", "check_output_dir", "check_sample_counts", "MAX_TRAIN"]

REPORT_SCHEMA_VERSION = 1
TEST_MODULE = "spikeforge.sim.test_workload"
REPORT_FILES = ("report.json", "report.md")
MAX_TRAIN = 1347   # training split of the digits (learning and readout training)
MAX_TEST = 450     # test split
DEFAULT_FREQ_MHZ = 100.0

#: issue 4's targets (paper: Nguyen, Veeravalli & Fong, ICONS 2021)
TARGETS = {
    "fmax_mhz": 100.0,
    "pruning_power_overhead_percent_max": 0.56,
    "learning_speedup": 2.1,
    "inference_speedup": 2.83,
    "learning_energy_saving_percent": 64.0,
    "inference_energy_saving_percent": 78.24,
}

# ----------------------------------------------------------------------------- schema

_NUM = {"type": "number"}
_NNUM = {"type": "number", "minimum": 0}
_OPT_NUM = {"type": ["number", "null"]}
_COUNT = {"type": "integer", "minimum": 0}
_PHASE = {
    "type": "object",
    "required": ["samples", "cycles_total", "cycles_per_sample", "sample_cycles",
                 "counters", "verified", "mismatches"],
    "properties": {
        "samples": _COUNT, "cycles_total": _COUNT, "cycles_per_sample": _NNUM,
        "sample_cycles": {"type": "array", "items": _COUNT},
        "counters": {"type": "object", "additionalProperties": _COUNT},
        "verified": {"type": "boolean"}, "mismatches": _COUNT,
    },
}
_CORE = {
    "type": "object",
    "required": ["config", "learning", "inference", "connectivity"],
    "properties": {
        "config": {"type": "object"},
        "learning": _PHASE, "inference": _PHASE,
        "connectivity": {"type": "object", "required": ["alive", "total", "fraction"],
                         "properties": {"alive": _COUNT, "total": _COUNT,
                                        "fraction": _NNUM}},
        "accuracy": _OPT_NUM,
    },
}
_SETS3 = {"type": "object", "required": ["low", "nominal", "high"],
          "additionalProperties": _OPT_NUM}
REPORT_SCHEMA = {
    "type": "object",
    "required": ["schema", "schema_version", "board", "workload", "cores", "speedup",
                 "energy", "power_overhead", "builds", "accuracy", "targets", "missing",
                 "plots", "timing"],
    "properties": {
        "schema": {"enum": ["spikeforge.compare"]},
        "schema_version": {"enum": [REPORT_SCHEMA_VERSION]},
        "board": {"type": "string"},
        "workload": {"type": "object", "required": ["samples_learn", "samples_infer",
                                                    "samples_train", "seed", "schedule"],
                     "properties": {"samples_learn": _COUNT, "samples_infer": _COUNT,
                                    "samples_train": _COUNT, "seed": _COUNT,
                                    "schedule": {"type": "object"}}},
        "cores": {"type": "object", "required": ["unpruned", "pruned"],
                  "properties": {"unpruned": _CORE, "pruned": _CORE}},
        "speedup": {"type": "object", "required": ["learning", "inference"],
                    "properties": {"learning": _NNUM, "inference": _NNUM}},
        "energy": {"type": ["object", "null"],
                   "required": ["frequency_mhz", "per_sample_j", "saving_percent"],
                   "properties": {"frequency_mhz": _NNUM,
                                  "per_sample_j": {"type": "object"},
                                  "saving_percent": {
                                      "type": "object", "required": ["learning", "inference"],
                                      "properties": {"learning": _SETS3,
                                                     "inference": _SETS3}}}},
        "power_overhead": {"type": ["object", "null"],
                           "required": ["percent_of_total", "percent_of_dynamic"],
                           "properties": {"percent_of_total": _SETS3,
                                          "percent_of_dynamic": _SETS3}},
        "builds": {"type": ["object", "null"]},
        "accuracy": {"type": "object", "required": ["unpruned", "pruned"],
                     "properties": {"unpruned": _OPT_NUM, "pruned": _OPT_NUM}},
        "targets": {"type": "array", "items": {
            "type": "object", "required": ["name", "target", "measured", "met"],
            "properties": {"name": {"type": "string"}, "target": _NUM,
                           "measured": _OPT_NUM, "met": {"type": ["boolean", "null"]}}}},
        "missing": {"type": "array", "items": {"type": "string"}},
        "plots": {"type": "array", "items": {"type": "string"}},
        "timing": {"type": "object", "additionalProperties": _NNUM},
    },
}


def _save_figure(fig, path) -> None:
    """Render to memory, then write atomically (no half-written PNG on interruption)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    atomic_write_bytes(path, buffer.getvalue(), force=True)


def validate_report(data) -> list[str]:
    """Problems of a compare report against :data:`REPORT_SCHEMA` (empty: valid)."""
    from .boards.report import validate
    return validate(data, REPORT_SCHEMA)


# ----------------------------------------------------------------------------- input checks

def check_sample_counts(samples_learn, samples_infer, samples_train=None) -> None:
    for name, value, lo, hi in (("--samples-learn", samples_learn, 1, MAX_TRAIN),
                                ("--samples-infer", samples_infer, 1, MAX_TEST)):
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise UserError(f"{name} = {value!r}: must be an integer from {lo} to {hi} (the "
                            f"digits workload has {MAX_TRAIN} training and {MAX_TEST} test "
                            f"images)")
    if samples_train is not None and (not isinstance(samples_train, int)
                                      or not 2 <= samples_train <= MAX_TRAIN):
        raise UserError(f"--samples-train = {samples_train!r}: must be an integer from 2 to "
                        f"{MAX_TRAIN}")


def check_output_dir(out_dir, force: bool) -> Path:
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"output {str(out_dir)!r} exists and is not a directory")
    existing = [str(out_dir / name) for name in REPORT_FILES if (out_dir / name).exists()]
    if existing and not force:
        raise UserError(f"refusing to overwrite {', '.join(existing)}: use --force, or choose "
                        f"another output directory with -o")
    return out_dir


# ----------------------------------------------------------------------------- RTL runs

def run_workload_rtl(build, run_json: Path, work_dir: Path, weights_out: Path | None = None,
                     on_progress=None, skip_decided: bool = False) -> dict:
    """Run :mod:`spikeforge.sim.test_workload` on a compiled core (``sim.runner.build_core``)
    for the run file ``run_json``; returns the test's result (``passed``, per-sample
    cycles and spikes, counters) plus ``trace_file``.  ``skip_decided``: the input driver
    drops the rest of a learning sample once the core has decided it (docs/core.md)."""
    from .sim.runner import TOP, run_cocotb_test

    work_dir = Path(work_dir).resolve()
    if work_dir.exists():
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True)
    params = {"workload": str(Path(run_json).resolve()),
              "weights_path": str(Path(weights_out).resolve()) if weights_out else None,
              "skip_decided": bool(skip_decided)}
    done = threading.Event()

    def poll():   # the test writes "done total" every 10 samples
        while not done.wait(1.0):
            try:
                k, total = map(int, (work_dir / "progress.txt").read_text().split())
            except (OSError, ValueError):
                continue
            on_progress(k, total)

    poller = threading.Thread(target=poll, daemon=True) if on_progress else None
    if poller:
        poller.start()
    try:
        result, _ = run_cocotb_test(sim=build.sim, build_dir=build.build_dir, params=params,
                                    test_module=TEST_MODULE, testcase="workload_run",
                                    toplevel=TOP, params_env="SPIKEFORGE_WORKLOAD_PARAMS",
                                    work_dir=work_dir, waves=build.waves,
                                    trace_file=build.trace_file, log_level="WARNING")
    finally:
        done.set()
    if result is None:
        tail = (work_dir / "sim.log").read_text(errors="replace")[-2000:] \
            if (work_dir / "sim.log").exists() else ""
        raise RuntimeError(f"the RTL simulation of {run_json} did not finish; log "
                           f"{work_dir / 'sim.log'}:\n{tail}")
    trace = build.trace_file
    result["trace_file"] = str(work_dir / trace) if trace and (work_dir / trace).exists() \
        else None
    return result


#: how much lower than the pruned core's FPGA build the other work of a compare run is
#: scheduled (nice increments): the pruned build is the longest job, so it gets a core of
#: its own while the unpruned build and the RTL runs share the other one
NICE_UNPRUNED_BUILD = 2
NICE_RTL_RUNS = 5


def _set_this_thread_nice(value=None, *, increment: int = 0) -> int | None:
    """Set the calling thread's nice value (``value``, or the current one + ``increment``)
    and return the previous one.  Linux only, where nice is a per-thread attribute that
    the thread's child processes inherit; elsewhere, or if the system refuses (raising
    priority back may need privileges), nothing happens and None is returned: it only
    changes which job finishes first."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        tid = threading.get_native_id()
        old = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, old + increment if value is None else value)
        return old
    except (OSError, AttributeError):
        return None


def _subtract_activity(run, baseline):
    """Toggle counts of ``run`` minus those of ``baseline`` (same design, same load and
    read-back): the activity of the samples alone."""
    from .boards.saif import Activity, NetBit, Scope

    def sub(a: Scope, b: Scope | None) -> Scope:
        nets = {}
        for name, bit in a.nets.items():
            other = b.nets.get(name) if b is not None else None
            tc = bit.tc - (other.tc if other is not None else 0)
            nets[name] = NetBit(t0=bit.t0, t1=bit.t1, tx=bit.tx, tc=max(0, tc))
        children = {name: sub(child, b.children.get(name) if b is not None else None)
                    for name, child in a.children.items()}
        return Scope(a.name, nets, children)

    return Activity(root=sub(run.root, baseline.root),
                    duration_s=max(0.0, run.duration_s - baseline.duration_s),
                    source=f"{run.source} minus {baseline.source}", fmt=run.fmt)


# ----------------------------------------------------------------------------- helpers

def _phase_summary(result: dict) -> dict:
    cycles = [int(s["cycles"] if s["cycles"] is not None else 0) for s in result["per_sample"]]
    n = len(cycles)
    counters = result.get("counters_rtl") or result.get("counters_golden") or {}
    return {
        "samples": n, "cycles_total": int(sum(cycles)),
        "cycles_per_sample": (sum(cycles) / n) if n else 0.0,
        "sample_cycles": cycles,
        "counters": {k: int(v) for k, v in counters.items()},
        "verified": bool(result["passed"]), "mismatches": int(result["mismatches"]),
        "first_mismatch": (result.get("first_mismatch") or {}).get("message"),
        "sim_wall_seconds": round(float(result.get("sim_wall_seconds", 0.0)), 2),
    }


def _accuracy(cfg, regs, weights, mask, train, train_labels, test_spikes, test_labels) -> float:
    """LinearSVC on latency features of the output spike times: trained on the readout
    set (outputs of the sample-level model with the RTL's end weights), evaluated on the
    RTL's inference outputs."""
    from .golden.fc_layer import infer_fc_layer_fixed
    from .golden.readout import accuracy, train_readout
    from .workloads import output_latency_features

    if len(set(int(x) for x in train_labels)) < 2:
        return None
    train_out = infer_fc_layer_fixed(cfg, regs, weights, mask, train).spikes
    f_train = output_latency_features(cfg, train_out)
    f_test = output_latency_features(cfg, test_spikes)
    model = train_readout(f_train, train_labels)
    return accuracy(model, f_test, test_labels)


class _Progress:
    """Rich progress on a console (or silent)."""

    def __init__(self, console, total: int):
        self.console = console
        self.progress = None
        self.task = None
        if console is not None:
            from rich.progress import (BarColumn, Progress, SpinnerColumn, TextColumn,
                                       TimeElapsedColumn)
            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                     BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                     TimeElapsedColumn(), console=console, transient=False)
            self.task = self.progress.add_task("compare", total=total)
        self.lock = threading.Lock()

    def __enter__(self):
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress:
            self.progress.stop()

    def step(self, text: str, advance: int = 0):
        with self.lock:
            if self.progress:
                self.progress.update(self.task, description=text, advance=advance)

    def log(self, text: str):
        with self.lock:
            if self.console is not None:
                self.console.print(text)


def _pct_saving(before, after):
    if before is None or after is None or not before:
        return None
    return 100.0 * (1.0 - after / before)


def _ratio(a, b):
    return a / b if b else 0.0


# ----------------------------------------------------------------------------- main

def run_compare(cfg: CoreConfig, board: str, samples_learn: int, samples_infer: int, out_dir,
                *, build: bool = True, force: bool = False, samples_train: int | None = None,
                seed: int = 0, schedule: LearningSchedule = DEFAULT_SCHEDULE,
                freq_mhz: float | None = None, sim: str = "verilator", console=None,
                cache_dir=None, fpga_seed: int = 1, clock_target_mhz: float = 100.0,
                skip_decided: bool = True) -> dict:
    """Run the pruned-vs-unpruned comparison and write the report into ``out_dir``.

    Args:
        cfg: the core configuration (its ``pruning`` is overridden for the two cores).
        board: board name for the builds (``spikeforge.boards.platforms``).
        samples_learn: learning samples N (on-chip STDP, both cores).
        samples_infer: inference samples M (test images, both cores).
        out_dir: report directory; an existing report is only replaced with ``force``.
        build: run the FPGA builds and the power estimate (else cycles, connectivity and
            accuracy only; the report lists what is missing).
        samples_train: readout-training samples (default min(1000, all)).
        seed: seed of the workload (split, initial weights).
        schedule: register choices (threshold, rates, theta_p, pruning start).
        freq_mhz: clock frequency for power and energy (default: 100 MHz, or the lower
            post-route Fmax of the two builds if that is below 100 MHz).
        sim: the simulator (Verilator is needed for SAIF activity).
        console: a ``rich.console.Console`` for progress (None: silent).
        cache_dir: Verilator build cache (default ``build/sim``).
        skip_decided: in the learning runs the input producer drops the rest of a sample
            once the core has decided its winner (docs/core.md); the same producer for
            both cores.  False: every event of every sample is streamed.

    Returns the report dict (also written as ``report.json``).
    """
    from .boards.platforms import get_board

    started = time.perf_counter()
    board_info = get_board(board)
    check_sample_counts(samples_learn, samples_infer, samples_train)
    out_dir = check_output_dir(out_dir, force)
    if samples_train is None:
        samples_train = min(1000, MAX_TRAIN)
    if not isinstance(cfg, CoreConfig):
        raise TypeError("cfg must be a CoreConfig")
    if build and sim != "verilator":
        raise UserError("power estimation needs SAIF activity from Verilator: use "
                        "--sim verilator or --no-build")
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "work"
    work.mkdir(exist_ok=True)
    timing: dict[str, float] = {}
    missing: list[str] = []

    variants = {"unpruned": cfg.replace(pruning=False), "pruned": cfg.replace(pruning=True)}
    n_steps = 5 + (4 if build else 0)
    with _Progress(console, n_steps) as progress:
        # ---------------------------------------------------------------- workload
        progress.step("encoding the digits workload")
        t0 = time.perf_counter()
        workload = make_digits_workload(cfg, n_learn=samples_learn, n_train=samples_train,
                                        n_test=samples_infer, seed=seed, schedule=schedule)
        timing["workload_s"] = time.perf_counter() - t0
        progress.log(f"workload: {samples_learn} learning, {samples_train} readout-training, "
                     f"{samples_infer} test samples; ~"
                     f"{workload.summary()['mean_events_per_sample']:.0f} events/sample; "
                     f"threshold {workload.threshold}, theta_p {workload.theta_p}")

        # ---------------------------------------------------------------- FPGA builds (threads)
        # One thread per build: each runs Yosys and nextpnr as subprocesses (single
        # threaded), so the two builds use both cores once the short RTL runs are done.
        fpga: dict = {}
        fpga_errors: dict = {}
        fpga_threads: list = []
        if build:
            try:
                from .boards.flow import build as flow_build
                from .boards.top import make_top
                from .hw.export import ELABORATION_LOCK
            except ImportError as exc:
                missing.append(f"FPGA builds and power: the build flow or board top is not "
                               f"importable ({exc})")
                build = False
            else:
                sources = _design_digest()          # the same for both builds

                def run_build(name, vcfg):
                    progress.step(f"FPGA build ({name} core, {board_info.name})")
                    if name != "pruned":
                        _set_this_thread_nice(increment=NICE_UNPRUNED_BUILD)
                    t = time.perf_counter()
                    try:
                        bdir = out_dir / f"build-{name}"
                        key = {"config": vcfg.to_dict(), "board": board_info.name,
                               "seed": fpga_seed, "clock_mhz": clock_target_mhz,
                               "sources": sources}
                        data = _reusable_build(bdir, key)
                        if data is None:
                            with ELABORATION_LOCK:
                                top = make_top(vcfg, board_info.name)
                            result = flow_build(top, board_info.name, bdir,
                                                bitstream=False, seed=fpga_seed,
                                                clock_mhz=clock_target_mhz, console=None)
                            data = result.to_dict()
                            data["config"] = vcfg.to_dict()
                            data["compare_key"] = key
                            (bdir / "build.json").write_text(json.dumps(data, indent=2))
                        else:
                            progress.log(f"FPGA build {name}: reusing {bdir / 'build.json'} "
                                         f"(same config, board and sources)")
                        fpga[name] = data
                        f = _fmax(data)
                        progress.log(f"[green]\u2713[/green] FPGA build {name}: "
                                     f"{time.perf_counter() - t:.0f} s, Fmax "
                                     f"{f:.1f} MHz" if f else f"FPGA build {name} done")
                    except Exception as exc:  # reported, not fatal for the sim part
                        fpga_errors[name] = f"{type(exc).__name__}: {exc}"
                        progress.log(f"[red]FPGA build {name} failed[/red]: {exc}")
                    timing[f"fpga_build_{name}_s"] = time.perf_counter() - t
                    progress.step(f"FPGA build {name} done", advance=1)

                # the pruned build first: it is the longest job, so it should be the
                # first to get the tools' one-time compile and the elaboration lock
                for name in sorted(variants, key=lambda n: n != "pruned"):
                    vcfg = variants[name]
                    thread = threading.Thread(target=run_build, args=(name, vcfg), daemon=True)
                    thread.start()
                    fpga_threads.append(thread)

        # ---------------------------------------------------------------- RTL runs
        from .sim.runner import build_core
        # the main thread's jobs (Verilator builds and runs) yield to the FPGA builds
        main_nice = _set_this_thread_nice(increment=NICE_RTL_RUNS) if fpga_threads else None
        cores: dict = {}
        runs: dict = {}
        sim_builds: dict = {}
        n = cfg.n_inputs * cfg.n_neurons
        for name, vcfg in variants.items():
            pruning = vcfg.pruning
            progress.step(f"Verilator build ({name} core)")
            t = time.perf_counter()
            sim_builds[name] = sb = build_core(vcfg, sim, saif=build, cache_dir=cache_dir)
            timing[f"sim_build_{name}_s"] = time.perf_counter() - t
            regs_learn = workload.learn_register_table(samples_learn, pruning)
            learn_json = save_run_file(work / f"{name}-learn", vcfg, weights=workload.weights,
                                       mask=np.ones_like(workload.weights, dtype=bool),
                                       samples=workload.learn, registers=regs_learn,
                                       phase="learn")
            progress.step(f"RTL learning, {name} core ({samples_learn} samples)")
            t = time.perf_counter()
            learned = work / f"{name}-learned.npz"
            learn_res = run_workload_rtl(
                sb, learn_json, work / f"{name}-learn-run", learned, skip_decided=skip_decided,
                on_progress=lambda k, tot, name=name: progress.step(
                    f"RTL learning, {name} core: sample {k}/{tot}"))
            timing[f"rtl_learn_{name}_s"] = time.perf_counter() - t
            progress.step(f"RTL learning {name} done", advance=1)
            if not learn_res["passed"] or not learned.exists():
                raise RuntimeError(f"the {name} core's learning run does not match the golden "
                                   f"model: {(learn_res.get('first_mismatch') or {}).get('message')}"
                                   f" (run directory {work / f'{name}-learn-run'})")
            arrays = np.load(learned)
            w_end, m_end = arrays["weights"], arrays["mask"]
            infer_regs = workload.infer_registers(pruning)
            infer_json = save_run_file(work / f"{name}-infer", vcfg, weights=w_end, mask=m_end,
                                       samples=workload.test,
                                       registers=[dict(infer_regs.__dict__)] * samples_infer,
                                       phase="infer")
            progress.step(f"RTL inference, {name} core ({samples_infer} samples)")
            t = time.perf_counter()
            infer_res = run_workload_rtl(
                sb, infer_json, work / f"{name}-infer-run",
                on_progress=lambda k, tot, name=name: progress.step(
                    f"RTL inference, {name} core: sample {k}/{tot}"))
            timing[f"rtl_infer_{name}_s"] = time.perf_counter() - t
            progress.step(f"RTL inference {name} done", advance=1)
            if not infer_res["passed"]:
                raise RuntimeError(f"the {name} core's inference run does not match the golden "
                                   f"model: {(infer_res.get('first_mismatch') or {}).get('message')}")
            alive = int(m_end.sum()) if pruning else n
            acc = _accuracy(vcfg, infer_regs, w_end, m_end, workload.train, workload.train_labels,
                            [s["spikes"] for s in infer_res["per_sample"]], workload.test_labels)
            cores[name] = {
                "config": vcfg.to_dict(),
                "learning": _phase_summary(learn_res),
                "inference": _phase_summary(infer_res),
                "connectivity": {"alive": alive, "total": n, "fraction": alive / n},
                "accuracy": acc,
                "end_weight_mean": float(w_end[m_end].mean()) if m_end.any() else 0.0,
            }
            runs[name] = {"learn": learn_res, "infer": infer_res, "weights": w_end,
                          "mask": m_end, "learn_json": learn_json, "infer_json": infer_json}
            progress.log(f"[green]\u2713[/green] {name} core: learning "
                         f"{cores[name]['learning']['cycles_per_sample']:.1f} cycles/sample, "
                         f"inference {cores[name]['inference']['cycles_per_sample']:.1f} "
                         f"cycles/sample, connectivity {100 * alive / n:.1f} %, accuracy "
                         + (f"{100 * acc:.1f} %" if acc is not None else "n/a")
                         + " (RTL = golden model)")

        # ---------------------------------------------------------------- activity runs
        activity = {}
        if build:
            from .boards.saif import read_activity
            # baselines: same load and read-back, no samples
            base_specs = {
                ("unpruned", "learn"): ("unpruned", workload.weights,
                                        np.ones_like(workload.weights, dtype=bool)),
                ("unpruned", "infer"): ("unpruned", runs["unpruned"]["weights"],
                                        runs["unpruned"]["mask"]),
                ("pruned", "learn"): ("pruned", workload.weights,
                                      np.ones_like(workload.weights, dtype=bool)),
                ("pruned", "infer"): ("pruned", runs["pruned"]["weights"], runs["pruned"]["mask"]),
                ("pruned", "overhead"): ("pruned", runs["unpruned"]["weights"],
                                         np.ones_like(workload.weights, dtype=bool)),
            }
            progress.step("RTL overhead run: pruned core, unpruned weights, nothing pruned")
            t = time.perf_counter()
            over_regs = workload.infer_registers(True)
            over_json = save_run_file(work / "overhead-infer", variants["pruned"],
                                      weights=runs["unpruned"]["weights"],
                                      mask=np.ones_like(workload.weights, dtype=bool),
                                      samples=workload.test,
                                      registers=[dict(over_regs.__dict__)] * samples_infer,
                                      phase="infer")
            over_res = run_workload_rtl(sim_builds["pruned"], over_json, work / "overhead-run")
            if not over_res["passed"]:
                raise RuntimeError("the overhead run does not match the golden model")
            runs["overhead"] = {"infer": over_res}
            timing["rtl_overhead_s"] = time.perf_counter() - t
            progress.step("overhead run done", advance=1)
            progress.step("RTL baselines (load and read back only)")
            t = time.perf_counter()
            for (name, phase), (bname, w, m) in base_specs.items():
                bjson = save_run_file(work / f"baseline-{name}-{phase}", variants[bname],
                                      weights=w, mask=m, samples=[], registers=[],
                                      phase=phase if phase != "overhead" else "infer")
                bres = run_workload_rtl(sim_builds[bname], bjson,
                                        work / f"baseline-{name}-{phase}-run")
                run_res = runs["overhead"]["infer"] if phase == "overhead" else runs[name][phase]
                if not (bres["trace_file"] and run_res["trace_file"]):
                    missing.append(f"SAIF of the {name} {phase} run")
                    continue
                activity[(name, phase)] = _subtract_activity(read_activity(run_res["trace_file"]),
                                                             read_activity(bres["trace_file"]))
            timing["rtl_baselines_s"] = time.perf_counter() - t
            progress.step("baselines done", advance=1)

        # ---------------------------------------------------------------- power
        builds_out = None
        energy = None
        overhead = None
        power_reports = {}
        if fpga_threads:
            progress.step("waiting for the FPGA builds")
            for thread in fpga_threads:
                thread.join()
            if main_nice is not None:
                _set_this_thread_nice(main_nice)
            # in the variants' order, not the order in which the threads finished
            for name in [n for n in variants if n in fpga_errors]:
                missing.append(f"FPGA build of the {name} core failed: "
                               f"{fpga_errors[name].splitlines()[0]}")
            fpga = {name: fpga[name] for name in variants if name in fpga}
            builds_out = {name: _build_summary(data) for name, data in fpga.items()}
            if len(fpga) == 2 and activity:
                fmaxes = [_fmax(d) for d in fpga.values()]
                if freq_mhz is None:
                    freq_mhz = min([DEFAULT_FREQ_MHZ] + [f for f in fmaxes if f])
                progress.step("power estimate")
                try:
                    energy, overhead, power_reports = _power(fpga, runs, activity, sim_builds,
                                                             freq_mhz, cores)
                except (UserError, ValueError, KeyError, OSError) as exc:
                    missing.append(f"power estimate failed: {type(exc).__name__}: {exc}")
                    progress.log(f"[red]power estimate failed[/red]: {exc}")
                for key, rep in power_reports.items():
                    (work / f"power-{key}.json").write_text(json.dumps(rep, indent=1))
            elif len(fpga) == 2:
                missing.append("power: no activity (SAIF) from the RTL runs")
        elif not build:
            missing.append("FPGA builds, utilization, Fmax, power, energy and the pruning "
                           "logic's power overhead: not run (--no-build)")

        # ---------------------------------------------------------------- report
        speedup = {
            "learning": _ratio(cores["unpruned"]["learning"]["cycles_total"],
                               cores["pruned"]["learning"]["cycles_total"]),
            "inference": _ratio(cores["unpruned"]["inference"]["cycles_total"],
                                cores["pruned"]["inference"]["cycles_total"]),
        }
        report = {
            "schema": "spikeforge.compare", "schema_version": REPORT_SCHEMA_VERSION,
            "board": board_info.name,
            "simulator": sim,
            "workload": dict(workload.summary(), samples_learn=samples_learn,
                             samples_infer=samples_infer, samples_train=samples_train,
                             seed=seed, schedule=asdict(schedule),
                             skip_decided=bool(skip_decided),
                             registers_learn_first={"unpruned": workload.learn_register_table(1, False)[0],
                                                    "pruned": workload.learn_register_table(1, True)[0]},
                             registers_infer=dict(workload.infer_registers(True).__dict__)),
            "cores": cores,
            "speedup": speedup,
            "energy": energy,
            "power_overhead": overhead,
            "builds": builds_out,
            "accuracy": {"unpruned": cores["unpruned"]["accuracy"],
                         "pruned": cores["pruned"]["accuracy"],
                         "method": "LinearSVC (C=2.4) on latency features (T-t)/T of the "
                                   "core's output spike times; trained on the readout set "
                                   "(sample-level model with the RTL's end weights), "
                                   "evaluated on the RTL inference outputs of the test samples"},
            "targets": [],
            "missing": missing,
            "plots": [],
            "timing": {},
        }
        report["targets"] = _targets(report)
        progress.step("plots")
        try:
            report["plots"] = _plots(report, power_reports, out_dir, missing)
        except (ValueError, KeyError, OSError) as exc:
            missing.append(f"plots failed: {type(exc).__name__}: {exc}")
        timing["total_s"] = time.perf_counter() - started
        report["timing"] = {k: round(v, 2) for k, v in timing.items()}
        problems = validate_report(report)
        if problems:
            raise RuntimeError("internal error: the compare report does not match its schema: "
                               + "; ".join(problems[:5]))
        atomic_write_text(out_dir / "report.json", json.dumps(report, indent=2) + "\n",
                          force=True)
        atomic_write_text(out_dir / "report.md", report_markdown(report), force=True)
        progress.step("report written", advance=1)
    return report


def _design_digest() -> str:
    """Digest of the sources a board build depends on (hw/, boards/top.py, config)."""
    import hashlib

    import amaranth

    from . import config as config_module
    from . import hw as hw_package
    digest = hashlib.sha256(amaranth.__version__.encode())
    files = sorted(Path(hw_package.__file__).parent.glob("*.py"))
    files += [Path(config_module.__file__), Path(__file__).parent / "boards" / "top.py",
              Path(__file__).parent / "boards" / "flow.py"]
    for path in files:
        if path.exists():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _reusable_build(bdir: Path, key: dict) -> dict | None:
    """A finished build in ``bdir`` made from the same key (config, board, seed, clock
    target, sources), or None."""
    path = bdir / "build.json"
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if data.get("compare_key") == key else None


def _fmax(build_data: dict) -> float | None:
    values = [f["achieved_mhz"] for f in build_data.get("fmax", {}).values()]
    return min(values) if values else None


def _build_summary(data: dict) -> dict:
    util = data["utilization"]
    core_modules = {k: v["total"] for k, v in util["modules"].items()
                    if k.split(".")[-1] in ("core",) or k.endswith(".core")}
    return {"fmax_mhz": _fmax(data), "fmax": data["fmax"], "design_total": util["design_total"],
            "core_total": next(iter(core_modules.values()), None),
            "device": util["device"], "tools": data.get("tools", {}),
            "steps": data.get("steps", [])}


def _power(fpga, runs, activity, sim_builds, freq_mhz, cores):
    """Power and energy per sample of every run; savings; the pruning logic's overhead."""
    from .boards.power import estimate_power, load_coefficients, registers_from_verilog

    coeffs = load_coefficients()
    reports = {}
    for (name, phase), act in activity.items():
        bname = "pruned" if phase == "overhead" else name
        sb = sim_builds[bname]
        verilog = next(Path(sb.build_dir).glob("*.v"), None)
        regs = registers_from_verilog(verilog.read_text()) if verilog else None
        if phase == "overhead":
            summary = _phase_summary(runs["overhead"]["infer"])
        else:
            summary = cores[name]["learning" if phase == "learn" else "inference"]
        counters = summary["counters"]
        ebr = int(counters.get("syn_ops", 0) + 2 * counters.get("stdp_updates", 0))
        has_ebr = fpga[bname]["utilization"]["design_total"].get("EBR", 0) > 0
        cores_in_build = sorted((m for m in fpga[bname]["utilization"]["modules"]
                                 if m.split(".")[-1] == "core"), key=len)
        rep = estimate_power(fpga[bname], act, freq_hz=freq_mhz * 1e6, coefficients=coeffs,
                             cycles_per_sample=max(1e-9, summary["cycles_per_sample"]),
                             accesses={"EBR": ebr} if has_ebr and ebr else None,
                             verilog_registers=regs,
                             build_module=cores_in_build[0] if cores_in_build else None)
        reports[f"{name}-{phase}"] = rep
    per_sample = {}
    for key, rep in reports.items():
        per_sample[key] = {s: rep["sets"][s].get("energy_per_sample_j")
                           for s in ("low", "nominal", "high")}
    saving = {}
    for phase in ("learn", "infer"):
        label = "learning" if phase == "learn" else "inference"
        saving[label] = {s: _pct_saving(per_sample.get(f"unpruned-{phase}", {}).get(s),
                                        per_sample.get(f"pruned-{phase}", {}).get(s))
                         for s in ("low", "nominal", "high")}
    energy = {"frequency_mhz": freq_mhz, "per_sample_j": per_sample, "saving_percent": saving,
              "power_w": {key: {s: {"total": rep["sets"][s]["total_w"],
                                    "dynamic": rep["sets"][s]["dynamic_w"],
                                    "static": rep["sets"][s]["static_w"]}
                                for s in ("low", "nominal", "high")}
                          for key, rep in reports.items()},
              "confidence": {key: rep["confidence"]["simulated_share"]
                             for key, rep in reports.items()}}
    overhead = None
    if "pruned-overhead" in reports and "unpruned-infer" in reports:
        over, base = reports["pruned-overhead"], reports["unpruned-infer"]
        pt, pd, delta_w = {}, {}, {}
        for s in ("low", "nominal", "high"):
            delta = delta_w[s] = over["sets"][s]["total_w"] - base["sets"][s]["total_w"]
            pt[s] = 100.0 * delta / over["sets"][s]["total_w"]
            pd[s] = 100.0 * delta / over["sets"][s]["dynamic_w"] if over["sets"][s]["dynamic_w"] \
                else None
        overhead = {"percent_of_total": pt, "percent_of_dynamic": pd,
                    "delta_w": delta_w,
                    "breakdown_w": overhead_breakdown(over, base),
                    "method": "pruned build (pruning=True, prune_enable=1) running the unpruned "
                              "core's inference workload with every mask bit set (same weights, "
                              "same cycles) against the unpruned build (pruning=False); "
                              "whole-design power, both at the same clock"}
    return energy, overhead, reports


def overhead_breakdown(over: dict, base: dict) -> dict:
    """Where the pruning logic's extra power comes from: per coefficient set, every
    (module, resource) whose power differs between the pruned build's overhead run
    (``over``) and the unpruned build's inference run (``base``), as
    ``{"module", "resource", "delta_w"}``, largest difference first.  Modules hold their
    own cells only (children are modules of their own), so the rows of a set add up to
    the difference of the two totals.  ``simulated`` says whether the pruned build's
    module had simulated activity (else it toggles at the estimator's default rate)."""
    modules = over.get("modules", {})
    breakdown = {}
    for s in ("low", "nominal", "high"):
        ours, theirs = over["sets"][s]["by_module_w"], base["sets"][s]["by_module_w"]
        rows = []
        for module in sorted(set(ours) | set(theirs)):
            mine, other = ours.get(module, {}), theirs.get(module, {})
            for resource in sorted((set(mine) | set(other)) - {"total"}):
                delta = mine.get(resource, 0.0) - other.get(resource, 0.0)
                if delta:
                    rows.append({"module": module, "resource": resource, "delta_w": delta,
                                 "simulated": bool(modules.get(module, {}).get("simulated"))})
        rows.sort(key=lambda row: -abs(row["delta_w"]))
        breakdown[s] = rows
    return breakdown


def _targets(report: dict) -> list[dict]:
    rows = []

    def add(name, target, measured, higher_is_better=True):
        met = None if measured is None else (measured >= target if higher_is_better
                                             else measured <= target)
        rows.append({"name": name, "target": target, "measured": measured, "met": met})

    builds = report.get("builds") or {}
    fm = builds.get("pruned", {}).get("fmax_mhz") if builds else None
    add("Fmax of the default (pruned) core, MHz", TARGETS["fmax_mhz"], fm)
    over = report.get("power_overhead")
    worst = max(over["percent_of_total"].values()) if over else None
    add("pruning-logic power overhead, % of total (worst set)",
        TARGETS["pruning_power_overhead_percent_max"], worst, higher_is_better=False)
    add("learning speed-up, x", TARGETS["learning_speedup"], report["speedup"]["learning"])
    add("inference speed-up, x", TARGETS["inference_speedup"], report["speedup"]["inference"])
    energy = report.get("energy")
    for label, key in (("learning", "learning_energy_saving_percent"),
                       ("inference", "inference_energy_saving_percent")):
        value = energy["saving_percent"][label]["nominal"] if energy else None
        add(f"{label} energy saving, % (nominal set)", TARGETS[key], value)
    return rows


# ----------------------------------------------------------------------------- plots

def _plots(report, power_reports, out_dir: Path, missing: list) -> list[str]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        missing.append(f"plots: matplotlib is not installed ({exc})")
        return []
    written = []
    cores = report["cores"]
    # cycles per sample
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, style in (("unpruned", "-"), ("pruned", "-")):
        axes[0].plot(cores[name]["learning"]["sample_cycles"], style, label=name, lw=0.8)
    axes[0].set_title("learning: cycles per sample (RTL)")
    axes[0].set_xlabel("learning sample")
    axes[0].set_ylabel("cycles")
    axes[0].legend()
    labels = ["learning", "inference"]
    x = np.arange(2)
    for k, name in enumerate(("unpruned", "pruned")):
        values = [cores[name]["learning"]["cycles_per_sample"],
                  cores[name]["inference"]["cycles_per_sample"]]
        axes[1].bar(x + (k - 0.5) * 0.38, values, 0.38, label=name)
    axes[1].set_xticks(x, labels)
    axes[1].set_title("mean cycles per sample (RTL)")
    axes[1].legend()
    fig.tight_layout()
    _save_figure(fig, out_dir / "cycles_per_sample.png")
    plt.close(fig)
    written.append("cycles_per_sample.png")

    if power_reports:
        fig, ax = plt.subplots(figsize=(10, 5))
        keys = [k for k in ("unpruned-learn", "pruned-learn", "unpruned-infer", "pruned-infer")
                if k in power_reports]
        f_hz = report["energy"]["frequency_mhz"] * 1e6
        groups = {}
        for key in keys:
            rep = power_reports[key]
            cps = rep["cycles_per_sample"]
            nominal = rep["sets"]["nominal"]
            parts = {"static": nominal["static_w"] * cps / f_hz}
            for module, per in nominal["by_module_w"].items():
                short = _short_module(module)
                parts[short] = parts.get(short, 0.0) + per["total"] * cps / f_hz
            groups[key] = parts
        names = ["static"] + sorted({m for p in groups.values() for m in p if m != "static"},
                                    key=lambda m: -max(g.get(m, 0) for g in groups.values()))
        top_names = names[:9]
        bottom = np.zeros(len(keys))
        for m in top_names + ["other"]:
            if m == "other":
                vals = np.array([sum(v for k2, v in groups[k].items() if k2 not in top_names)
                                 for k in keys])
            else:
                vals = np.array([groups[k].get(m, 0.0) for k in keys])
            ax.bar(keys, vals * 1e6, bottom=bottom * 1e6, label=m)
            bottom += vals
        ax.set_ylabel("energy per sample (uJ, nominal coefficients)")
        ax.set_title(f"energy per sample by module at {report['energy']['frequency_mhz']:.0f} MHz")
        ax.legend(fontsize=7, loc="upper right")
        fig.tight_layout()
        _save_figure(fig, out_dir / "energy_breakdown.png")
        plt.close(fig)
        written.append("energy_breakdown.png")

    builds = report.get("builds") or {}
    if builds:
        fig, ax = plt.subplots(figsize=(8, 4))
        cats = ["LUT4", "CCU2C", "FF", "DPRAM", "EBR", "MUX"]
        x = np.arange(len(cats))
        for k, name in enumerate(("unpruned", "pruned")):
            if name in builds:
                total = builds[name]["design_total"]
                ax.bar(x + (k - 0.5) * 0.38, [total.get(c, 0) for c in cats], 0.38, label=name)
        ax.set_xticks(x, cats)
        ax.set_yscale("log")
        ax.set_title(f"utilization (whole board design, {report['board']})")
        ax.legend()
        fig.tight_layout()
        _save_figure(fig, out_dir / "utilization.png")
        plt.close(fig)
        written.append("utilization.png")
    return written


def _short_module(name: str) -> str:
    parts = name.split(".")
    # top.system.core.lane_3 -> core.lane (lanes summed), top.system.host -> host
    if "core" in parts:
        i = parts.index("core")
        rest = parts[i + 1:i + 2]
        label = "core" + ("." + rest[0].rstrip("0123456789").rstrip("_") if rest else "")
        return label
    return ".".join(parts[1:3]) if len(parts) > 1 else name


# ----------------------------------------------------------------------------- Markdown

def _fmt(value, spec=".2f", suffix=""):
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def overhead_markdown(over: dict) -> list[str]:
    """The report's "Pruning logic power overhead" section (Markdown lines): the
    percentages in every coefficient set, the method and, where the report has it, the
    largest contributions to the difference (high set)."""
    lines = ["", "## Pruning logic power overhead", "", "| | low | nominal | high |",
             "|---|---:|---:|---:|"]
    lines.append("| % of total | " + " | ".join(_fmt(over["percent_of_total"][s], '.3f')
                                              for s in ("low", "nominal", "high")) + " |")
    lines.append("| % of dynamic | " + " | ".join(_fmt(over["percent_of_dynamic"][s], '.2f')
                                                for s in ("low", "nominal", "high")) + " |")
    lines += ["", f"Method: {over['method']}."]
    rows = (over.get("breakdown_w") or {}).get("high")
    if rows:
        delta = over["delta_w"]["high"]
        lines += ["", f"Where the pruned build's extra {1e3 * delta:.3f} mW (high set) come "
                  "from, by module and resource (own cells of each module; activity simulated "
                  "or the estimator's default toggle rate):", "",
                  "| module | resource | mW | share | activity |", "|---|---|---:|---:|---|"]

        def share(value):
            return f"{100 * value / delta:.1f} %" if delta else "-"
        for row in rows[:10]:
            activity = "simulated" if row.get("simulated") else "default"
            lines.append(f"| {row['module']} | {row['resource']} | "
                         f"{1e3 * row['delta_w']:.3f} | {share(row['delta_w'])} | {activity} |")
        if len(rows) > 10:
            rest = sum(row["delta_w"] for row in rows[10:])
            lines.append(f"| {len(rows) - 10} more | | {1e3 * rest:.3f} | {share(rest)} | |")
    return lines


def report_markdown(report: dict) -> str:
    c = report["cores"]
    w = report["workload"]
    lines = [f"# spikeforge compare: pruned vs unpruned core ({report['board']})", ""]
    lines.append(f"Workload: digits, {w['samples_learn']} learning samples (on-chip STDP), "
                 f"{w['samples_infer']} inference (test) samples, {w['samples_train']} "
                 f"readout-training samples; seed {w['seed']}; {w['encoding']}; "
                 f"~{w['mean_events_per_sample']:.0f} input events per sample.  Registers: "
                 f"threshold {w['threshold']} (inference {w['infer_threshold']}), theta_p "
                 f"{w['theta_p']}, a+ {w['schedule']['a_plus']}, a- {w['schedule']['a_minus']}, "
                 f"pruning from learning sample {w['schedule']['prune_start']}.  "
                 + ("In learning, the input producer drops the rest of a sample once the core "
                    "has decided its winner (`decided`, docs/core.md), for both cores."
                    if w.get("skip_decided") else
                    "Every input event of every sample is streamed (no skipping)."))
    lines.append("")
    lines.append("Every cycle count below is from the RTL (Verilator) end beats and was "
                 "checked, beat by beat and cycle by cycle, against the cycle-exact golden "
                 "model, as were the end weights, masks and counters.")
    lines += ["", "## Targets", "", "| target | goal | measured | met |", "|---|---:|---:|---|"]
    for t in report["targets"]:
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['name']} | {t['target']} | {_fmt(t['measured'])} | {met} |")
    lines += ["", "## Cycles (RTL)", "",
              "| | unpruned | pruned | speed-up |", "|---|---:|---:|---:|"]
    for phase, key in (("learning", "learning"), ("inference", "inference")):
        lines.append(f"| {phase}: cycles per sample | {c['unpruned'][key]['cycles_per_sample']:.1f}"
                     f" | {c['pruned'][key]['cycles_per_sample']:.1f} | "
                     f"{report['speedup'][key]:.2f}x |")
    for phase in ("learning", "inference"):
        cu, cp = c["unpruned"][phase]["counters"], c["pruned"][phase]["counters"]
        lines.append(f"| {phase}: synaptic ops | {cu.get('syn_ops', 0)} | {cp.get('syn_ops', 0)} | |")
    lines.append(f"| learning: STDP updates | {c['unpruned']['learning']['counters'].get('stdp_updates', 0)}"
                 f" | {c['pruned']['learning']['counters'].get('stdp_updates', 0)} | |")
    lines.append(f"| synapses pruned | 0 | {c['pruned']['learning']['counters'].get('pruned', 0)} | |")
    lines += ["", "## Connectivity and accuracy", "", "| | unpruned | pruned |", "|---|---:|---:|"]
    lines.append(f"| alive synapses | {c['unpruned']['connectivity']['alive']} | "
                 f"{c['pruned']['connectivity']['alive']} |")
    lines.append(f"| connectivity | {100 * c['unpruned']['connectivity']['fraction']:.2f} % | "
                 f"{100 * c['pruned']['connectivity']['fraction']:.2f} % |")
    acc = report["accuracy"]
    lines.append(f"| test accuracy | {_fmt(acc['unpruned'] and 100 * acc['unpruned'], '.1f', ' %')} | "
                 f"{_fmt(acc['pruned'] and 100 * acc['pruned'], '.1f', ' %')} |")
    lines += ["", f"Accuracy: {acc['method']}."]
    energy = report.get("energy")
    if energy:
        lines += ["", f"## Energy per sample at {energy['frequency_mhz']:.1f} MHz", "",
                  "| run | low | nominal | high |", "|---|---:|---:|---:|"]
        for key, sets in energy["per_sample_j"].items():
            lines.append(f"| {key} | " + " | ".join(
                _fmt(sets[s] and sets[s] * 1e6, '.3f', ' uJ') for s in ("low", "nominal", "high"))
                + " |")
        for label in ("learning", "inference"):
            sv = energy["saving_percent"][label]
            lines.append(f"| **{label} saving** | " + " | ".join(
                _fmt(sv[s], '.1f', ' %') for s in ("low", "nominal", "high")) + " |")
        lines += ["", "| run | set | total W | dynamic W | static W |", "|---|---|---:|---:|---:|"]
        for key, sets in energy["power_w"].items():
            for s, p in sets.items():
                lines.append(f"| {key} | {s} | {p['total']:.4f} | {p['dynamic']:.5f} | "
                             f"{p['static']:.4f} |")
        lines += ["", "Energy per sample = estimated total power (static + dynamic from the "
                  "run's SAIF, load/read-back baseline subtracted) x cycles per sample / f."]
    over = report.get("power_overhead")
    if over:
        lines += overhead_markdown(over)
    builds = report.get("builds")
    if builds:
        lines += ["", "## Builds", "", "| core | Fmax MHz | LUT4 | CCU2C | FF | DPRAM | EBR |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for name, b in builds.items():
            t = b["design_total"]
            lines.append(f"| {name} (whole design) | {_fmt(b['fmax_mhz'], '.1f')} | {t.get('LUT4')} | "
                         f"{t.get('CCU2C')} | {t.get('FF')} | {t.get('DPRAM')} | {t.get('EBR')} |")
            if b.get("core_total"):
                t = b["core_total"]
                lines.append(f"| {name} (core only) | | {t.get('LUT4')} | {t.get('CCU2C')} | "
                             f"{t.get('FF')} | {t.get('DPRAM')} | {t.get('EBR')} |")
    if report["missing"]:
        lines += ["", "## Missing", ""] + [f"- {m}" for m in report["missing"]]
    if report["plots"]:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in report["plots"]]
    lines += ["", f"Run time: {report['timing'].get('total_s', 0):.0f} s."]
    return "\n".join(lines) + "\n"
