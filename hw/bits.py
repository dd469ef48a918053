"""Small combinational helpers shared by the core's components."""

from amaranth.hdl import Cat, Const, Value

__all__ = ["lowest_set_bit"]


def lowest_set_bit(value: Value):
    """Index of the lowest set bit of ``value`` and ``value`` with that bit cleared.

    Uses ``v & -v`` (one carry chain) to isolate the bit and OR trees to encode it,
    instead of a priority-mux chain whose depth would grow with the width.  For
    ``value == 0`` the index is 0 (callers test ``value != 0`` themselves).
    """
    width = len(value)
    one_hot_expr = (value & (~value + 1))[:width]
    index_bits = max(1, (width - 1).bit_length())
    # index bit b is set when the isolated bit sits at a position with bit b set
    index = Cat(*[
        (one_hot_expr & Const(sum(1 << i for i in range(width) if (i >> b) & 1), width)).any()
        for b in range(index_bits)
    ])
    cleared = (value & (value - 1))[:width]
    return index, cleared
