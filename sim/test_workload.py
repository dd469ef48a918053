"""cocotb test: run a workload file (learning or inference phase) through the core.

Used by :mod:`spikeforge.compare` (``spikeforge compare`` / ``demo``).  The host writes a
run file with :func:`spikeforge.workloads.save_run_file` and names it, with the result
path, in a JSON file given by ``SPIKEFORGE_WORKLOAD_PARAMS``:
``{"workload": run.json, "result_path": result.json, "weights_path": end.npz,
"skip_decided": bool}`` (the last: the driver skips the rest of a decided learning sample,
docs/core.md).

The test loads the weights and masks through ``access_cmd``, then for every sample
writes that sample's registers (the host's learning-rate schedule and pruning start are
register writes between samples), drives the events and records the output beats, the
end beat's cycle count and the winner.  Every beat is checked in content and cycle
against the cycle-exact golden model (:class:`spikeforge.golden.core_model.CoreModel`);
at the end the weights and masks are read back and compared bit-exactly, and so are the
statistics counters.  The numbers the compare report uses are therefore RTL numbers
that the model confirmed.

With zero samples the run is a *baseline*: load and read back only.  The compare flow
subtracts a baseline's toggle counts from the workload run's SAIF so that the power
estimate sees only the samples' activity.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from spikeforge.config import CoreRegisters
from spikeforge.golden.core_model import CoreModel
from spikeforge.sim.tb import CoreTB, Mismatch, Scoreboard
from spikeforge.workloads import load_workload

PARAMS_ENV = "SPIKEFORGE_WORKLOAD_PARAMS"


def _params() -> dict:
    path = os.environ.get(PARAMS_ENV)
    if not path:
        raise RuntimeError(f"{PARAMS_ENV} is not set: run this test through "
                           f"spikeforge.compare.run_workload_rtl")
    with open(path) as f:
        return json.load(f)


@cocotb.test()
async def workload_run(dut):
    """Run the workload file's samples, checked against the golden model."""
    params = _params()
    started, cpu_started = time.perf_counter(), time.process_time()
    model_seconds = 0.0     # CPU time of the golden model (docs/verification.md)
    run = load_workload(params["workload"])
    cfg = run["cfg"]
    registers = [CoreRegisters(**r) for r in run["registers"]]
    samples = run["samples"]
    if len(registers) != len(samples):
        raise ValueError(f"{len(samples)} samples but {len(registers)} register sets")
    idle_regs = registers[0] if registers else CoreRegisters(learn=run["phase"] == "learn",
                                                             prune_enable=cfg.pruning)
    # back-to-back samples (no random gaps): the cycle counts are the contract's
    skip = bool(params.get("skip_decided", False))
    tb = CoreTB(dut, cfg, seed=0, sample_gap_max=0, skip_decided=skip)
    await tb.start(idle_regs)
    model = CoreModel(cfg, run["weights"], run["mask"])
    board = Scoreboard(tb.log)
    unexpected = await tb.load_weights(model.weights, model.mask)
    if unexpected:
        board._fail(Mismatch(None, None, None, "access_rsp beats during weight load", 0,
                             unexpected))
    load_cycle = tb.cycles.now()
    per_sample = []
    aborted = None
    progress_path = os.path.join(os.path.dirname(params["result_path"]), "progress.txt")
    for k, (events, regs) in enumerate(zip(samples, registers)):
        if k % 10 == 0:       # for the host's progress bar (cheap: every 10th sample)
            with open(progress_path, "w") as f:
                f.write(f"{k} {len(samples)}\n")
        tb.set_registers(regs)            # the host's register writes between samples
        await RisingEdge(dut.clk)
        model_started = time.process_time()
        expected = model.run_sample(events, regs, skip_decided=skip)
        model_seconds += time.process_time() - model_started
        observed, aborted = await tb.run_checked_sample(board, k, events, expected)
        if aborted:
            break
        ends = [b for b in observed.beats if b[2]]
        spikes = [[int(b[0]), int(b[1])] for b in observed.beats if not b[2]]
        per_sample.append({
            "cycles": int(ends[0][3]) if ends else None,
            "cycles_golden": int(expected.cycles),
            "spikes": spikes,
            "winner": expected.winner,
            "syn_ops": int(expected.syn_ops), "stdp_updates": int(expected.stdp_updates),
            "pruned": int(expected.pruned), "events": int(len(events)),
            "skipped": int(expected.skipped),
        })
    run_end_cycle = tb.cycles.now()
    end_weights = end_mask = None
    if aborted is None:
        readback = await tb.read_weights()
        # (weights, mask, beats); weights is None if a response beat is missing
        if readback is None or readback[0] is None:
            got = readback[2] if readback is not None and len(readback) > 2 else "fewer"
            board._fail(Mismatch(None, None, None, "access_rsp beats",
                                 cfg.n_inputs * cfg.n_neurons, got))
        else:
            end_weights, end_mask = readback[0], readback[1]
            board.check_array("weight", model.weights, end_weights)
            board.check_array("mask", model.mask, end_mask)
        await RisingEdge(dut.clk)
        await ReadOnly()
        counters = tb.read_counters()
        board.check_counters(model.counters, counters)
    else:
        counters = None
    if end_weights is not None and params.get("weights_path"):
        np.savez(params["weights_path"], weights=end_weights, mask=end_mask)
    result = board.summary()
    if not samples and not board.checks:
        result["passed"] = True
    result.update({
        "phase": run["phase"], "samples": len(samples), "samples_run": len(per_sample),
        "per_sample": per_sample, "counters_rtl": counters,
        "counters_golden": {k: int(v) for k, v in model.counters.items()},
        "load_cycles": load_cycle, "workload_cycles": run_end_cycle - load_cycle,
        "sim_cycles": tb.cycles.now(), "aborted": aborted,
        "sim_wall_seconds": time.perf_counter() - started,
        "sim_cpu_seconds": time.process_time() - cpu_started,
        "model_seconds": round(model_seconds, 3),
    })
    with open(params["result_path"], "w") as f:
        json.dump(result, f)
    assert result["passed"], (f"{result['mismatches']} mismatch(es); first: "
                              f"{result['first_mismatch']['message'] if result['first_mismatch'] else aborted}")
