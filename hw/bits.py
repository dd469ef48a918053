"""Small combinational helpers shared by the core's components."""

from amaranth.hdl import Cat, Const, Value

__all__ = ["lowest_set_bit", "at_most_one_bit", "mixed_radix", "NARROW_WIDTH"]

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


def at_most_one_bit(value: Value) -> Value:
    """1 if at most one bit of ``value`` is set.

    A balanced tree of (any bit set, two or more set) pairs over 4-bit leaves: about
    log4 of the width in LUT levels and no carry chain (``lowest_set_bit(v)[1] == 0``
    would put one, plus a zero test, in front of the registers this feeds).
    """
    value = Value.cast(value)
    groups = [value[i:i + 4] for i in range(0, len(value), 4)]
    # a leaf: any bit set, and two or more set (any pair), one 4-input LUT each
    level = [(g.any(), Cat(*[g[i] & g[j] for i in range(len(g))
                             for j in range(i + 1, len(g))]).any() if len(g) > 1
              else Const(0, 1))
             for g in groups]
    while len(level) > 1:
        paired = []
        for i in range(0, len(level), 2):
            if i + 1 == len(level):
                paired.append(level[i])
                continue
            (any_a, many_a), (any_b, many_b) = level[i], level[i + 1]
            paired.append((any_a | any_b, many_a | many_b | (any_a & any_b)))
        level = paired
    return ~level[0][1]


def mixed_radix(major, minor, minor_count: int) -> Value:
    """``major * minor_count + minor`` for ``0 <= minor < minor_count``: a memory address
    made of a row and a column.

    With ``minor_count`` a power of two this is a concatenation.  Written as arithmetic,
    Yosys maps it to a carry chain (it cannot tell that ``minor`` never carries), which
    then sits in every memory read-address path.
    """
    if minor_count & (minor_count - 1) == 0:
        minor_bits = (minor_count - 1).bit_length()
        minor = Value.cast(minor)
        if len(minor) > minor_bits:
            minor = minor[:minor_bits]
        return Cat(minor, Const(0, minor_bits - len(minor)), major)
    return major * minor_count + minor
