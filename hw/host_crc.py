"""CRC-8 of the host link as Amaranth logic (the Python twin is
:func:`spikeforge.host.protocol.crc8`; the unit tests hold them equal)."""

from amaranth.hdl import Mux, Value

__all__ = ["crc8_next"]

CRC8_POLY = 0x07


def crc8_next(crc: Value, byte: Value) -> Value:
    """CRC-8/SMBUS after one more byte: poly 0x07, MSB first, no reflection.

    Eight unrolled shift/XOR steps; Yosys reduces them to an XOR network of depth ~3.
    """
    value = (crc ^ byte)[:8]
    for _ in range(8):
        shifted = (value << 1)[:8]
        value = Mux(value[7], shifted ^ CRC8_POLY, shifted)
    return value
