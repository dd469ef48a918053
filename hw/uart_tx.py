"""UART transmitter (8 data bits, no parity, 1 stop bit) with a ``lib.stream`` byte input.

:func:`baud_divisor` turns ``(clk_freq, baud)`` into the number of clock cycles per bit
and refuses rates the hardware cannot hold: fewer than :data:`MIN_DIVISOR` cycles per
bit (the receiver needs a few cycles to find the middle of a bit), or a rounding error
above :data:`MAX_BAUD_ERROR` (a UART frame tolerates about +-4 % between two ends; half
of that budget is left to the other end).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["UARTTransmitter", "baud_divisor", "MIN_DIVISOR", "MAX_BAUD_ERROR"]

MIN_DIVISOR = 4
MAX_BAUD_ERROR = 0.02


def baud_divisor(clk_freq, baud) -> int:
    """Clock cycles per UART bit for ``clk_freq`` Hz and ``baud`` bit/s.

    Raises ``ValueError`` (with what is allowed) if the rate cannot be generated.
    """
    for name, value in (("clk_freq", clk_freq), ("baud", baud)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"{name} must be a positive number of Hz / bit/s, not {value!r}")
    divisor = round(clk_freq / baud)
    if divisor < MIN_DIVISOR:
        raise ValueError(
            f"baud rate {baud} is too high for a {clk_freq / 1e6:g} MHz clock: "
            f"{clk_freq / baud:.2f} cycles per bit, at least {MIN_DIVISOR} are needed "
            f"(highest allowed baud: {int(clk_freq // MIN_DIVISOR)})")
    actual = clk_freq / divisor
    error = abs(actual - baud) / baud
    if error > MAX_BAUD_ERROR:
        raise ValueError(
            f"baud rate {baud} cannot be made from a {clk_freq / 1e6:g} MHz clock: the nearest "
            f"is {actual:.0f} bit/s ({error * 100:.1f} % off; at most {MAX_BAUD_ERROR * 100:g} % "
            f"is allowed)")
    return divisor


def checked_baud_divisor(component, clk_freq, baud) -> int:
    """:func:`baud_divisor` for a UART component's ``__init__``: a refused rate leaves the
    component unfinished and never elaborated, so its "unused" warning is silenced."""
    try:
        return baud_divisor(clk_freq, baud)
    except ValueError:
        component._MustUse__silence = True
        raise


class UARTTransmitter(wiring.Component):
    """Serialises bytes from ``data`` onto ``tx`` (idle high, LSB first, 8N1).

    Args:
        clk_freq: clock frequency in Hz.
        baud: bit rate; see :func:`baud_divisor` for the allowed range.

    Ports:
        data: In(stream of 8-bit bytes); a byte is taken as soon as the previous one's
            stop bit ends, so back-to-back bytes take exactly ``10 * divisor`` cycles.
        tx: Out(1), the serial line (1 while idle and after reset).
        busy: Out(1), a byte is being sent.
    """

    def __init__(self, *, clk_freq, baud):
        self.clk_freq = clk_freq
        self.baud = baud
        self.divisor = checked_baud_divisor(self, clk_freq, baud)
        super().__init__({
            "data": In(stream.Signature(8)),
            "tx": Out(1, init=1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        divisor = self.divisor
        shift = Signal(9)                     # data bits then the stop bit, LSB first
        bits_left = Signal(range(11))         # bit periods left in the current frame
        timer = Signal(range(divisor))        # cycles left in the current bit period
        last_tick = (bits_left == 1) & (timer == 0)
        m.d.comb += [
            self.data.ready.eq((bits_left == 0) | last_tick),
            self.busy.eq(bits_left != 0),
        ]
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += [
                self.tx.eq(0),                # start bit
                shift.eq(Cat(self.data.payload, Const(1, 1))),
                bits_left.eq(10),
                timer.eq(divisor - 1),
            ]
        with m.Elif(bits_left != 0):
            with m.If(timer == 0):
                m.d.sync += [timer.eq(divisor - 1), bits_left.eq(bits_left - 1)]
                with m.If(bits_left != 1):
                    m.d.sync += [self.tx.eq(shift[0]), shift.eq(shift >> 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m
