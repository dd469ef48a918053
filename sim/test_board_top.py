"""cocotb tests of the simulated board top (``hw/host_system.py``: core + host link)
through its UART pins, driven by the host driver over the simulation transport.

The driver (:mod:`spikeforge.host.driver`) is the blocking code that talks to a real
board; here it runs in a :func:`cocotb.task.bridge` thread and its transport
(:class:`~spikeforge.host.sim_transport.CocotbUartTransport`) drives ``rx`` and samples
``tx`` bit by bit.  Parameters come from the JSON file named by
``SPIKEFORGE_BOARD_PARAMS`` (written by :func:`spikeforge.host.sim_board.run_board_sim`);
each test writes its result as JSON to ``result_path``.

Tests:
* ``board_run``: the ``spikeforge run`` flow (load weights, learn, infer, read back).
* ``board_errors``: malformed frames, bad checksums, unknown commands, out-of-range
  addresses and values get an ERROR reply and leave weights, registers and counters
  intact.
* ``board_timeout``: a board that never answers (held in reset) makes the driver raise
  LinkTimeoutError after its deadline instead of hanging.
"""

from __future__ import annotations

import json
import os
import struct
import time

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.task import bridge
from cocotb.triggers import ClockCycles, RisingEdge

from spikeforge.config import CoreConfig, CoreRegisters
from spikeforge.host import protocol as P
from spikeforge.host.driver import Board, BoardError
from spikeforge.host.flow import make_run_workload, run_on_board
from spikeforge.host.sim_transport import CocotbUartTransport
from spikeforge.host.transport import LinkTimeoutError

PARAMS_ENV = "SPIKEFORGE_BOARD_PARAMS"


def _params() -> dict:
    path = os.environ.get(PARAMS_ENV)
    if not path:
        raise RuntimeError(f"{PARAMS_ENV} is not set: run these tests through "
                           f"spikeforge.host.sim_board.run_board_sim")
    with open(path) as f:
        return json.load(f)


async def _start(dut, params, *, release_reset: bool = True) -> CocotbUartTransport:
    period = params["clock_period_ns"]
    Clock(dut.clk, period, unit="ns", impl="gpi").start(start_high=False)
    dut.rst.value = 1
    transport = CocotbUartTransport(dut.rx, dut.tx,
                                    bit_time_ps=params["divisor"] * period * 1000,
                                    latency=params.get("latency_cycles", 2000) * period * 1e-9)
    # a batch run of the test configs takes well under 10 ms of simulated time
    transport.batch_timeout = params.get("batch_timeout_s", 0.01)
    await ClockCycles(dut.clk, 4)
    if release_reset:
        dut.rst.value = 0
    await RisingEdge(dut.clk)
    transport.start()
    return transport


def _write(params, result):
    def plain(value):
        if isinstance(value, np.ndarray):
            return value.astype(int).tolist()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, np.integer):
            return int(value)
        return value

    with open(params["result_path"], "w") as f:
        json.dump(plain(result), f)


@cocotb.test()
async def board_run(dut):
    """The learning + inference flow of ``spikeforge run --sim``."""
    params = _params()
    cfg = CoreConfig(**params["config"])
    work = make_run_workload(cfg, dataset=params["dataset"], n_learn=params["n_learn"],
                             n_infer=params["n_infer"], seed=params["seed"])
    transport = await _start(dut, params)
    wall = time.perf_counter()
    board = Board(transport)
    report = await bridge(run_on_board)(board, work, batch=params.get("batch", True))
    report["sim_seconds"] = get_sim_time("ns") * 1e-9
    report["wall_seconds"] = time.perf_counter() - wall
    report["bytes_sent"] = transport.bytes_sent
    report["bytes_received"] = transport.bytes_received
    report["baud"] = int(1e9 / params["clock_period_ns"]) // params["divisor"]
    report["clk_freq"] = int(1e9 / params["clock_period_ns"])
    # streaming throughput: one sample of many events through STREAM_EVENTS
    if params.get("stream_events"):
        def stream_probe():
            board.set_registers(work.infer_regs)
            events = np.array([(i % cfg.n_inputs, min(cfg.time_steps - 1, i // cfg.n_inputs))
                               for i in range(params["stream_events"])], dtype=np.int64)
            events = events[np.lexsort((events[:, 0], events[:, 1]))]
            t0 = transport.now()
            out = board.stream_sample(events)
            return {"events": len(events), "seconds": transport.now() - t0,
                    "spikes": len(out.spikes)}
        report["stream_probe"] = await bridge(stream_probe)()
    _write(params, report)


@cocotb.test()
async def board_errors(dut):
    """Bad frames get ERROR replies and change nothing."""
    params = _params()
    cfg = CoreConfig(**params["config"])
    transport = await _start(dut, params)
    rng = np.random.default_rng(params.get("seed", 0))
    weights = rng.integers(0, cfg.w_max + 1, (cfg.n_inputs, cfg.n_neurons))
    mask = rng.random(weights.shape) < 0.8 if cfg.pruning else np.ones(weights.shape, bool)
    regs = CoreRegisters(threshold=min(123, cfg.potential_max), theta_p=3, a_plus=5,
                         a_minus=7, prune_enable=cfg.pruning, learn=False).validate(cfg)
    C, E = P.Command, P.ErrorCode

    def flow():
        board = Board(transport)
        board.check_config(cfg)
        board.write_weights(weights, mask)
        board.set_registers(regs)
        # one sample so that the counters are not all zero
        board.stream_sample(np.array([[0, 0], [1, 1]]))
        before_counters = board.read_counters()
        checks = []

        def expect_error(data: bytes, code: int, command: int, what: str):
            reply = board.raw_exchange(data)
            got = (reply.type, tuple(reply.payload))
            checks.append({"what": what, "expected": [P.ERROR, code, command],
                           "got": [got[0], *got[1]], "ok": got == (P.ERROR, (code, command))})

        good = P.encode_frame(C.WRITE_SYNAPSES, struct.pack("<HH", 0, 0) +
                              P.encode_synapse_entries([1], [1]))
        corrupted = bytearray(good)
        corrupted[-1] ^= 0xFF
        expect_error(bytes(corrupted), E.BAD_CHECKSUM, C.WRITE_SYNAPSES, "bad checksum")
        corrupted = bytearray(good)
        corrupted[5] ^= 0x01            # a payload bit flipped in transit
        expect_error(bytes(corrupted), E.BAD_CHECKSUM, C.WRITE_SYNAPSES, "flipped bit")
        expect_error(P.encode_frame(0x7E, b"\x01\x02"), E.UNKNOWN_COMMAND, 0x7E,
                     "unknown command")
        expect_error(P.encode_frame(C.WRITE_REG, b"\x00\x01"), E.BAD_LENGTH, C.WRITE_REG,
                     "short register write")
        expect_error(P.encode_frame(C.STREAM_EVENTS, b"\x01\x00\x00\x02"), E.BAD_LENGTH,
                     C.STREAM_EVENTS, "partial event record")
        expect_error(P.encode_frame(C.WRITE_REG, struct.pack("<BI", 12, 0)), E.BAD_ADDRESS,
                     C.WRITE_REG, "unknown register")
        expect_error(P.encode_frame(C.WRITE_REG, struct.pack("<BI", P.Reg.THETA_P,
                                                             cfg.w_max + 1)),
                     E.BAD_VALUE, C.WRITE_REG, "theta_p above w_max")
        expect_error(P.encode_frame(C.WRITE_SYNAPSES, struct.pack("<HH", cfg.n_inputs, 0) +
                                    P.encode_synapse_entries([1], [1])),
                     E.BAD_ADDRESS, C.WRITE_SYNAPSES, "input index out of range")
        expect_error(P.encode_frame(C.WRITE_SYNAPSES,
                                    struct.pack("<HH", 0, cfg.n_neurons - 1) +
                                    P.encode_synapse_entries([1, 1], [1, 1])),
                     E.BAD_ADDRESS, C.WRITE_SYNAPSES, "neuron range past the end")
        expect_error(P.encode_frame(C.READ_SYNAPSES, struct.pack("<HHB", 0, cfg.n_neurons, 1)),
                     E.BAD_ADDRESS, C.READ_SYNAPSES, "read past the last neuron")
        expect_error(P.encode_frame(C.STREAM_EVENTS, P.encode_events([(0, 0),
                                                                      (cfg.n_inputs, 0)])),
                     E.BAD_ADDRESS, C.STREAM_EVENTS, "event index out of range")
        expect_error(P.encode_frame(C.BATCH_READ, struct.pack("<HB", 500, 1)), E.BAD_ADDRESS,
                     C.BATCH_READ, "batch read out of range")
        # an incomplete frame: the board times out and resynchronises
        expect_error(good[:5], E.TIMEOUT, C.WRITE_SYNAPSES, "incomplete frame")
        try:
            board.command(C.WRITE_REG, struct.pack("<BI", P.Reg.LEARN, 7))
            checks.append({"what": "BoardError raised", "ok": False})
        except BoardError as exc:
            checks.append({"what": "BoardError raised", "ok": exc.code == E.BAD_VALUE,
                           "message": str(exc)})

        got_weights, got_mask = board.read_weights(cfg.n_inputs, cfg.n_neurons)
        regs_back = board.read_registers(P.Reg.REGISTERS.values())
        after_counters = board.read_counters()
        return {
            "checks": checks,
            "weights_intact": bool(np.array_equal(got_weights, np.where(mask, weights, 0))),
            "mask_intact": bool(np.array_equal(got_mask, mask)),
            "registers": regs_back,
            "registers_expected": [int(getattr(regs, n)) for n in P.Reg.REGISTERS],
            "counters_before": before_counters, "counters_after": after_counters,
            "stray_events": len(board.events),
        }

    result = await bridge(flow)()
    _write(params, result)


@cocotb.test()
async def board_timeout(dut):
    """A silent board: the driver raises LinkTimeoutError after its deadline."""
    params = _params()
    transport = await _start(dut, params, release_reset=False)   # held in reset: no reply

    def flow():
        board = Board(transport)
        t0 = transport.now()
        try:
            board.ping()
        except LinkTimeoutError as exc:
            return {"raised": True, "message": str(exc), "waited_s": transport.now() - t0}
        return {"raised": False, "waited_s": transport.now() - t0}

    result = await bridge(flow)()
    result["latency_s"] = transport.latency
    _write(params, result)
