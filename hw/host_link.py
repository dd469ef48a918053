"""The host link: UART, frame engine and batch memory, wired to the core's ports."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig
from .batch_runner import BatchRunner
from .host_event_framer import HostEventFramer
from .host_frame_tx import FrameTransmitter
from .host_protocol import HostProtocol
from .layouts import (
    access_command_layout, access_response_layout, core_control_members, input_event_layout,
    output_event_layout,
)
from .uart_rx import UARTReceiver
from .uart_tx import UARTTransmitter

__all__ = ["HostLink", "CORE_REGISTER_PORTS", "CORE_COUNTER_PORTS", "DEFAULT_FRAME_TIMEOUT_S"]

CORE_REGISTER_PORTS = ("threshold", "theta_p", "a_plus", "a_minus", "prune_enable", "learn",
                       "counters_clear")
CORE_COUNTER_PORTS = ("cnt_cycles", "cnt_syn_ops", "cnt_stdp_updates", "cnt_pruned",
                      "cnt_dropped", "cnt_samples")
#: inter-byte timeout of a frame on a real board: long enough for USB-serial adapters,
#: which deliver bytes in packets up to a few milliseconds apart
DEFAULT_FRAME_TIMEOUT_S = 0.05


def _through_fifo(m: Module, name: str, source, sink) -> SyncFIFOBuffered:
    """Connect stream ``source`` to stream ``sink`` through a 2-entry buffered FIFO
    (submodule ``name``), so that neither side's logic is on a path into the other's."""
    m.submodules[name] = buffer = SyncFIFOBuffered(
        width=len(source.payload.as_value()), depth=2)
    m.d.comb += [buffer.w_data.eq(source.payload),
                 buffer.w_en.eq(source.valid),
                 source.ready.eq(buffer.w_rdy),
                 sink.payload.eq(buffer.r_data),
                 sink.valid.eq(buffer.r_rdy),
                 buffer.r_en.eq(sink.ready)]
    return buffer


class HostLink(wiring.Component):
    """UART <-> framed commands <-> core, with batch mode.

    Streaming mode: STREAM_EVENTS beats go to the core's ``events_in`` and every output
    beat goes back to the host as an EVENT frame (through a FIFO of ``2 * n_neurons``
    beats; when it is full the core waits).  Batch mode (while a batch runs): the batch
    runner owns ``events_in`` and ``events_out``.

    Args:
        cfg: the core configuration.
        clk_freq: clock frequency in Hz; baud: UART bit rate.
        batch_events, batch_outputs: batch memory depths (beats).
        frame_timeout: inter-byte timeout in cycles (default: 50 ms of ``clk_freq``).

    Ports: ``rx`` In(1), ``tx`` Out(1) (the serial pins), and the core's ports of
    docs/core.md with flipped directions (connect them with :meth:`connect_core`).
    """

    def __init__(self, cfg: CoreConfig, *, clk_freq, baud, batch_events: int = 4096,
                 batch_outputs: int = 1024, frame_timeout: int | None = None):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {type(cfg).__name__}")
        self.cfg = cfg
        self.clk_freq = clk_freq
        self.baud = baud
        self.batch_events = batch_events
        self.batch_outputs = batch_outputs
        if frame_timeout is None:
            frame_timeout = max(16, int(clk_freq * DEFAULT_FRAME_TIMEOUT_S))
        self.frame_timeout = frame_timeout
        # build the parts now so that bad parameters fail here, with their messages
        self._uart_rx = UARTReceiver(clk_freq=clk_freq, baud=baud)
        self._uart_tx = UARTTransmitter(clk_freq=clk_freq, baud=baud)
        self._protocol = HostProtocol(cfg, batch_events=batch_events,
                                      batch_outputs=batch_outputs, frame_timeout=frame_timeout)
        self._batch = BatchRunner(cfg, batch_events=batch_events, batch_outputs=batch_outputs)
        init = self._protocol.register_init
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "events_in": Out(stream.Signature(input_event_layout(cfg))),
            "events_out": In(stream.Signature(output_event_layout(cfg))),
            "access_cmd": Out(stream.Signature(access_command_layout(cfg))),
            "access_rsp": In(stream.Signature(access_response_layout(cfg))),
            **core_control_members(cfg, init),
            "decided": In(1),          # the core's: the batch runner skips on it
            "batch_running": Out(1),
        })

    def connect_core(self, m: Module, core) -> None:
        """Wire every core port of docs/core.md to this link (in module ``m``)."""
        for name in ("events_in", "access_cmd"):
            ours, theirs = getattr(self, name), getattr(core, name)
            m.d.comb += [theirs.payload.eq(ours.payload), theirs.valid.eq(ours.valid),
                         ours.ready.eq(theirs.ready)]
        for name in ("events_out", "access_rsp"):
            ours, theirs = getattr(self, name), getattr(core, name)
            m.d.comb += [ours.payload.eq(theirs.payload), ours.valid.eq(theirs.valid),
                         theirs.ready.eq(ours.ready)]
        for name in CORE_REGISTER_PORTS:
            m.d.comb += getattr(core, name).eq(getattr(self, name))
        for name in CORE_COUNTER_PORTS + ("busy", "decided"):
            m.d.comb += getattr(self, name).eq(getattr(core, name))

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.uart_rx = uart_rx = self._uart_rx
        m.submodules.uart_tx = uart_tx = self._uart_tx
        m.submodules.protocol = protocol = self._protocol
        m.submodules.batch = batch = self._batch
        m.submodules.framer = framer = HostEventFramer(cfg)
        m.submodules.frame_tx = frame_tx = FrameTransmitter()
        m.submodules.out_fifo = out_fifo = SyncFIFOBuffered(
            width=len(self.events_out.payload.as_value()), depth=2 * cfg.n_neurons)

        m.d.comb += [uart_rx.rx.eq(self.rx), self.tx.eq(uart_tx.tx)]
        wiring.connect(m, uart_rx.data, protocol.rx)
        wiring.connect(m, protocol.reply, frame_tx.reply)
        wiring.connect(m, framer.frames, frame_tx.event)
        wiring.connect(m, frame_tx.tx, uart_tx.data)

        # UART errors, saturating
        link_errors = Signal(16)
        with m.If((uart_rx.framing_error | uart_rx.overrun) & (link_errors != 0xFFFF)):
            m.d.sync += link_errors.eq(link_errors + 1)
        m.d.comb += protocol.link_errors.eq(link_errors)

        # registers and counters
        for name in CORE_REGISTER_PORTS:
            m.d.comb += getattr(self, name).eq(getattr(protocol, name))
        for name in CORE_COUNTER_PORTS:
            m.d.comb += getattr(protocol, name).eq(getattr(self, name))

        # access port: only the protocol engine uses it.  Commands and responses pass
        # through small FIFOs (commands: the same kind as the host's event stream below,
        # so neither overtakes the other), so that neither the core's weight-RAM address
        # multiplexer nor the protocol engine's shift register sits on a path from the
        # other's logic (a response's weight comes straight from block RAM).
        access_fifo = _through_fifo(m, "access_fifo", protocol.access_cmd, self.access_cmd)
        response_fifo = _through_fifo(m, "response_fifo", self.access_rsp, protocol.access_rsp)

        # batch runner control and status
        wiring.connect(m, protocol.batch_load, batch.load)
        m.d.comb += [
            batch.clear.eq(protocol.batch_clear),
            batch.start.eq(protocol.batch_start),
            batch.decided.eq(self.decided),
            protocol.batch_running.eq(batch.running),
            protocol.batch_loaded.eq(batch.loaded),
            protocol.batch_last_is_end.eq(batch.last_is_end),
            protocol.batch_captured.eq(batch.outputs),
            protocol.batch_overflow.eq(batch.overflow),
            protocol.batch_cycles.eq(batch.cycles),
            batch.read_addr.eq(protocol.batch_read_addr),
            protocol.batch_read_data.eq(batch.read_data),
            self.batch_running.eq(batch.running),
        ]

        # events_in: the batch runner while it runs, else the host's stream, both from the
        # runner's head register (its stream_in).  The host's beats pass through a small
        # FIFO, so that the protocol engine sees the FIFO's registered ``w_rdy`` rather
        # than the core's ``ready``, which depends on the beat (static timing would
        # otherwise follow the batch runner's beat through the core into the protocol
        # engine, a path that never carries a beat).  UART-paced streaming loses nothing
        # by the FIFO's cycle of latency.
        stream_fifo = _through_fifo(m, "stream_fifo", protocol.events_in, batch.stream_in)
        # beats and commands still in the FIFOs or in the batch runner's head count as a
        # busy core: the protocol's state checks (writes, read-back, batch start) then keep
        # their order after a stream frame (``level``, not ``r_rdy``: an entry just
        # written is counted before it is readable)
        m.d.comb += protocol.busy.eq(self.busy | (stream_fifo.level != 0) | batch.holding
                                     | (access_fifo.level != 0) | (response_fifo.level != 0))
        wiring.connect(m, batch.events_in, wiring.flipped(self.events_in))

        # events_out: into the batch memory while a batch runs, else up the link
        m.d.comb += [batch.events_out.payload.eq(self.events_out.payload),
                     out_fifo.w_data.eq(self.events_out.payload)]
        with m.If(batch.running):
            m.d.comb += [batch.events_out.valid.eq(self.events_out.valid),
                         self.events_out.ready.eq(batch.events_out.ready)]
        with m.Else():
            m.d.comb += [out_fifo.w_en.eq(self.events_out.valid),
                         self.events_out.ready.eq(out_fifo.w_rdy)]
        m.d.comb += [framer.beats.payload.eq(out_fifo.r_data),
                     framer.beats.valid.eq(out_fifo.r_rdy),
                     out_fifo.r_en.eq(framer.beats.ready)]
        return m
