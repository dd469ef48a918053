"""Frame transmitter of the host link: adds SYNC and CRC, arbitrates two frame sources."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..host.protocol import SYNC
from .host_crc import crc8_next

__all__ = ["FrameTransmitter", "FRAME_BYTE"]

#: One byte of a frame body (TYPE, LEN, PAYLOAD...) as a source hands it over;
#: ``last`` marks the final byte, after which the transmitter appends the CRC.
FRAME_BYTE = data.StructLayout({"data": 8, "last": 1})


class FrameTransmitter(wiring.Component):
    """Turns frame bodies into wire frames ``SYNC TYPE LEN PAYLOAD CRC``.

    Two sources share the line: ``reply`` (answers to commands) and ``event`` (output
    beats of the core, sent unasked in streaming mode).  A frame, once started, is sent
    whole; between frames ``reply`` wins, so a host waiting for an answer is served
    first, and output beats cannot starve because replies come one per command.

    Ports:
        reply, event: In(stream of :data:`FRAME_BYTE`), frame bodies (TYPE first).
        tx: Out(stream of bytes) to the UART transmitter.
    """

    def __init__(self):
        super().__init__({
            "reply": In(stream.Signature(FRAME_BYTE)),
            "event": In(stream.Signature(FRAME_BYTE)),
            "tx": Out(stream.Signature(8)),
        })

    def elaborate(self, platform):
        m = Module()
        crc = Signal(8)
        from_event = Signal()       # the frame being sent comes from ``event``

        source_valid = Signal()
        source_data = Signal(8)
        source_last = Signal()
        with m.If(from_event):
            m.d.comb += [source_valid.eq(self.event.valid),
                         source_data.eq(self.event.payload.data),
                         source_last.eq(self.event.payload.last)]
        with m.Else():
            m.d.comb += [source_valid.eq(self.reply.valid),
                         source_data.eq(self.reply.payload.data),
                         source_last.eq(self.reply.payload.last)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.reply.valid):
                    m.d.sync += from_event.eq(0)
                    m.next = "SYNC"
                with m.Elif(self.event.valid):
                    m.d.sync += from_event.eq(1)
                    m.next = "SYNC"
            with m.State("SYNC"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(SYNC)]
                with m.If(self.tx.ready):
                    m.d.sync += crc.eq(0)
                    m.next = "BODY"
            with m.State("BODY"):
                m.d.comb += [self.tx.valid.eq(source_valid), self.tx.payload.eq(source_data)]
                with m.If(from_event):
                    m.d.comb += self.event.ready.eq(self.tx.ready)
                with m.Else():
                    m.d.comb += self.reply.ready.eq(self.tx.ready)
                with m.If(source_valid & self.tx.ready):
                    m.d.sync += crc.eq(crc8_next(crc, source_data))
                    with m.If(source_last):
                        m.next = "CRC"
            with m.State("CRC"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(crc)]
                with m.If(self.tx.ready):
                    m.next = "IDLE"
        return m
