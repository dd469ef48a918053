"""cocotb tests of the generated TTFS core (run through :mod:`spikeforge.sim.runner`).

The host side (:func:`spikeforge.sim.regression.run_regression`) passes the run's
parameters as a JSON file named by ``SPIKEFORGE_TB_PARAMS``; each test writes its result
(scoreboard summary, cycle counts) to the ``result_path`` given there, then fails if any
check failed, so a cocotb results file and the JSON agree.

Tests:
* ``core_regression``: the seeded random workload (weights around N(0.8, 0.05), some
  low weights so pruning bites, an optional pre-pruned mask, random samples) in the
  requested mode, every beat checked in content and cycle, then end weights, masks and
  counters.
* ``core_invalid_events``: the same with invalid beats in every sample (index out of
  range, time out of range, out of order): accepted, no effect, counted as dropped.
"""

from __future__ import annotations

import json
import os
import time

import cocotb

from spikeforge.config import CoreConfig, CoreRegisters
from spikeforge.sim.tb import CoreTB
from spikeforge.sim.workload import make_workload

PARAMS_ENV = "SPIKEFORGE_TB_PARAMS"


def _load_params() -> dict:
    path = os.environ.get(PARAMS_ENV)
    if not path:
        raise RuntimeError(f"{PARAMS_ENV} is not set: run these tests through "
                           f"spikeforge.sim.regression.run_regression")
    with open(path) as f:
        return json.load(f)


async def _run(dut, invalid_events: int):
    params = _load_params()
    started, cpu_started = time.perf_counter(), time.process_time()
    cfg = CoreConfig(**params["config"])
    regs = CoreRegisters(**params["regs"]) if params.get("regs") else None
    workload = make_workload(cfg, mode=params["mode"], seed=params["seed"],
                             samples=params["samples"], prune_fraction=params["prune_fraction"],
                             regs=regs, invalid_events=invalid_events)
    tb = CoreTB(dut, cfg, seed=params["seed"],
                input_gap_probability=params.get("input_gap_probability", 0.0),
                fast_clock=params.get("fast_clock", True),
                skip_decided=params.get("skip_decided", False))
    await tb.start(workload.regs)
    result = await tb.run_workload(workload, fault=params.get("fault"))
    result["regs"] = dict(workload.regs.__dict__)
    # wall and CPU time of the test itself (without simulator start-up); CPU time is the
    # fairer speed figure on a shared machine
    result["sim_wall_seconds"] = time.perf_counter() - started
    result["sim_cpu_seconds"] = time.process_time() - cpu_started
    with open(params["result_path"], "w") as f:
        json.dump(result, f, indent=1)
    assert result["passed"], (f"{result['mismatches']} mismatch(es); first: "
                              f"{result['first_mismatch']['message'] if result['first_mismatch'] else result.get('aborted')}")


@cocotb.test()
async def core_regression(dut):
    """Seeded random workload, checked beat by beat and cycle by cycle."""
    await _run(dut, invalid_events=0)


@cocotb.test()
async def core_invalid_events(dut):
    """Invalid input beats in every sample are accepted, ignored and counted."""
    await _run(dut, invalid_events=3)
