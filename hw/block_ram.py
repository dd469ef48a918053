"""A synchronous memory read port that Yosys maps to an ECP5 block RAM with no extra logic."""

from amaranth.hdl import Module, Signal
from amaranth.lib import memory

__all__ = ["BlockRAMReadPort"]


class BlockRAMReadPort:
    """A synchronous, non-transparent read port: ``data`` is the word at ``addr``, taken
    at the clock edge where ``en`` is 1 (before a write in the same cycle), and held
    while ``en`` is 0 - the behaviour of ``memory.read_port()``.

    It is built as an asynchronous read port followed by a data register with enable,
    which Yosys' ``memory_dff`` merges into a synchronous block RAM port.  Only that
    merge applies the memory's ``no_rw_check`` attribute: a ``read_port()`` reaches
    Yosys already synchronous, so its read/write collision stays defined (read-first)
    and ``synth_ecp5`` emulates it around the DP16KD by delaying every write a cycle and
    comparing addresses on the read path (27 flip-flops and ~28 LUT4 per 512 x 8 RAM).

    Args:
        m: the module that owns the memory (the data register goes into its sync domain).
        mem: the memory; give it ``attrs={"no_rw_check": 1}`` only if the design never
            reads an address in the cycle it writes it.
        name: prefix for the port's signals.
    """

    def __init__(self, m: Module, mem: memory.Memory, *, name: str):
        port = mem.read_port(domain="comb")
        self.addr = port.addr
        self.en = Signal(init=1, name=f"{name}_en")
        self.data = Signal(mem.shape, name=f"{name}_data")
        with m.If(self.en):
            m.d.sync += self.data.eq(port.data)
