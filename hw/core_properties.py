"""Formal property harnesses for the core and its integration lane.

These are closed designs for bounded model checking (SymbiYosys with yosys-smtbmc, see
``tests/test_formal.py``): every input is a free variable (``AnySeq``) constrained only
by the documented environment rules (``Assume``), and the properties are ``Assert``
statements on what the ports show.  They observe public ports only; nothing inside
``TTFSCore`` is probed.

:class:`CoreProperties` (around :class:`~spikeforge.hw.core.TTFSCore`):

* environment: the producers of ``events_in`` and ``access_cmd`` hold valid and payload
  until ready and keep valid low during reset; the registers are held stable while a sample is active (``busy``);
  ``rst`` and ``counters_clear`` are free at every cycle;
* ``events_out`` and ``access_rsp`` hold their beat (valid, payload) while not ready,
  except across a reset (``events_out``'s ``cycles`` field is a separate property);
* one synapse chosen by the solver (``AnyConst``) is shadowed from the access-port
  writes; every read-back of it must show: a pruned synapse has weight 0; a pruned
  synapse never regrows (nor a mask bit appears from nowhere); without a learning
  sample since the last write, weight and mask are exactly what was written - so mask
  bits clear only during learning or through the access port, and inference never
  changes a weight.

:class:`LaneProperties` (around :class:`~spikeforge.hw.lane.IntegrationLane`): with
any weights, events, thresholds and close strobes, the potential of a solver-chosen
slot never decreases until ``clear`` (or reset), i.e. saturation never wraps.
"""

from amaranth.asserts import AnyConst, AnySeq
from amaranth.hdl import Assert, Assume, ClockDomain, Elaboratable, Module, Mux, Signal

from ..config import CoreConfig
from .core import TTFSCore
from .lane import IntegrationLane

__all__ = ["CoreProperties", "LaneProperties"]


def _stable_while(m, condition, values, name):
    """Assume every value in ``values`` equals its previous-cycle value while the
    previous cycle had ``condition`` (a registered copy; no ``Past``)."""
    for k, value in enumerate(values):
        prev = Signal.like(value, name=f"{name}_prev{k}")
        m.d.sync += prev.eq(value)
        held = Signal(name=f"{name}_held{k}")
        m.d.sync += held.eq(condition)
        m.d.comb += Assume(~held | (value == prev))


class _ClosedHarness(Elaboratable):
    """A formal harness whose only ports are ``clk`` and ``rst`` (convert with
    ``ports=self.ports``): a clock the tools can see and a reset free at every cycle."""

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {type(cfg).__name__}")
        self.cfg = cfg
        self.clk, self.rst = Signal(), Signal()
        self.ports = [self.clk, self.rst]

    def _closed_domain(self, m: Module) -> ClockDomain:
        m.domains.sync = domain = ClockDomain("sync")
        m.d.comb += [domain.clk.eq(self.clk), domain.rst.eq(self.rst)]
        return domain


class CoreProperties(_ClosedHarness):
    """Closed formal harness of :class:`TTFSCore` (see the module docstring).

    Attributes (for the test's reports): ``assert_names`` lists the property names in
    the order they are asserted.
    """

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        self._closed_domain(m)
        rst = self.rst
        core = m.submodules.core = TTFSCore(cfg)

        # ------------------------------------------------------------ free inputs
        for port in (core.events_in.valid, core.events_in.payload.as_value(),
                     core.access_cmd.valid, core.access_cmd.payload.as_value(),
                     core.events_out.ready, core.access_rsp.ready, core.threshold,
                     core.theta_p, core.a_plus, core.a_minus, core.prune_enable, core.learn,
                     core.counters_clear):
            m.d.comb += port.eq(AnySeq(len(port)))

        # ------------------------------------------------------------ environment
        for name, stream in (("events_in", core.events_in), ("access_cmd", core.access_cmd)):
            # as in AXI-Stream, producers hold valid low during reset: the core's ready
            # may be high in a reset cycle, and a read taken then would get no answer
            m.d.comb += Assume(~rst | ~stream.valid)
            stalled = stream.valid & ~stream.ready
            _stable_while(m, stalled & ~rst, [stream.valid, stream.payload.as_value()], name)
        _stable_while(m, core.busy & ~rst,
                      [core.threshold, core.theta_p, core.a_plus, core.a_minus,
                       core.prune_enable, core.learn], "registers")

        # ------------------------------------------------------------ stream rules
        def held(name, stream, fields):
            was_stalled = Signal(name=f"{name}_was_stalled", reset_less=True)
            m.d.sync += was_stalled.eq(stream.valid & ~stream.ready & ~rst)
            checks = []
            for fname, value in fields:
                prev = Signal.like(value, name=f"{name}_prev_{fname}", reset_less=True)
                m.d.sync += prev.eq(value)
                checks.append((fname, value == prev))
            m.d.comb += Assert(~was_stalled | stream.valid, f"{name}_valid_holds")
            for fname, same in checks:
                m.d.comb += Assert(~was_stalled | same, f"{name}_{fname}_holds")

        out = core.events_out.payload
        out_fields = [("neuron", out.neuron), ("time", out.time), ("end", out.end),
                      ("cycles", out.cycles)]
        held("events_out", core.events_out, out_fields)
        rsp = core.access_rsp.payload
        held("access_rsp", core.access_rsp, [("weight", rsp.weight), ("mask", rsp.mask)])

        # ------------------------------------------------------------ one shadowed synapse
        watch_input = Signal(cfg.input_index_bits)
        watch_neuron = Signal(cfg.neuron_index_bits)
        m.d.comb += [watch_input.eq(AnyConst(cfg.input_index_bits)),
                     watch_neuron.eq(AnyConst(cfg.neuron_index_bits)),
                     Assume(watch_input < cfg.n_inputs), Assume(watch_neuron < cfg.n_neurons)]
        # memories survive reset, so the shadow does too; the initial memory contents
        # are weight 0 and every synapse alive
        shadow_weight = Signal(cfg.weight_bits, reset_less=True)
        shadow_mask = Signal(init=1, reset_less=True)
        learned = Signal(reset_less=True)       # a learning sample ran since the write
        read_pending = Signal()                 # a read of the synapse awaits its answer
        cmd = core.access_cmd.payload
        cmd_taken = core.access_cmd.valid & core.access_cmd.ready & ~rst
        hits = (cmd.input == watch_input) & (cmd.neuron == watch_neuron)
        with m.If(core.learn & core.busy):
            m.d.sync += learned.eq(1)
        with m.If(cmd_taken & hits & cmd.write):
            stored = Mux(cmd.mask, cmd.weight, 0) if cfg.pruning else cmd.weight
            m.d.sync += [shadow_weight.eq(stored),
                         shadow_mask.eq(cmd.mask if cfg.pruning else 1), learned.eq(0)]
        with m.If(cmd_taken & hits & ~cmd.write):
            m.d.sync += read_pending.eq(1)
        answer = core.access_rsp.valid & read_pending
        with m.If(core.access_rsp.valid & core.access_rsp.ready):
            m.d.sync += read_pending.eq(0)
        m.d.comb += [
            Assert(~answer | rsp.mask | (rsp.weight == 0), "pruned_weight_is_zero"),
            Assert(~answer | shadow_mask | ~rsp.mask, "pruned_never_regrows"),
            Assert(~answer | ~shadow_mask | rsp.mask | learned,
                   "mask_clears_only_in_learning"),
            Assert(~answer | learned | (rsp.weight == shadow_weight),
                   "weight_changes_only_in_learning"),
        ]
        return m


class LaneProperties(_ClosedHarness):
    """Closed formal harness of :class:`IntegrationLane`: potentials never wrap."""

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        self._closed_domain(m)
        rst = self.rst
        lane = m.submodules.lane = IntegrationLane(cfg, 0)
        for port in (lane.events.valid, lane.events.payload.as_value(), lane.weight_data,
                     lane.threshold, lane.close, lane.clear):
            m.d.comb += port.eq(AnySeq(len(port)))
        # the core's contract: queued slices are never all zero, producers hold beats
        m.d.comb += Assume(~lane.events.valid | (lane.events.payload.slice != 0))
        _stable_while(m, lane.events.valid & ~lane.events.ready & ~rst,
                      [lane.events.valid, lane.events.payload.as_value()], "events")
        slot = Signal.like(lane.probe_slot)
        m.d.comb += [slot.eq(AnyConst(len(slot))), Assume(slot < cfg.slots_per_lane),
                     lane.probe_slot.eq(slot)]
        prev = Signal(cfg.potential_bits, reset_less=True)
        counting = Signal(reset_less=True)      # previous cycle neither cleared nor reset
        m.d.sync += [prev.eq(lane.probe_potential), counting.eq(~lane.clear & ~rst)]
        m.d.comb += Assert(~counting | (lane.probe_potential >= prev),
                           "potential_never_decreases")
        return m
