"""Tests of ``spikeforge compare`` / ``demo``: the report, its schema, the workload, bad input.

The compare run here is small (a 64-input, 8-neuron, 1-lane core; --no-build) so that it
runs in the default suite; the full demo (builds and power) is ``make bench`` material.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from spikeforge.cli import main
from spikeforge.compare import REPORT_SCHEMA, validate_report
from spikeforge.config import CoreConfig
from spikeforge.errors import UserError
from spikeforge.workloads import (LearningSchedule, image_side, make_digits_workload,
                                  times_to_events)

TINY = ["--set", "n_inputs=64", "--set", "n_neurons=8", "--set", "lanes=1"]


def _verilator_reason():
    from spikeforge.sim.runner import simulator_available
    return simulator_available("verilator")


# ----------------------------------------------------------------------------- workload

def test_image_side_maps_inputs_to_encoded_image():
    assert image_side(CoreConfig()) == (16, 1)                         # 256 = 16*16
    assert image_side(CoreConfig(n_inputs=128)) == (8, 2)              # 128 = 2*8*8
    assert image_side(CoreConfig(n_inputs=64, n_neurons=8)) == (8, 1)  # 64 = 8*8
    with pytest.raises(UserError, match="n_inputs = 60 is neither"):
        image_side(CoreConfig(n_inputs=60))


def test_times_to_events_orders_by_time_then_input():
    times = np.array([3, 16, 0, 3, 1, 16])       # 16 = never
    events = times_to_events(times, 16)
    np.testing.assert_array_equal(events, [[2, 0], [4, 1], [0, 3], [3, 3]])


def test_workload_is_determined_by_its_seed():
    cfg = CoreConfig(n_inputs=64, n_neurons=8, lanes=2)
    a = make_digits_workload(cfg, n_learn=5, n_train=10, n_test=4, seed=3)
    b = make_digits_workload(cfg, n_learn=5, n_train=10, n_test=4, seed=3)
    c = make_digits_workload(cfg, n_learn=5, n_train=10, n_test=4, seed=4)
    np.testing.assert_array_equal(a.weights, b.weights)
    for x, y in zip(a.learn + a.test, b.learn + b.test):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.weights, c.weights)
    assert len(a.learn) == 5 and len(a.train) == 10 and len(a.test) == 4
    # events are valid for the core: indices in range, times in order
    for s in a.learn + a.test:
        assert s[:, 0].max() < cfg.n_inputs and np.all(np.diff(s[:, 1]) >= 0)


def test_schedule_rates_and_pruning_start_reach_the_registers():
    cfg = CoreConfig(n_inputs=64, n_neurons=8, lanes=2)
    sched = LearningSchedule(a_plus=0.1, a_minus=0.2, rate_double_every=2, a_plus_max=0.3,
                             a_minus_max=0.99, prune_start=3)
    w = make_digits_workload(cfg, n_learn=6, n_train=2, n_test=1, schedule=sched)
    table = w.learn_register_table(6, pruning=True)
    scale = 1 << cfg.rate_frac_bits
    assert [r["a_plus"] for r in table] == [round(x * scale) for x in
                                            (0.1, 0.1, 0.2, 0.2, 0.3, 0.3)]
    assert [r["a_minus"] for r in table] == [round(x * scale) for x in
                                             (0.2, 0.2, 0.4, 0.4, 0.8, 0.8)]
    assert [r["prune_enable"] for r in table] == [False] * 3 + [True] * 3
    assert not any(r["prune_enable"] for r in w.learn_register_table(6, pruning=False))


# ----------------------------------------------------------------------------- report

@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    reason = _verilator_reason()
    if reason:
        pytest.skip(f"the compare run simulates the RTL: {reason}")
    out = tmp_path_factory.mktemp("compare") / "report"
    status = main(["compare", "--no-build", *TINY, "--samples-learn", "40", "--samples-infer",
                   "20", "--samples-train", "60", "-o", str(out)])
    assert status == 0
    return out, json.loads((out / "report.json").read_text())


def test_compare_report_matches_schema_and_is_consistent(tiny_report):
    out, report = tiny_report
    assert validate_report(report) == []
    assert (out / "report.md").read_text().startswith("# spikeforge compare")
    assert (out / "cycles_per_sample.png").stat().st_size > 1000
    cores = report["cores"]
    for name in ("unpruned", "pruned"):
        for phase, n in (("learning", 40), ("inference", 20)):
            p = cores[name][phase]
            assert p["verified"] and p["mismatches"] == 0        # RTL == golden model
            assert p["samples"] == n == len(p["sample_cycles"])
            assert p["cycles_total"] == sum(p["sample_cycles"])
            assert p["counters"]["samples"] == n
            assert p["counters"]["cycles"] == p["cycles_total"]
    assert cores["unpruned"]["connectivity"]["fraction"] == 1.0
    pruned = cores["pruned"]
    assert pruned["connectivity"]["alive"] == 64 * 8 - pruned["learning"]["counters"]["pruned"]
    assert report["speedup"]["learning"] == pytest.approx(
        cores["unpruned"]["learning"]["cycles_total"] / pruned["learning"]["cycles_total"])
    assert report["speedup"]["inference"] == pytest.approx(
        cores["unpruned"]["inference"]["cycles_total"] / pruned["inference"]["cycles_total"])
    # without builds: no energy, no overhead, and the report says why
    assert report["energy"] is None and report["power_overhead"] is None
    assert any("--no-build" in m for m in report["missing"])
    for name in ("unpruned", "pruned"):
        assert 0.0 <= report["accuracy"][name] <= 1.0


def test_schema_rejects_broken_reports(tiny_report):
    _, report = tiny_report
    broken = copy.deepcopy(report)
    del broken["speedup"]
    assert any("missing 'speedup'" in p for p in validate_report(broken))
    broken = copy.deepcopy(report)
    broken["cores"]["pruned"]["inference"]["cycles_total"] = -1
    assert any("cycles_total" in p for p in validate_report(broken))
    broken = copy.deepcopy(report)
    broken["schema"] = "something.else"
    assert validate_report(broken)
    assert REPORT_SCHEMA["properties"]["schema"] == {"enum": ["spikeforge.compare"]}


def test_existing_report_is_not_overwritten_without_force(tiny_report, capsys):
    out, _ = tiny_report
    before = (out / "report.json").read_bytes()
    status = main(["compare", "--no-build", *TINY, "--samples-learn", "2", "--samples-infer", "2",
                   "-o", str(out)])
    assert status == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (out / "report.json").read_bytes() == before
    assert main(["demo", "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("argv, message", [
    (["--board", "nexys-a7"], "unknown board 'nexys-a7'"),
    (["--samples-learn", "0"], "--samples-learn = 0"),
    (["--samples-learn", "5000"], "--samples-learn = 5000"),
    (["--samples-infer", "-3"], "--samples-infer = -3"),
    (["--samples-infer", "451"], "--samples-infer = 451"),
    (["--samples-train", "1"], "--samples-train = 1"),
    (["--set", "n_inputs=60"], "n_inputs = 60 is neither"),
    (["--set", "lanes=3"], "lanes = 3 is not allowed"),
])
def test_bad_input_exits_2_with_a_clear_message(argv, message, tmp_path, capsys):
    status = main(["compare", "--no-build", "-o", str(tmp_path / "r"), *argv])
    err = capsys.readouterr().err
    assert status == 2
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "r" / "report.json").exists()


def test_output_path_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["compare", "--no-build", "-o", str(target)]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_baseline_activity_is_subtracted_per_bit():
    from spikeforge.boards.saif import Activity, NetBit, Scope
    from spikeforge.compare import _subtract_activity

    run = Activity(Scope("TOP", {"clk": NetBit(tc=200), "a[0]": NetBit(tc=50)},
                         {"core": Scope("core", {"b[1]": NetBit(tc=7)})}), 2e-6, "run.saif")
    base = Activity(Scope("TOP", {"clk": NetBit(tc=80), "a[0]": NetBit(tc=60)},
                          {"core": Scope("core", {})}), 0.8e-6, "base.saif")
    diff = _subtract_activity(run, base)
    assert diff.root.nets["clk"].tc == 120            # 60 cycles of samples
    assert diff.root.nets["a[0]"].tc == 0             # never negative
    assert diff.root.children["core"].nets["b[1]"].tc == 7
    assert diff.clock_cycles("clk") == 60
    assert diff.duration_s == pytest.approx(1.2e-6)


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="per-thread nice values are a Linux feature; elsewhere it is a no-op")
def test_build_scheduling_lowers_only_the_calling_thread_and_its_children():
    """compare gives the pruned core's FPGA build a core of its own by raising the nice
    value of the other jobs' threads; that must not touch the other threads, and the
    thread's child processes (the tools) must inherit it."""
    from spikeforge.compare import _set_this_thread_nice

    main_before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen = {}

    def job():
        seen["old"] = _set_this_thread_nice(increment=3)
        seen["thread"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        seen["child"] = int(subprocess.run([sys.executable, "-c", "import os; print(os.nice(0))"],
                                           capture_output=True, text=True, check=True).stdout)

    thread = threading.Thread(target=job)
    thread.start()
    thread.join()
    assert seen["old"] == main_before
    assert seen["thread"] == seen["child"] == min(19, main_before + 3)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_before


def _power_report(modules: dict) -> dict:
    """A power report in the estimator's shape: per set, per module and resource (W)."""
    sets = {}
    for k, s in enumerate(("low", "nominal", "high")):
        by_module = {m: {**{r: (k + 1) * w for r, w in res.items()},
                         "total": (k + 1) * sum(res.values())} for m, res in modules.items()}
        total = 0.3 + sum(v["total"] for v in by_module.values())
        sets[s] = {"by_module_w": by_module, "total_w": total}
    return {"sets": sets}


def test_overhead_breakdown_adds_up_to_the_difference_of_the_totals():
    """Every (module, resource) that differs is a row, largest first; a module of one
    build only counts whole; the rows of a set add up to the difference of the totals;
    the report lists them."""
    from spikeforge.compare import overhead_breakdown, overhead_markdown

    base = _power_report({"top.core": {"FF": 1e-3, "clock": 2e-3},
                          "top.link": {"LUT4": 5e-4}})
    over = _power_report({"top.core": {"FF": 1e-3, "clock": 3e-3, "LUT4": 2e-4},
                          "top.link": {"LUT4": 6e-4}, "top.core.scan": {"MUX": 5e-5}})
    over["modules"] = {"top.core": {"simulated": True}, "top.core.scan": {"simulated": True},
                       "top.link": {"simulated": False}}
    breakdown = overhead_breakdown(over, base)
    for k, s in enumerate(("low", "nominal", "high")):
        rows = breakdown[s]
        assert [(r["module"], r["resource"]) for r in rows] == [
            ("top.core", "clock"), ("top.core", "LUT4"), ("top.link", "LUT4"),
            ("top.core.scan", "MUX")]
        assert [r["delta_w"] for r in rows] == pytest.approx(
            [(k + 1) * d for d in (1e-3, 2e-4, 1e-4, 5e-5)])
        assert sum(r["delta_w"] for r in rows) == pytest.approx(
            over["sets"][s]["total_w"] - base["sets"][s]["total_w"])
    delta = over["sets"]["high"]["total_w"] - base["sets"]["high"]["total_w"]
    sets = ("low", "nominal", "high")
    text = "\n".join(overhead_markdown({
        "percent_of_total": {s: 1.0 for s in sets}, "percent_of_dynamic": {s: 2.0 for s in sets},
        "delta_w": {"high": delta}, "breakdown_w": breakdown, "method": "test"}))
    assert "| top.core | clock | 3.000 | 74.1 % | simulated |" in text
    assert "| top.link | LUT4 | 0.300 | 7.4 % | default |" in text
    assert "| top.core.scan | MUX | 0.150 | 3.7 % | simulated |" in text
