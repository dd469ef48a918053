"""Build the simulated board top (core + host link, UART pins) and run cocotb on it.

The cocotb tests live in :mod:`spikeforge.sim.test_board_top`; they receive their
parameters through a JSON file named by ``SPIKEFORGE_BOARD_PARAMS`` and write their
result as JSON next to it (weights as nested lists).  Builds are cached per (config,
link parameters, hardware sources) like :mod:`spikeforge.sim.runner`'s core builds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..config import CoreConfig
from ..errors import UserError

__all__ = ["SIM_CLOCK_PERIOD_NS", "SIM_DIVISOR", "SIM_FRAME_TIMEOUT", "BoardSimBuild",
           "build_board_sim", "run_board_sim", "sim_divisor_for_baud", "PARAMS_ENV", "TOP"]

TOP = "host_system"
TEST_MODULE = "spikeforge.sim.test_board_top"
PARAMS_ENV = "SPIKEFORGE_BOARD_PARAMS"
#: the simulated board: 100 MHz clock, UART at clk/4 = 25 Mbaud (the fastest the
#: receiver allows) so that simulated link time stays short
SIM_CLOCK_PERIOD_NS = 10
SIM_DIVISOR = 4
#: inter-byte timeout of the simulated board (cycles): short, so the timeout test is fast
SIM_FRAME_TIMEOUT = 4000
_STAMP = "spikeforge_board_build.json"


@dataclass
class BoardSimBuild:
    cfg: CoreConfig
    batch_events: int
    batch_outputs: int
    build_dir: Path
    build_seconds: float
    reused: bool
    divisor: int = SIM_DIVISOR

    @property
    def clk_freq(self) -> int:
        return int(1e9 / SIM_CLOCK_PERIOD_NS)

    @property
    def baud(self) -> int:
        return self.clk_freq // self.divisor


def sim_divisor_for_baud(baud: int) -> int:
    """UART divisor of the simulated board (100 MHz clock) for ``baud``; the simulated
    host uses the same bit time, so the link runs at ``100 MHz / divisor``."""
    from ..hw.uart_tx import baud_divisor

    try:
        return baud_divisor(int(1e9 / SIM_CLOCK_PERIOD_NS), baud)
    except ValueError as exc:
        raise UserError(f"--baud {baud} for the simulated board: {exc}") from None


def build_board_sim(cfg: CoreConfig, *, batch_events: int = 1024, batch_outputs: int = 256,
                    divisor: int = SIM_DIVISOR,
                    cache_dir: Path | None = None) -> BoardSimBuild:
    """Verilog of :class:`~spikeforge.hw.host_system.HostSystem` for ``cfg``, compiled
    with Verilator (cached).  ``divisor``: UART clock cycles per bit (4 = 25 Mbaud)."""
    from ..sim import runner as core_runner

    cache_dir = Path(cache_dir) if cache_dir is not None else core_runner.default_cache_dir()
    key = {"config": cfg.to_dict(), "hw": core_runner._hw_source_digest(),
           "host_protocol": _protocol_digest(), "batch_events": batch_events,
           "batch_outputs": batch_outputs, "divisor": divisor,
           "period_ns": SIM_CLOCK_PERIOD_NS, "frame_timeout": SIM_FRAME_TIMEOUT,
           **core_runner.toolchain_key("verilator")}

    def board_verilog() -> str:
        from amaranth.back import verilog

        from ..hw.host_system import HostSystem

        clk_freq = int(1e9 / SIM_CLOCK_PERIOD_NS)
        top = HostSystem(cfg, clk_freq=clk_freq, baud=clk_freq / divisor,
                         batch_events=batch_events, batch_outputs=batch_outputs,
                         frame_timeout=SIM_FRAME_TIMEOUT)
        return verilog.convert(top, name=TOP, emit_src=False)

    build_dir, seconds, reused = core_runner.cached_build(
        sim="verilator", key=key, cache_dir=cache_dir, name="board-verilator", top=TOP,
        verilog=board_verilog, build_args=list(core_runner.VERILATOR_ARGS),
        stamp_name=_STAMP)
    return BoardSimBuild(cfg, batch_events, batch_outputs, build_dir, seconds, reused, divisor)


def _protocol_digest() -> str:
    from . import protocol

    return hashlib.sha256(Path(protocol.__file__).read_bytes()).hexdigest()


def run_board_sim(build: BoardSimBuild, params: dict, *, testcase: str,
                  work_dir: Path | None = None) -> tuple[dict | None, Path]:
    """Run one cocotb test of :mod:`spikeforge.sim.test_board_top` on ``build``.

    Returns the JSON result the test wrote (None if the simulation died first) and the
    run directory (``sim.log`` there has the log).
    """
    from ..sim.runner import run_cocotb_test

    params = dict(params, config=build.cfg.to_dict(), clock_period_ns=SIM_CLOCK_PERIOD_NS,
                  divisor=build.divisor, frame_timeout=SIM_FRAME_TIMEOUT)
    return run_cocotb_test(sim="verilator", build_dir=build.build_dir, params=params,
                           test_module=TEST_MODULE, testcase=testcase, toplevel=TOP,
                           params_env=PARAMS_ENV, work_dir=work_dir, log_level="WARNING")
