"""Board tops: the core with its host link on the pins of an ECP5 board.

:func:`make_top` returns the elaboratable that ``spikeforge build`` synthesizes; the
UART is the board's USB serial port where amaranth-boards defines one (``("uart", 0)``
on the ULX3S 85F and the ECPIX-5 85F, both FTDI chips) and two Feather header pins
with an external 3.3 V USB-serial adapter on the OrangeCrab 25F (its USB port is wired
to the FPGA directly, with no UART bridge):

=================  ==============================  ====================================
board              host link                       default clock / baud
=================  ==============================  ====================================
ulx3s-85f          FTDI FT231X, ``("uart", 0)``     25 MHz / 1 Mbaud (3 Mbaud needs a
                                                   PLL: 25 MHz / 3 M is 4 % off)
ecpix5-85f         FTDI FT2232, ``("uart", 0)``     36 MHz from a PLL on the 100 MHz
                                                   oscillator / 3 Mbaud (divisor 12,
                                                   exact)
orangecrab-25f     Feather pins ``0`` (FPGA rx,     48 MHz / 3 Mbaud (divisor 16, exact)
                   pin N17) and ``1`` (FPGA tx,
                   pin M18) + GND, adapter at 3.3 V
=================  ==============================  ====================================

:func:`make_sim_top` is the same design without a platform (``rx``/``tx`` plain ports),
as simulated by the cocotb board tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.build import Attrs
from amaranth.hdl import ClockDomain, Const, Elaboratable, Instance, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer
from amaranth_boards.resources import UARTResource

from ..config import CoreConfig
from ..errors import UserError

__all__ = ["make_top", "make_sim_top", "BoardTop", "drive_leds", "DEFAULT_BAUD", "ORANGECRAB_UART",
           "BOARD_PLATFORMS", "BOARD_PLLS", "PLLSetting", "board_clock_hz"]


@dataclass(frozen=True)
class PLLSetting:
    """An ECP5 ``EHXPLLL`` that makes the design clock from the board oscillator:
    ``f_out = f_in / clki_div * clkfb_div`` (feedback from CLKOP), with the VCO at
    ``f_out * clkop_div``."""
    in_mhz: float
    clki_div: int
    clkfb_div: int
    clkop_div: int

    @property
    def out_mhz(self) -> float:
        return self.in_mhz / self.clki_div * self.clkfb_div

    def check(self) -> None:
        """The data sheet's ranges (FPGA-DS-02012: PFD 3.125-400 MHz, VCO 400-800 MHz)."""
        pfd, vco = self.in_mhz / self.clki_div, self.out_mhz * self.clkop_div
        if not 3.125 <= pfd <= 400 or not 400 <= vco <= 800:
            raise ValueError(f"PLL setting {self}: PFD {pfd} MHz or VCO {vco} MHz out of range")


#: Boards whose oscillator is faster than the default core closes timing at (the
#: post-route Fmax of the default core is 42-56 MHz, docs/compare.md): the ECPIX-5's
#: 100 MHz becomes 36 MHz (100 / 25 * 9; VCO 576 MHz), which also makes 3 Mbaud exactly.
BOARD_PLLS = {"ecpix5-85f": PLLSetting(in_mhz=100.0, clki_div=25, clkfb_div=9, clkop_div=16)}


def board_clock_hz(board_name: str, platform_class) -> int:
    """The design clock of a board top: the PLL output, or the board oscillator."""
    pll = BOARD_PLLS.get(board_name)
    if pll is not None:
        return int(round(pll.out_mhz * 1e6))
    return int(platform_class().default_clk_frequency)

#: default baud rate per board (see the module docstring)
DEFAULT_BAUD = {"ulx3s-85f": 1_000_000, "ecpix5-85f": 3_000_000, "orangecrab-25f": 3_000_000}

#: the OrangeCrab's UART on its Feather header (Feather convention: D0 = RX, D1 = TX)
ORANGECRAB_UART = UARTResource(0, rx="0", tx="1", conn=("io", 0),
                               attrs=Attrs(IO_TYPE="LVCMOS33", PULLMODE="UP"))

#: used only when boards/platforms.py cannot be imported (it is the registry)
BOARD_PLATFORMS = {
    "ulx3s-85f": ("amaranth_boards.ulx3s", "ULX3S_85F_Platform"),
    "orangecrab-25f": ("amaranth_boards.orangecrab_r0_2", "OrangeCrabR0_2_25FPlatform"),
    "ecpix5-85f": ("amaranth_boards.ecpix5", "ECPIX585Platform"),
}


def _platform_class(board_name: str):
    try:
        from .platforms import get_board
    except ImportError:
        get_board = None
    if get_board is not None:
        info = get_board(board_name)       # UserError with the allowed names
        module_name, class_name = info.platform_module, info.platform_class
    else:
        if board_name not in BOARD_PLATFORMS:
            raise UserError(f"unknown board {board_name!r}: choose one of "
                            f"{', '.join(BOARD_PLATFORMS)}")
        module_name, class_name = BOARD_PLATFORMS[board_name]
    import importlib
    return getattr(importlib.import_module(module_name), class_name)


def drive_leds(m: Module, platform, values, name: str) -> None:
    """Show up to two 1-bit ``values`` on the board's first LEDs (the red and green of
    the RGB LED on boards with only RGB LEDs: OrangeCrab, ECPIX-5), through output
    buffers named ``{name}_{k}``."""
    if ("led", 0) in platform.resources:
        pins = [platform.request("led", k, dir="-") for k in range(len(values))]
    else:
        rgb = platform.request("rgb_led", 0, dir="-")
        pins = [rgb.r, rgb.g]
    for k, (pin, value) in enumerate(zip(pins, values)):
        m.submodules[f"{name}_{k}"] = buffer = io.Buffer("o", pin)
        m.d.comb += buffer.o.eq(value)


class BoardTop(Elaboratable):
    """:class:`~spikeforge.hw.host_system.HostSystem` on a board's pins.

    The design runs in the board's default clock domain (amaranth-boards derives
    ``sync`` and a power-on reset from the board oscillator); LEDs show the core's
    ``busy`` and the batch runner's ``running`` where the board has LEDs.
    """

    def __init__(self, cfg: CoreConfig, board_name: str, *, clk_freq: float, baud: int,
                 batch_events: int, batch_outputs: int):
        from ..hw.host_system import HostSystem

        self.cfg = cfg
        self.board_name = board_name
        self.clk_freq = clk_freq
        self.baud = baud
        from ..hw.uart_tx import baud_divisor

        try:
            baud_divisor(clk_freq, baud)      # checked first: nothing is half-built on error
            self.system = HostSystem(cfg, clk_freq=clk_freq, baud=baud,
                                     batch_events=batch_events, batch_outputs=batch_outputs)
        except ValueError as exc:
            raise UserError(f"board {board_name}: {exc}") from None

    def elaborate(self, platform):
        m = Module()
        m.submodules.system = system = self.system
        pll = BOARD_PLLS.get(self.board_name)
        if pll is not None:
            self._add_pll_domain(m, platform, pll)
        if self.board_name == "orangecrab-25f" and ("uart", 0) not in platform.resources:
            platform.add_resources([ORANGECRAB_UART])
        uart = platform.request("uart", 0, dir="-")    # rts/dtr (ULX3S) stay unused
        m.submodules.uart_rx_buffer = rx_buffer = io.Buffer("i", uart.rx)
        m.submodules.uart_tx_buffer = tx_buffer = io.Buffer("o", uart.tx)
        m.d.comb += [system.rx.eq(rx_buffer.i), tx_buffer.o.eq(system.tx)]

        drive_leds(m, platform, [system.busy, system.batch_running], "led_buffer")
        return m

    @staticmethod
    def _add_pll_domain(m, platform, pll: PLLSetting) -> None:
        """``sync`` from an EHXPLLL on the board oscillator, held in reset until the PLL
        locks (the platform then adds no default domain of its own)."""
        pll.check()
        clk_pin = platform.request(platform.default_clk, dir="-")
        m.submodules.clk_buffer = clk_buffer = io.Buffer("i", clk_pin)
        clk_out, locked = Signal(), Signal()
        m.domains.sync = sync = ClockDomain("sync")
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{pll.in_mhz:g}", a_FREQUENCY_PIN_CLKOP=f"{pll.out_mhz:g}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
            a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
            p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
            p_CLKI_DIV=pll.clki_div, p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=pll.clkop_div,
            p_CLKOP_CPHASE=pll.clkop_div // 2 - 1, p_CLKOP_FPHASE=0,
            p_FEEDBK_PATH="CLKOP", p_CLKFB_DIV=pll.clkfb_div,
            i_RST=Const(0), i_STDBY=Const(0), i_CLKI=clk_buffer.i, o_CLKOP=clk_out,
            i_CLKFB=clk_out, i_PHASESEL0=Const(0), i_PHASESEL1=Const(0),
            i_PHASEDIR=Const(1), i_PHASESTEP=Const(1), i_PHASELOADREG=Const(1),
            i_PLLWAKESYNC=Const(0), i_ENCLKOP=Const(0), o_LOCK=locked)
        m.d.comb += sync.clk.eq(clk_out)
        m.submodules.reset_sync = ResetSynchronizer(~locked, domain="sync")


def make_top(cfg: CoreConfig, board_name: str, *, baud: int | None = None,
             batch_events: int = 4096, batch_outputs: int = 1024) -> BoardTop:
    """The board top of ``cfg`` for ``board_name`` (ulx3s-85f, orangecrab-25f,
    ecpix5-85f); ``baud`` defaults to :data:`DEFAULT_BAUD`.  Bad parameters (a baud rate
    the board clock cannot make, batch sizes) raise :class:`UserError` here."""
    if not isinstance(cfg, CoreConfig):
        raise TypeError(f"cfg must be a CoreConfig, not {type(cfg).__name__}")
    platform_class = _platform_class(board_name)
    clk_freq = board_clock_hz(board_name, platform_class)
    if baud is None:
        baud = DEFAULT_BAUD.get(board_name, 1_000_000)
    from ..hw.uart_tx import baud_divisor

    try:
        baud_divisor(clk_freq, baud)      # before any elaboratable exists
    except ValueError as exc:
        raise UserError(f"board {board_name}: {exc}") from None
    return BoardTop(cfg, board_name, clk_freq=clk_freq, baud=baud, batch_events=batch_events,
                    batch_outputs=batch_outputs)


def make_sim_top(cfg: CoreConfig, *, clk_freq: float, baud: int, batch_events: int = 1024,
                 batch_outputs: int = 256, frame_timeout: int | None = None):
    """The same design with no platform: ``rx``/``tx`` are plain ports (cocotb)."""
    from ..hw.host_system import HostSystem

    try:
        return HostSystem(cfg, clk_freq=clk_freq, baud=baud, batch_events=batch_events,
                          batch_outputs=batch_outputs, frame_timeout=frame_timeout)
    except ValueError as exc:
        raise UserError(str(exc)) from None
