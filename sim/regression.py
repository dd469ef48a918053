"""The core regression as one function call: build (cached), simulate, check, summarise.

:func:`run_regression` is what ``spikeforge verify`` and the pytest suite call.  The
workload is drawn from the seed (:mod:`spikeforge.sim.workload`), the cocotb test
(:mod:`spikeforge.sim.test_core`) drives it into the generated Verilog and compares
every beat, the end weights, masks and counters with the golden model
(:mod:`spikeforge.golden.core_model`).
"""

from __future__ import annotations

import resource
import shutil
import time
from pathlib import Path

from ..config import CoreConfig, CoreRegisters
from ..errors import UserError
from .runner import SIMULATORS, build_core, run_cocotb
from .workload import MODES

__all__ = ["run_regression"]


def run_regression(cfg: CoreConfig, *, sim: str = "verilator", mode: str = "learn",
                   seed: int = 0, samples: int = 8, waves: bool = False, saif: bool = False,
                   prune_fraction: float = 0.0, regs: CoreRegisters | None = None,
                   invalid_events: bool = False, input_gap_probability: float = 0.0,
                   fault: dict | None = None, cache_dir: Path | None = None,
                   work_dir: Path | None = None, keep: bool | None = None,
                   skip_decided: bool = False) -> dict:
    """Run the cocotb regression of ``cfg`` and return its summary.

    Args:
        sim: ``"verilator"`` or ``"icarus"``.
        mode: ``"infer"`` or ``"learn"``.
        seed: seed of the workload (weights, mask, registers, samples).
        samples: number of input samples (learning runs carry state across them).
        waves / saif: record a waveform / a SAIF activity file (Verilator) in the run
            directory (``result["trace_file"]``).
        prune_fraction: fraction of synapses pre-pruned in the initial mask.
        regs: registers (None: chosen from the seed so that neurons fire).
        invalid_events: run the invalid-input test (invalid beats in every sample).
        input_gap_probability: random idle cycles inside samples (then only the beats'
            content is checked, not their cycles).
        fault: deliberately corrupt the model's expectation (checker self-test), see
            :meth:`spikeforge.sim.tb.CoreTB.run_workload`.
        cache_dir: where builds are cached (default ``build/sim``).
        work_dir: run directory (default: a fresh one under the cache directory).
        keep: keep the run directory (default: only if it holds a trace or the run failed).
        skip_decided: the input driver drops the rest of a learning sample once the core
            has decided it (``decided``, docs/core.md); the model is told the same.

    Returns:
        ``passed`` (bool), ``samples``, ``mismatches``, ``first_mismatch`` (dict with
        sample, cycle, neuron, input, field, expected, got, message, or None),
        ``cycles_rtl`` / ``cycles_golden`` (sum of the samples' cycle counts from the end
        beats / the model), ``sim_cycles`` (clock cycles simulated, including weight
        load and read-back), ``wall_seconds`` (all of it), ``build_seconds`` (0 when the
        build was cached), ``sim_seconds`` (the simulator run, including its start-up),
        ``cycles_per_minute`` / ``cycles_per_minute_with_build`` (``sim_cycles`` per minute
        of ``sim_seconds`` / of ``wall_seconds``), ``simulator_cpu_seconds`` (CPU time of
        the simulator process, start-up included) and ``cycles_per_cpu_minute`` (per
        minute of it: the figure that does not depend on what else the machine runs),
        ``model_seconds`` (CPU time of the golden model, inside the simulator process),
        ``counters_golden``,
        per-sample cycle lists, ``run_dir`` and ``trace_file`` (or None).
    """
    if sim not in SIMULATORS:
        raise UserError(f"unknown simulator {sim!r}: allowed {', '.join(SIMULATORS)}")
    if mode not in MODES:
        raise UserError(f"unknown mode {mode!r}: allowed {', '.join(MODES)}")
    if not isinstance(samples, int) or samples < 1:
        raise UserError(f"samples = {samples!r}: must be a positive integer")
    if not 0.0 <= prune_fraction < 1.0:
        raise UserError(f"prune_fraction = {prune_fraction}: allowed 0.0 <= f < 1.0")
    if prune_fraction > 0 and not cfg.pruning:
        raise UserError("prune_fraction > 0 needs a config with pruning = true")
    if regs is not None:
        regs.validate(cfg)
    started = time.perf_counter()
    build = build_core(cfg, sim, waves=waves, saif=saif, cache_dir=cache_dir)
    params = {
        "config": cfg.to_dict(), "mode": mode, "seed": int(seed), "samples": int(samples),
        "prune_fraction": float(prune_fraction),
        "regs": dict(regs.__dict__) if regs is not None else None,
        "input_gap_probability": float(input_gap_probability), "fault": fault,
        "skip_decided": bool(skip_decided),
    }
    testcase = "core_invalid_events" if invalid_events else "core_regression"
    sim_started, cpu_started = time.perf_counter(), _children_cpu_seconds()
    result, run_dir = run_cocotb(build, params, testcase=testcase, work_dir=work_dir, seed=seed)
    sim_seconds = time.perf_counter() - sim_started
    simulator_cpu_seconds = _children_cpu_seconds() - cpu_started
    if result is None:
        result = {"passed": False, "mismatches": 1, "samples": samples, "samples_run": 0,
                  "cycles_rtl": 0, "cycles_golden": 0, "sim_cycles": 0,
                  "first_mismatch": {"message": f"the simulation did not finish; see "
                                                f"{run_dir / 'sim.log'}"},
                  "aborted": "simulation died"}
    trace = build.trace_file
    wall_seconds = time.perf_counter() - started
    result.update({
        "sim": sim, "mode": mode, "seed": int(seed), "config": cfg.to_dict(),
        "test": testcase,
        "build_seconds": round(build.build_seconds, 3), "build_reused": build.reused,
        "sim_seconds": round(sim_seconds, 3),
        "wall_seconds": round(wall_seconds, 3),
        # verification speed: simulated clock cycles per minute of wall time, without and
        # with the build (a cached build counts 0 s)
        "cycles_per_minute": round(60 * result["sim_cycles"] / max(sim_seconds, 1e-9)),
        "cycles_per_minute_with_build": round(60 * result["sim_cycles"] / max(wall_seconds, 1e-9)),
        "simulator_cpu_seconds": round(simulator_cpu_seconds, 3),
        "cycles_per_cpu_minute": round(60 * result["sim_cycles"]
                                       / max(simulator_cpu_seconds, 1e-9)),
        "trace_file": str(run_dir / trace) if trace and (run_dir / trace).exists() else None,
    })
    if keep is None:
        keep = bool(result["trace_file"]) or not result["passed"] or work_dir is not None
    result["run_dir"] = str(run_dir) if keep else None
    if not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return result


def _children_cpu_seconds() -> float:
    """User + system CPU time of this process's finished children (the simulator)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
