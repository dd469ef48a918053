"""The cocotb regression: the generated Verilog against the cycle-exact golden model.

Each case builds (or reuses from ``build/sim``) one simulator build of a config and runs
:func:`spikeforge.sim.regression.run_regression`, which checks every output beat (content
and cycle), every input handshake cycle, the end weights and masks (exact) and the six
counters.  The configs are small except the default one, and each config is compiled once
per simulator and shared by its cases: compilation is the dominant cost.

A checker that cannot fail proves nothing, so the fault-injection cases corrupt the
model's expectation inside the testbench and require the scoreboard to report exactly
that beat / synapse / counter.
"""

from __future__ import annotations

import numpy as np
import pytest

from spikeforge.config import CoreConfig
from spikeforge.golden.core_model import SampleResult
from spikeforge.sim.runner import simulator_available
from spikeforge.sim.tb import Scoreboard

DEFAULT = CoreConfig()
# odd sizes, one lane, narrow weights, short latency code, small potentials (saturation)
ODD = CoreConfig(n_inputs=37, n_neurons=13, lanes=1, weight_bits=4, potential_bits=8,
                 time_steps=8)
# many lanes, wide weights, long latency code, no pruning hardware
WIDE = CoreConfig(n_inputs=24, n_neurons=16, lanes=8, weight_bits=10, time_steps=32,
                  pruning=False)


def _needs(sim):
    reason = simulator_available(sim)
    return pytest.mark.skipif(reason is not None, reason=reason or "")


def _run(cfg, sim_cache_dir, **kwargs):
    from spikeforge.sim.regression import run_regression

    result = run_regression(cfg, cache_dir=sim_cache_dir, **kwargs)
    return result


def _assert_passed(result):
    assert result["first_mismatch"] is None, result["first_mismatch"]["message"]
    assert result["mismatches"] == 0
    assert result["passed"] is True
    assert result["samples_run"] == result["samples"]
    assert result["cycles_rtl"] == result["cycles_golden"]
    assert result["cycles_rtl"] > 0
    assert result["sim_cycles"] > result["cycles_rtl"]


CASES = [
    # (id, cfg, sim, mode, seed, samples, prune_fraction)
    ("default-learn-pruned", DEFAULT, "verilator", "learn", 11, 6, 0.5),
    ("default-infer", DEFAULT, "verilator", "infer", 12, 3, 0.0),
    ("odd-learn", ODD, "verilator", "learn", 21, 10, 0.0),
    ("odd-infer-pruned", ODD, "verilator", "infer", 22, 6, 0.3),
    ("wide-learn", WIDE, "verilator", "learn", 31, 10, 0.0),
    ("wide-infer", WIDE, "verilator", "infer", 32, 4, 0.0),
    ("odd-learn-icarus", ODD, "icarus", "learn", 51, 4, 0.2),
    ("odd-infer-icarus", ODD, "icarus", "infer", 52, 3, 0.0),
]


@pytest.mark.parametrize("cfg, sim, mode, seed, samples, prune_fraction",
                         [pytest.param(*c[1:], id=c[0], marks=_needs(c[2])) for c in CASES])
def test_core_matches_golden_model(cfg, sim, mode, seed, samples, prune_fraction, sim_cache_dir):
    result = _run(cfg, sim_cache_dir, sim=sim, mode=mode, seed=seed, samples=samples,
                  prune_fraction=prune_fraction)
    _assert_passed(result)
    if mode == "learn":
        # the run must actually have learned something, or it proves little
        assert result["counters_golden"]["stdp_updates"] > 0


@_needs("verilator")
@pytest.mark.parametrize("cfg, mode", [(ODD, "learn"), (WIDE, "infer")], ids=["odd", "wide"])
def test_invalid_events_dropped_and_counted(cfg, mode, sim_cache_dir):
    result = _run(cfg, sim_cache_dir, sim="verilator", mode=mode, seed=61, samples=5,
                  invalid_events=True)
    _assert_passed(result)
    assert result["counters_golden"]["dropped"] > 0


@_needs("verilator")
@pytest.mark.parametrize("cfg, seed, prune_fraction, faster",
                         [(DEFAULT, 81, 0.5, True), (ODD, 82, 0.0, False)],
                         ids=["default", "odd"])
def test_skipping_producer_matches_model(cfg, seed, prune_fraction, faster, sim_cache_dir):
    """A producer that drops the rest of a sample once ``decided`` is 1: every beat, the
    accepted input beats and the end state still match the model told of the skipping,
    and the skipping really happened.  It saves cycles when the STDP walk is shorter
    than the skipped events (4 lanes), not with one lane (the walk of all 37 rows hides
    the events either way)."""
    kwargs = dict(sim="verilator", mode="learn", seed=seed, samples=6,
                  prune_fraction=prune_fraction)
    skipping = _run(cfg, sim_cache_dir, skip_decided=True, **kwargs)
    _assert_passed(skipping)
    streaming = _run(cfg, sim_cache_dir, **kwargs)
    _assert_passed(streaming)
    assert skipping["counters_golden"]["stdp_updates"] > 0
    # the same learning (same weights, winners, counters but cycles and dropped beats)
    for name in ("syn_ops", "stdp_updates", "pruned", "samples"):
        assert skipping["counters_golden"][name] == streaming["counters_golden"][name]
    assert skipping["skipped_beats"] > 0 and streaming["skipped_beats"] == 0
    if faster:
        assert skipping["cycles_rtl"] < streaming["cycles_rtl"]
    else:
        assert skipping["cycles_rtl"] <= streaming["cycles_rtl"]


@_needs("verilator")
def test_random_gaps_between_beats_keep_content(sim_cache_dir):
    """Idle cycles inside samples (not the back-to-back contract): contents, end state and
    the other counters must still match (cycles are then not comparable, not checked)."""
    result = _run(ODD, sim_cache_dir, sim="verilator", mode="learn", seed=71, samples=4,
                  input_gap_probability=0.3)
    assert result["first_mismatch"] is None, result["first_mismatch"]["message"]
    assert result["passed"]


@_needs("verilator")
@pytest.mark.parametrize("kind, field", [("time", "output beat 0 time"),
                                         ("cycle", "output beat 0 cycle"),
                                         ("end_cycles", "end beat cycles payload"),
                                         ("weight", "weight"),
                                         ("counter", "counter syn_ops")])
def test_checker_reports_injected_fault(kind, field, sim_cache_dir):
    """Corrupt one expected value in the testbench: the run must fail, and the first
    mismatch must name the corrupted item with expected and observed values."""
    fault = {"kind": kind, "sample": None, "input": 3, "neuron": 2}
    result = _run(ODD, sim_cache_dir, sim="verilator", mode="infer", seed=81, samples=2,
                  fault=fault)
    assert result["passed"] is False
    assert result["mismatches"] >= 1
    first = result["first_mismatch"]
    assert first["field"] == field, first
    if kind == "time":
        assert first["sample"] is not None and first["neuron"] is not None
        assert first["cycle"] is not None
        assert first["expected"] == first["got"] + 1
    elif kind == "cycle":
        assert first["expected"] == first["got"] + 1
    elif kind == "end_cycles":
        assert first["expected"] == first["got"] + 1
    elif kind == "weight":
        assert (first["input"], first["neuron"]) == (3, 2)
        assert first["expected"] == first["got"] ^ 1
        assert result["mismatches"] == 1
    elif kind == "counter":
        assert first["expected"] == first["got"] + 1


# ---------------------------------------------------------------- scoreboard alone (fast)

def _expected(events, cycles):
    return SampleResult(out_events=list(events), cycles=cycles, accept_cycles=[0, 1, 2])


def test_scoreboard_accepts_identical_sample():
    board = Scoreboard()
    beats = [(4, 2, 0, 0, 10), (7, 2, 0, 0, 11), (0, 0, 1, 30, 30)]
    board.check_sample(0, _expected([(4, 2, 10), (7, 2, 11)], 30), beats, [0, 1, 2])
    assert board.passed and board.first is None


def test_scoreboard_reports_first_mismatching_beat():
    board = Scoreboard()
    beats = [(4, 2, 0, 0, 10), (7, 3, 0, 0, 12), (9, 3, 0, 0, 13), (0, 0, 1, 31, 31)]
    board.check_sample(5, _expected([(4, 2, 10), (7, 2, 11)], 30), beats, [0, 1, 2])
    first = board.first
    assert (first.sample, first.cycle, first.neuron, first.field) == (5, 12, 7, "output beat 1 time")
    assert (first.expected, first.got) == (2, 3)
    assert "sample 5, cycle 12, neuron 7" in str(first)
    fields = [m.field for m in board.mismatches]
    assert fields == ["output beat 1 time", "output beat 2", "end beat cycles payload",
                      "end beat cycle"]
    assert not board.passed


def test_scoreboard_reports_late_input_handshake_and_missing_end():
    board = Scoreboard()
    board.check_sample(1, _expected([], 30), [], [0, 2, 3])
    assert board.first.field == "input beat 1 accept cycle"
    assert (board.first.expected, board.first.got) == (1, 2)
    assert board.mismatches[-1].field == "end beats"


def test_scoreboard_array_and_counter_checks():
    board = Scoreboard()
    expected = np.arange(12).reshape(4, 3)
    got = expected.copy()
    got[2, 1] += 5
    got[3, 0] -= 1
    board.check_array("weight", expected, got)
    assert len(board.mismatches) == 2
    assert (board.first.input, board.first.neuron, board.first.expected, board.first.got) == \
        (2, 1, 7, 12)
    counters = {"cycles": 5, "syn_ops": 6, "stdp_updates": 0, "pruned": 0, "dropped": 1,
                "samples": 2}
    board.check_counters(counters, dict(counters, dropped=0))
    assert board.mismatches[-1].field == "counter dropped"
