"""The ECP5 boards spikeforge builds for, and the facts the reports need about each.

Every board maps to an amaranth-boards platform class and to the device facts the
power model uses (core voltage, data-sheet static supply currents).  Only these boards
are supported; an unknown name raises :class:`~spikeforge.errors.UserError` listing the
allowed ones.

Static currents are the typical "Supply Current (Static)" figures of the ECP5/ECP5-5G
data sheet (FPGA-DS-02012) quoted in REFERENCE.md section 4.  The ECP5-5G (LFE5UM5G)
parts run their core at 1.2 V; the data sheet figure for their static current is not in
our reference, so the ECPIX-5 entry reuses the 85F currents at 1.2 V and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError

__all__ = ["BoardInfo", "BOARDS", "DEFAULT_BOARD", "get_board", "board_names"]


@dataclass(frozen=True)
class BoardInfo:
    """One supported board.

    Attributes:
        name: the name users type (``--board``).
        platform_module, platform_class: where the amaranth-boards platform lives.
        device, package, speed: the FPGA part (checked against the platform class).
        family: ``"ECP5"`` or ``"ECP5-5G"``.
        vcc: core supply voltage (V); dynamic energies scale with vcc**2.
        vccaux: auxiliary supply voltage (V).
        icc_static_ma, iccaux_static_ma: typical static supply currents (mA).
        static_source: where the static figures come from and their status.
    """

    name: str
    platform_module: str
    platform_class: str
    device: str
    package: str
    speed: str
    family: str
    vcc: float
    vccaux: float
    icc_static_ma: float
    iccaux_static_ma: float
    static_source: str

    @property
    def static_power_w(self) -> float:
        """Typical static power of the device: ICC*VCC + ICCAUX*VCCAUX (W)."""
        return (self.icc_static_ma * self.vcc + self.iccaux_static_ma * self.vccaux) / 1000.0

    def platform(self):
        """A fresh instance of the amaranth-boards platform of this board."""
        import importlib
        module = importlib.import_module(self.platform_module)
        cls = getattr(module, self.platform_class)
        plat = cls()
        if plat.device != self.device or plat.package != self.package:
            raise UserError(f"board {self.name}: amaranth-boards' {self.platform_class} is "
                            f"{plat.device}/{plat.package}, expected {self.device}/{self.package}; "
                            f"check the installed amaranth-boards version")
        return plat

    def to_dict(self) -> dict:
        return {
            "name": self.name, "platform": f"{self.platform_module}.{self.platform_class}",
            "device": self.device, "package": self.package, "speed": self.speed,
            "family": self.family, "vcc": self.vcc, "vccaux": self.vccaux,
            "icc_static_ma": self.icc_static_ma, "iccaux_static_ma": self.iccaux_static_ma,
            "static_power_w": self.static_power_w, "static_source": self.static_source,
        }


_DATASHEET = "ECP5/ECP5-5G data sheet FPGA-DS-02012, Supply Current (Static), typical"

BOARDS: dict[str, BoardInfo] = {
    "ulx3s-85f": BoardInfo(
        name="ulx3s-85f", platform_module="amaranth_boards.ulx3s",
        platform_class="ULX3S_85F_Platform", device="LFE5U-85F", package="BG381", speed="6",
        family="ECP5", vcc=1.1, vccaux=2.5, icc_static_ma=212.0, iccaux_static_ma=26.0,
        static_source=f"{_DATASHEET} (85F: ICC 212 mA, ICCAUX 26 mA)"),
    "orangecrab-25f": BoardInfo(
        name="orangecrab-25f", platform_module="amaranth_boards.orangecrab_r0_2",
        platform_class="OrangeCrabR0_2_25FPlatform", device="LFE5U-25F", package="MG285",
        speed="8", family="ECP5", vcc=1.1, vccaux=2.5, icc_static_ma=77.0,
        iccaux_static_ma=16.0,
        static_source=f"{_DATASHEET} (25F: ICC 77 mA, ICCAUX 16 mA)"),
    "ecpix5-85f": BoardInfo(
        name="ecpix5-85f", platform_module="amaranth_boards.ecpix5",
        platform_class="ECPIX585Platform", device="LFE5UM5G-85F", package="BG554", speed="8",
        family="ECP5-5G", vcc=1.2, vccaux=2.5, icc_static_ma=212.0, iccaux_static_ma=26.0,
        static_source=("ASSUMPTION: the LFE5U-85F typical currents (ICC 212 mA, ICCAUX 26 mA) "
                       "applied at the ECP5-5G core voltage of 1.2 V; the 5G figure is not in "
                       "REFERENCE.md")),
}

DEFAULT_BOARD = "ulx3s-85f"


def board_names() -> list[str]:
    """The supported board names, default first."""
    return [DEFAULT_BOARD] + sorted(n for n in BOARDS if n != DEFAULT_BOARD)


def get_board(name: str) -> BoardInfo:
    """The :class:`BoardInfo` called ``name``; a :class:`UserError` lists the allowed names."""
    try:
        return BOARDS[name]
    except (KeyError, TypeError):
        raise UserError(f"unknown board {name!r}: choose one of {', '.join(board_names())}") \
            from None
