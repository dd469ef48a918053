"""The core with its host link: the whole design of a board, with the UART as pins.

This is the simulation top of the board tests (cocotb drives ``rx`` and reads ``tx``)
and what ``boards/top.py`` puts on a board's pins.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig
from .host_link import HostLink

__all__ = ["HostSystem"]


class HostSystem(wiring.Component):
    """:class:`~spikeforge.hw.core.TTFSCore` + :class:`~spikeforge.hw.host_link.HostLink`.

    Args:
        cfg: the core configuration.
        clk_freq: clock frequency in Hz; baud: UART bit rate (validated here).
        batch_events, batch_outputs: batch memory depths in beats.
        frame_timeout: inter-byte timeout in cycles (default: 50 ms).

    Ports:
        rx: In(1), tx: Out(1): the serial line (idle high).
        busy: Out(1): a sample is active in the core; batch_running: Out(1) (for LEDs).
    """

    def __init__(self, cfg: CoreConfig, *, clk_freq, baud, batch_events: int = 4096,
                 batch_outputs: int = 1024, frame_timeout: int | None = None):
        self.cfg = cfg
        self.link = HostLink(cfg, clk_freq=clk_freq, baud=baud, batch_events=batch_events,
                             batch_outputs=batch_outputs, frame_timeout=frame_timeout)
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "busy": Out(1),
            "batch_running": Out(1),
        })

    def elaborate(self, platform):
        from .core import TTFSCore   # the lead's core; imported late like hw/export.py

        m = Module()
        m.submodules.link = link = self.link
        m.submodules.core = core = TTFSCore(self.cfg)
        link.connect_core(m, core)
        m.d.comb += [
            link.rx.eq(self.rx),
            self.tx.eq(link.tx),
            self.busy.eq(core.busy),
            self.batch_running.eq(link.batch_running),
        ]
        return m
