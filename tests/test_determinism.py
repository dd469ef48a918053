"""Determinism: the same command with the same seed gives byte-identical weights and
JSON reports (fields that measure time are the only ones allowed to differ).

Commands are run twice; ``train`` in two separate processes with different
``PYTHONHASHSEED`` values (so nothing may depend on set/dict ordering of strings or on
process state), the others in-process.  ``verify`` (a Verilator build, minutes on a
busy machine whenever hw/ changed) is marked slow.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from spikeforge import cli
from spikeforge.golden.config_fuzz import make_case
from spikeforge.golden.core_model import CoreModel

# keys whose values measure wall-clock time or where a run happened
_TIMING_KEY = re.compile(r"(seconds|_s|wall|elapsed|duration|timestamp|date|cycles_per_(cpu_)?minute"
                         r"(_with_build)?|build_reused|run_dir)$")


def _without_timing(value):
    if isinstance(value, dict):
        return {k: _without_timing(v) for k, v in value.items() if not _TIMING_KEY.search(k)}
    if isinstance(value, list):
        return [_without_timing(v) for v in value]
    return value


def test_timing_filter_keeps_the_results():
    report = {"wall_seconds": 1.5, "time_steps": 16, "cycles_rtl": 3,
              "inner": [{"sim_seconds": 2, "accuracy": 0.5}]}
    assert _without_timing(report) == {"time_steps": 16, "cycles_rtl": 3,
                                       "inner": [{"accuracy": 0.5}]}


@pytest.mark.parametrize("config_seed", [1, 3, 9])
def test_model_is_byte_identical(config_seed):
    """Two runs of the cycle-exact model on the same case: identical bytes."""
    outputs = []
    for _ in range(2):
        case = make_case(config_seed, 0, n_samples=4)
        model = CoreModel(case.cfg, case.weights, case.mask)
        results = [model.run_sample(s, case.regs) for s in case.samples]
        outputs.append((model.weights.tobytes(), model.mask.tobytes(),
                        json.dumps(model.counters, sort_keys=True),
                        repr([(r.out_events, r.cycles, r.accept_cycles, r.winner)
                              for r in results])))
    assert outputs[0] == outputs[1]


def _cli_json(argv, capsys):
    status = cli.main(argv)
    out, err = capsys.readouterr()
    assert status == 0, err
    return json.loads(out)


def test_fuzz_json_is_deterministic(capsys):
    argv = ["fuzz", "--configs", "1", "--first-config", "3", "--seeds", "2", "--json"]
    first, second = _cli_json(argv, capsys), _cli_json(argv, capsys)
    assert first["cases"] == 2 and first["mismatches"] == 0
    assert json.dumps(_without_timing(first), sort_keys=True) == \
        json.dumps(_without_timing(second), sort_keys=True)


def test_train_json_is_byte_identical_across_processes(tmp_path):
    reports = []
    for n, hash_seed in enumerate(("1", "2")):
        out = tmp_path / f"run{n}.json"
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        proc = subprocess.run(
            [sys.executable, "-m", "spikeforge.cli", "train", "--max-images", "30",
             "--learn-images", "20", "--image-size", "8", "--seed", "3", "--fixed-point",
             "-q", "-o", str(tmp_path / f"out{n}"), "--json", str(out)],
            env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        reports.append(json.loads(out.read_text()))
    assert "accuracy" in reports[0] and "connectivity" in reports[0]
    assert json.dumps(_without_timing(reports[0]), sort_keys=True) == \
        json.dumps(_without_timing(reports[1]), sort_keys=True)


@pytest.mark.slow
def test_verify_json_is_deterministic(capsys, monkeypatch, sim_cache_dir):
    from spikeforge.sim.runner import simulator_available

    # Verilator: with this config and seed the Icarus run currently disagrees with the
    # model by 2 cycles in sample 0 (while Verilator and amaranth.sim agree), reported
    # to the lead; determinism is what this test is about.
    reason = simulator_available("verilator")
    if reason:
        pytest.skip(reason)
    monkeypatch.setenv("SPIKEFORGE_SIM_CACHE", str(sim_cache_dir))
    argv = ["verify", "--sim", "verilator", "--set", "n_inputs=8", "--set", "n_neurons=4",
            "--set", "lanes=2", "--set", "time_steps=4", "--mode", "learn", "--samples", "3",
            "--seed", "5", "--json"]
    first, second = _cli_json(argv, capsys), _cli_json(argv, capsys)
    assert first["passed"] and first["samples_run"] == 3
    assert json.dumps(_without_timing(first), sort_keys=True) == \
        json.dumps(_without_timing(second), sort_keys=True)
