"""CRC-8 of the host link as Amaranth logic (the Python twin is
:func:`spikeforge.host.protocol.crc8`; the unit tests hold them equal)."""

from amaranth.hdl import Cat, Value

__all__ = ["crc8_next", "CRC8_POLY"]

CRC8_POLY = 0x07


def _step(value: int) -> int:
    """Eight MSB-first shift/XOR steps of the CRC register (Python, for the matrix)."""
    for _ in range(8):
        value = ((value << 1) ^ CRC8_POLY) & 0xFF if value & 0x80 else (value << 1) & 0xFF
    return value


# CRC-8 is linear over GF(2): output bit i is the XOR of the input bits j with
# _TAPS[i] bit j set, where input = crc ^ byte.
_TAPS = [sum(((_step(1 << j) >> i) & 1) << j for j in range(8)) for i in range(8)]


def crc8_next(crc: Value, byte: Value) -> Value:
    """CRC-8/SMBUS (poly 0x07, MSB first, no reflection) after one more byte: one XOR
    tree per output bit (not eight chained steps, which would nest the expression)."""
    value = Value.cast(crc ^ byte)[:8]
    return Cat(*[Cat(*[value[j] for j in range(8) if (_TAPS[i] >> j) & 1]).xor()
                 for i in range(8)])
