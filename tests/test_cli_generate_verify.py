"""``spikeforge generate`` and ``spikeforge verify`` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from spikeforge.cli import main
from spikeforge.config import CoreConfig, load_config
from spikeforge.sim.runner import simulator_available

# the ODD config of tests/test_cocotb_core.py, so that both files share one cached build
SMALL = ["--set", "n_inputs=37", "--set", "n_neurons=13", "--set", "lanes=1",
         "--set", "weight_bits=4", "--set", "potential_bits=8", "--set", "time_steps=8"]


def _error_line(capsys, command):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"spikeforge {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_generate_writes_verilog_and_config(tmp_path, capsys):
    out = tmp_path / "gen"
    assert main(["generate", *SMALL, "-o", str(out)]) == 0
    verilog = (out / "ttfs_core.v").read_text()
    assert "module ttfs_core" in verilog
    for port in ("events_in__payload", "events_out__valid", "access_cmd__ready",
                 "access_rsp__payload", "cnt_pruned", "busy", "theta_p"):
        assert port in verilog
    cfg = load_config(out / "config.toml")
    assert cfg == CoreConfig(n_inputs=37, n_neurons=13, lanes=1, weight_bits=4,
                             potential_bits=8, time_steps=8)
    assert "wrote" in capsys.readouterr().out


def test_generate_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "gen"
    out.mkdir()
    (out / "ttfs_core.v").write_text("// user's file\n")
    assert main(["generate", *SMALL, "-o", str(out)]) == 2
    line = _error_line(capsys, "generate")
    assert "--force" in line and "ttfs_core.v" in line
    assert (out / "ttfs_core.v").read_text() == "// user's file\n"
    assert not (out / "config.toml").exists()
    assert main(["generate", *SMALL, "-o", str(out), "--force"]) == 0
    assert "module ttfs_core" in (out / "ttfs_core.v").read_text()


@pytest.mark.parametrize("command", ["generate", "verify"])
@pytest.mark.parametrize("overrides, words", [
    (["n_inputs=0"], ["n_inputs", "1 to 4096"]),
    (["weight_bits=20"], ["weight_bits", "2 to 12"]),
    (["lanes=3"], ["lanes", "1, 2, 4, 8, 16"]),
    (["n_neurons=4", "lanes=8"], ["lanes", "n_neurons"]),
    (["bogus=1"], ["bogus", "allowed keys"]),
    (["n_inputs=many"], ["n_inputs", "integer"]),
])
def test_bad_config_is_refused_with_one_line(command, overrides, words, tmp_path, capsys):
    args = [command]
    for item in overrides:
        args += ["--set", item]
    if command == "generate":
        args += ["-o", str(tmp_path / "never")]
    assert main(args) == 2
    line = _error_line(capsys, command)
    for word in words:
        assert word in line
    assert not (tmp_path / "never").exists()


def test_malformed_toml_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[core]\nn_inputs = = 3\n")
    assert main(["verify", "--config", str(bad)]) == 2
    assert "not valid TOML" in _error_line(capsys, "verify")
    assert main(["generate", "--config", str(tmp_path / "missing.toml"), "-o",
                 str(tmp_path / "o")]) == 2
    assert "does not exist" in _error_line(capsys, "generate")


@pytest.mark.parametrize("args, words", [
    (["--samples", "0"], ["--samples"]),
    (["--seed", "-3"], ["non-negative"]),
    (["--prune-fraction", "1.5"], ["prune_fraction"]),
    (["--set", "pruning=false", "--prune-fraction", "0.5"], ["pruning"]),
    (["--sim", "icarus", "--saif"], ["SAIF", "verilator"]),
])
def test_verify_bad_arguments(args, words, capsys):
    assert main(["verify", *SMALL, *args]) == 2
    line = _error_line(capsys, "verify")
    for word in words:
        assert word in line


def test_bad_input_has_no_traceback_in_a_real_process(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "spikeforge.cli", "generate", "--set",
                           "lanes=3", "-o", str(tmp_path / "x")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("spikeforge generate: error: lanes = 3")


def test_verify_exit_status_follows_the_result(monkeypatch, capsys):
    """The CLI maps a failed regression to exit 1 and prints the first mismatch."""
    import spikeforge.sim.regression as regression

    def failing(cfg, **kwargs):
        return {"passed": False, "samples": 2, "samples_run": 2, "mismatches": 3,
                "cycles_rtl": 10, "cycles_golden": 11, "sim_cycles": 100, "sim": kwargs["sim"],
                "mode": kwargs["mode"], "seed": kwargs["seed"], "config": cfg.to_dict(),
                "sim_seconds": 0.1, "build_seconds": 0.0, "wall_seconds": 0.1,
                "first_mismatch": {"message": "sample 0, cycle 7, neuron 2: output beat 0 "
                                              "time: expected 3, got 4"}}

    monkeypatch.setattr(regression, "run_regression", failing)
    assert main(["verify", *SMALL, "--samples", "2"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "sample 0, cycle 7, neuron 2" in out


@pytest.mark.skipif(simulator_available("verilator") is not None,
                    reason=str(simulator_available("verilator")))
def test_verify_json_passes_on_a_small_config(monkeypatch, capsys, sim_cache_dir):
    monkeypatch.setenv("SPIKEFORGE_SIM_CACHE", str(sim_cache_dir))
    status = main(["verify", *SMALL, "--mode", "learn", "--seed", "5", "--samples", "3",
                   "--json"])
    result = json.loads(capsys.readouterr().out)
    for key in ("passed", "samples", "mismatches", "cycles_rtl", "cycles_golden",
                "first_mismatch", "sim_cycles", "wall_seconds"):
        assert key in result
    assert status == 0
    assert result["passed"] is True and result["mismatches"] == 0
    assert result["samples"] == 3
    assert result["cycles_rtl"] == result["cycles_golden"] > 0
