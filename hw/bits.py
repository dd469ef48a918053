"""Small combinational helpers shared by the core's components."""

from amaranth.hdl import Cat, Const, Value

__all__ = ["lowest_set_bit", "NARROW_WIDTH"]

#: values up to this width are encoded without a carry chain (see lowest_set_bit)
NARROW_WIDTH = 8


def lowest_set_bit(value: Value):
    """Index of the lowest set bit of ``value`` and ``value`` with that bit cleared.

    Up to :data:`NARROW_WIDTH` bits (a lane's slice) the bit is isolated by plain logic,
    ``v[i] & ~any(v[:i])``, which maps to a few LUT levels; wider values (column-mask
    words) use ``v & -v``, one carry chain, instead of a priority-mux chain whose depth
    would grow with the width.  OR trees encode the bit.  For ``value == 0`` the index
    is 0 (callers test ``value != 0`` themselves).
    """
    width = len(value)
    if width <= NARROW_WIDTH:
        # no carry chain on a narrow value: its routing in and out costs more than logic
        one_hot_expr = Cat(*[value[i] & ~value[:i].any() if i else value[0]
                             for i in range(width)])
    else:
        one_hot_expr = (value & (~value + 1))[:width]
    index_bits = max(1, (width - 1).bit_length())
    # index bit b is set when the isolated bit sits at a position with bit b set
    index = Cat(*[
        (one_hot_expr & Const(sum(1 << i for i in range(width) if (i >> b) & 1), width)).any()
        for b in range(index_bits)
    ])
    cleared = value & ~one_hot_expr
    return index, cleared
