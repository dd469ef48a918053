"""UART receiver (8 data bits, no parity, 1 stop bit) with a ``lib.stream`` byte output."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from .uart_tx import checked_baud_divisor

__all__ = ["UARTReceiver"]


class UARTReceiver(wiring.Component):
    """Deserialises the ``rx`` line into bytes on ``data``.

    The line goes through a two-flop synchroniser (it is asynchronous to the clock).
    A falling edge starts a frame; the start bit is checked at its middle (a glitch
    shorter than half a bit is ignored), then each data bit and the stop bit are
    sampled one bit period apart.  After the middle of the stop bit the receiver waits
    for the next falling edge, so the far end's clock may be a few percent off.

    Args:
        clk_freq: clock frequency in Hz.
        baud: bit rate; see :func:`~spikeforge.hw.uart_tx.baud_divisor`.

    Ports:
        rx: In(1), the serial line (idle high).
        data: Out(stream of 8-bit bytes).  There is one byte of buffering: a byte not
            taken before the next one completes is lost and ``overrun`` pulses.
        framing_error: Out(1), pulses for one cycle when a stop bit reads 0 (the byte
            is dropped).
        overrun: Out(1), pulses for one cycle when a received byte was lost.
    """

    def __init__(self, *, clk_freq, baud):
        self.clk_freq = clk_freq
        self.baud = baud
        self.divisor = checked_baud_divisor(self, clk_freq, baud)
        super().__init__({
            "rx": In(1, init=1),
            "data": Out(stream.Signature(8)),
            "framing_error": Out(1),
            "overrun": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        divisor = self.divisor
        line = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, line, init=1)

        shift = Signal(8)
        bit_index = Signal(range(9))            # data bits received so far
        timer = Signal(range(divisor))

        with m.If(self.data.ready):
            m.d.sync += self.data.valid.eq(0)
        m.d.sync += [self.framing_error.eq(0), self.overrun.eq(0)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    # half a bit to the middle of the start bit (this cycle counts)
                    m.d.sync += timer.eq(divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer == 0):
                    with m.If(line):
                        m.next = "IDLE"          # too short: a glitch, not a start bit
                    with m.Else():
                        m.d.sync += [timer.eq(divisor - 1), bit_index.eq(0)]
                        m.next = "DATA"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(divisor - 1), shift.eq(Cat(shift[1:], line)),
                                 bit_index.eq(bit_index + 1)]
                    with m.If(bit_index == 7):
                        m.next = "STOP"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(line):
                        m.d.sync += [self.data.payload.eq(shift), self.data.valid.eq(1)]
                        with m.If(self.data.valid & ~self.data.ready):
                            m.d.sync += self.overrun.eq(1)
                    with m.Else():
                        m.d.sync += self.framing_error.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
        return m
