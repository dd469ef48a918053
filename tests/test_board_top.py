"""The simulated board top (core + host link) through its UART pins, driven by the host
driver over the cocotb transport (sim/test_board_top.py), plus the CLI and the serial
transport without a board.

One Verilator build of a small config serves every test here (cached under build/sim,
shared with ``spikeforge run --sim`` of the same config).
"""

from __future__ import annotations

import json
import socket
import threading

import numpy as np
import pytest

from spikeforge.cli import main
from spikeforge.config import CoreConfig
from spikeforge.host.driver import Board
from spikeforge.host.flow import compare_with_golden, make_run_workload, run_golden
from spikeforge.host.transport import LinkError, LinkTimeoutError, SerialTransport
from spikeforge.sim.runner import simulator_available

CFG = CoreConfig(n_inputs=32, n_neurons=8, lanes=2, time_steps=8)
SETS = ["--set", "n_inputs=32", "--set", "n_neurons=8", "--set", "lanes=2",
        "--set", "time_steps=8"]

needs_verilator = pytest.mark.skipif(simulator_available("verilator") is not None,
                                     reason=str(simulator_available("verilator")))


@pytest.fixture(scope="module")
def board_build():
    from spikeforge.host.sim_board import build_board_sim

    # the same batch depths as `spikeforge run --sim`, so the CLI test reuses the build
    return build_board_sim(CFG, batch_events=1024, batch_outputs=256)


def _run(build, testcase, **params):
    from spikeforge.host.sim_board import run_board_sim

    result, work_dir = run_board_sim(build, {"seed": 1, **params}, testcase=testcase)
    assert result is not None, f"the simulation died; see {work_dir / 'sim.log'}"
    return result


@needs_verilator
def test_learning_run_matches_golden_model(board_build):
    """Load weights, learn (batch mode), infer, read back: bit for bit the model's."""
    result = _run(board_build, "board_run", dataset="digits", n_learn=8, n_infer=6, seed=3,
                  stream_events=120)
    work = make_run_workload(CFG, dataset="digits", n_learn=8, n_infer=6, seed=3)
    result["weights"] = np.asarray(result["weights"])
    result["mask"] = np.asarray(result["mask"], dtype=bool)
    golden = run_golden(work)
    assert compare_with_golden(result, golden, cycles=True) == []
    np.testing.assert_array_equal(result["weights"], golden["weights"])
    # the run did learn: weights moved, winners were emitted, inference spiked
    assert not np.array_equal(result["weights"], work.weights)
    assert result["phases"]["learn"]["stdp_updates"] > 0
    assert result["phases"]["learn"]["output_spikes"] > 0
    assert result["phases"]["infer"]["output_spikes"] > 0
    # batch mode: the run's cycles are the samples' cycles plus a little per sample
    for phase in ("learn", "infer"):
        entry = result["phases"][phase]
        assert entry["cycles"] <= entry["batch_run_cycles"] <= entry["cycles"] + 4 * entry["samples"]
    probe = result["stream_probe"]
    assert probe["events"] == 120 and probe["seconds"] > 0


@needs_verilator
def test_bad_frames_get_errors_and_leave_the_core_intact(board_build):
    result = _run(board_build, "board_errors")
    failed = [c for c in result["checks"] if not c["ok"]]
    assert not failed, failed
    assert len(result["checks"]) == 14
    assert result["weights_intact"] and result["mask_intact"]
    assert result["registers"] == result["registers_expected"]
    assert result["counters_after"] == result["counters_before"]
    assert result["counters_before"]["samples"] == 1
    assert result["stray_events"] == 0


@needs_verilator
def test_silent_board_times_out_with_a_clear_error(board_build):
    result = _run(board_build, "board_timeout")
    assert result["raised"], result
    assert "no reply to PING" in result["message"] and "baud rate" in result["message"]
    # it gave up after its deadline: the latency allowance plus the wire time, not later
    assert result["latency_s"] <= result["waited_s"] < 4 * result["latency_s"]


@needs_verilator
def test_run_command_sim_end_to_end(board_build, tmp_path, capsys):
    report = tmp_path / "run.json"
    weights = tmp_path / "w.npz"
    status = main(["run", "--sim", *SETS, "--learn", "4", "--infer", "3", "--seed", "2",
                   "--json", str(report), "--save-weights", str(weights)])
    out = capsys.readouterr().out
    assert status == 0, out
    data = json.loads(report.read_text())
    assert data["golden_match"] and data["golden_differences"] == []
    assert set(data["phases"]) == {"learn", "infer"}
    for key in ("cycles", "syn_ops", "stdp_updates", "pruned", "output_spikes"):
        assert key in data["phases"]["learn"]
    saved = np.load(weights)
    golden = run_golden(make_run_workload(CFG, n_learn=4, n_infer=3, seed=2))
    np.testing.assert_array_equal(saved["weights"], golden["weights"])
    # never overwrite without --force
    assert main(["run", "--sim", *SETS, "--json", str(report)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err


def test_run_command_rejects_bad_arguments(capsys, tmp_path):
    assert main(["run", "--board", "ulx3s-85f"]) == 2
    assert "--port" in capsys.readouterr().err
    assert main(["run", "--board", "nosuchboard", "--port", "x"]) == 2
    assert "choose one of" in capsys.readouterr().err
    assert main(["run", "--board", "ulx3s-85f", "--port", str(tmp_path / "nope")]) == 2
    assert "cannot open serial port" in capsys.readouterr().err
    assert main(["run", "--sim", "--dataset", "imagenet"]) == 2
    assert "unknown dataset" in capsys.readouterr().err


def test_serial_transport_times_out_on_a_silent_port():
    """A port that never answers (a local TCP socket through pyserial's socket://):
    LinkTimeoutError after the deadline, not a hang."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    connections = []
    thread = threading.Thread(target=lambda: connections.append(server.accept()), daemon=True)
    thread.start()
    try:
        port = server.getsockname()[1]
        with SerialTransport(f"socket://127.0.0.1:{port}", 115200, latency=0.2) as transport:
            board = Board(transport)
            start = transport.now()
            with pytest.raises(LinkTimeoutError, match="no reply to PING"):
                board.ping()
            assert 0.2 <= transport.now() - start < 2.0
    finally:
        server.close()


def test_serial_transport_reports_garbage_replies():
    """pyserial's loop:// echoes the command back: not a reply, a clear LinkError."""
    with SerialTransport("loop://", 115200, latency=0.2) as transport:
        with pytest.raises(LinkError, match="expected the reply to PING"):
            Board(transport).ping()


@pytest.mark.parametrize("board,pins,baud", [
    ("ulx3s-85f", ("M1", "L4"), 1_000_000),
    ("orangecrab-25f", ("N17", "M18"), 3_000_000),
    ("ecpix5-85f", ("R26", "R24"), 3_000_000),
])
def test_board_top_puts_the_uart_on_the_documented_pins(board, pins, baud):
    """make_top elaborates for each board (no toolchain run) with rx/tx on the USB UART
    (ULX3S, ECPIX-5) or the Feather header pins 0/1 (OrangeCrab)."""
    from spikeforge.boards.platforms import get_board
    from spikeforge.boards.top import make_top

    cfg = CoreConfig(n_inputs=16, n_neurons=4, lanes=2, time_steps=4)
    top = make_top(cfg, board, batch_events=64, batch_outputs=16)
    assert top.baud == baud
    plan = get_board(board).platform().prepare(top, name="top")
    lpf = plan.files["top.lpf"]
    lpf = lpf.decode() if isinstance(lpf, bytes) else lpf
    assert f'LOCATE COMP "uart_0__rx__io" SITE "{pins[0]}";' in lpf
    assert f'LOCATE COMP "uart_0__tx__io" SITE "{pins[1]}";' in lpf


def test_board_top_rejects_a_baud_rate_the_clock_cannot_make():
    from spikeforge.boards.top import make_top
    from spikeforge.errors import UserError

    with pytest.raises(UserError, match="ulx3s-85f: baud rate 3000000 cannot be made from a "
                                        "25 MHz clock"):
        make_top(CFG, "ulx3s-85f", baud=3_000_000)
    with pytest.raises(UserError, match="unknown board"):
        make_top(CFG, "de10-nano")
