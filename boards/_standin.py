"""Small known designs for exercising the build flow and the power model.

These are not the spikeforge core: they are designs whose activity is known in closed
form, so the flow and the estimator can be checked against arithmetic:

- :class:`Counter`: a free-running binary counter; bit ``i`` toggles once every
  ``2**i`` cycles.
- :class:`ToggleChain`: a chain of flip-flops fed by a flip-flop that inverts every
  cycle, so (after the chain has filled) every register toggles every cycle.  It is the
  design of the public flip-flop power measurement (targeted/fpga-reg-power).
- :class:`StandinTop`: a board top that drives LEDs from a counter and a chain, so that
  nothing is optimized away; it takes the place of ``boards/top.py`` in flow tests.
"""

from __future__ import annotations

from amaranth import Cat, Elaboratable, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .top import drive_leds

__all__ = ["Counter", "ToggleChain", "StandinDesign", "StandinTop"]


class Counter(wiring.Component):
    """A ``width``-bit free-running counter (wraps), counting while ``enable`` is high."""

    def __init__(self, width: int = 8):
        if not isinstance(width, int) or not 1 <= width <= 64:
            raise ValueError(f"Counter width must be an integer from 1 to 64, not {width!r}")
        self.width = width
        super().__init__({"enable": In(1, init=1), "count": Out(width)})

    def elaborate(self, platform):
        m = Module()
        with m.If(self.enable):
            m.d.sync += self.count.eq(self.count + 1)
        return m


class ToggleChain(wiring.Component):
    """``length`` registers in a chain fed by a half-rate square wave.

    The source register inverts every cycle while ``enable`` is high; each chain register
    copies its predecessor, so in steady state every register makes one transition per
    cycle.  ``taps`` exposes every chain register (so the chain is observable)."""

    def __init__(self, length: int = 16):
        if not isinstance(length, int) or not 1 <= length <= 4096:
            raise ValueError(f"ToggleChain length must be an integer from 1 to 4096, "
                             f"not {length!r}")
        self.length = length
        super().__init__({"enable": In(1, init=1), "taps": Out(length)})

    def elaborate(self, platform):
        m = Module()
        source = Signal()
        with m.If(self.enable):
            m.d.sync += source.eq(~source)
        m.d.sync += self.taps.eq(Cat(source, self.taps[:-1]))
        return m


class StandinDesign(wiring.Component):
    """A counter and a toggle chain side by side, each with its own enable and a one-bit
    output (the counter's MSB, the chain's last register: the whole chain is needed to
    produce it, and no logic is added after it, as in the public measurement)."""

    def __init__(self, counter_width: int = 16, chain_length: int = 16):
        self.counter_width = counter_width
        self.chain_length = chain_length
        super().__init__({"counter_enable": In(1, init=1), "chain_enable": In(1, init=1),
                          "counter_msb": Out(1), "chain_out": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.counter = counter = Counter(self.counter_width)
        m.submodules.chain = chain = ToggleChain(self.chain_length)
        m.d.comb += [
            counter.enable.eq(self.counter_enable),
            chain.enable.eq(self.chain_enable),
            self.counter_msb.eq(counter.count[-1]),
            self.chain_out.eq(chain.taps[-1]),
        ]
        return m


class StandinTop(Elaboratable):
    """Board top around :class:`StandinDesign`: its outputs drive LEDs 0 and 1
    (or the red and green of RGB LED 0 on boards without plain LEDs).

    Runs in the board's default clock domain (amaranth-boards creates ``sync`` from the
    board oscillator)."""

    def __init__(self, counter_width: int = 16, chain_length: int = 16):
        super().__init__()
        self.counter_width = counter_width
        self.chain_length = chain_length

    def elaborate(self, platform):
        m = Module()
        m.submodules.design = design = StandinDesign(self.counter_width, self.chain_length)
        drive_leds(m, platform, [design.counter_msb, design.chain_out], "led_buf")
        return m
