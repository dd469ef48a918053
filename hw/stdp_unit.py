"""The STDP and pruning arithmetic of one synapse, as a five-stage pipeline."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig

__all__ = ["STDPUnit", "STDP_UNIT_LATENCY"]

#: cycles from an input (``valid``) to its result (``out_valid``)
STDP_UNIT_LATENCY = 5


class STDPUnit(wiring.Component):
    """New weight of one synapse after an STDP update and the pruning rule.

    Implements :func:`spikeforge.golden.fixedpoint.stdp_update` followed by
    :func:`spikeforge.golden.fixedpoint.prune` for one synapse per cycle, with a latency
    of :data:`STDP_UNIT_LATENCY` cycles.  With ``cfg.pruning=False`` the prune compare is
    not generated and ``pruned`` is 0.

    Args:
        cfg: the core configuration.
        tag_bits: width of an opaque tag carried alongside each synapse (its address).

    Ports:
        valid, weight, potentiate, tag: one synapse (potentiate: 1 = LTP, the input
            spiked at or before the winner; 0 = LTD).
        a_plus, a_minus, theta_p, prune_enable: registers (held stable while busy).
        out_valid, new_weight, pruned, out_tag: the result, ``STDP_UNIT_LATENCY``
            cycles after ``valid``.
        flight_valid, flight_tag: the synapses in the stages before the output (bit
            ``i`` and tag word ``i`` are stage ``i``; the last one's result comes next
            cycle), for a caller that must know every synapse still in flight.
        busy: a synapse is in the pipeline.
    """

    def __init__(self, cfg: CoreConfig, tag_bits: int = 1):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {type(cfg).__name__}")
        if not isinstance(tag_bits, int) or tag_bits < 1:
            raise ValueError(f"tag_bits = {tag_bits!r} must be a positive integer")
        self._cfg = cfg
        super().__init__({
            "valid": In(1),
            "weight": In(cfg.weight_bits),
            "potentiate": In(1),
            "tag": In(tag_bits),
            "a_plus": In(cfg.rate_frac_bits),
            "a_minus": In(cfg.rate_frac_bits),
            "theta_p": In(cfg.weight_bits),
            "prune_enable": In(1),
            "out_valid": Out(1),
            "new_weight": Out(cfg.weight_bits),
            "pruned": Out(1),
            "out_tag": Out(tag_bits),
            "flight_valid": Out(STDP_UNIT_LATENCY - 1),
            # flat, not an ArrayLayout: Amaranth names the element wires "flight_tag[0]",
            # which collides with the bit names Yosys's ABC9 pass gives "flight_tag"
            "flight_tag": Out(tag_bits * (STDP_UNIT_LATENCY - 1)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        # One short step per stage, so that none is a long path at the design's clock:
        # stage 0 registers the synapse as the block RAM delivers it (the RAM's
        # clock-to-output time and the caller's lane multiplexer are a path of their
        # own); stage 1 registers w * (w_max - w) (a multiplier); stage 2 multiplies by
        # the chosen rate (a multiplier); stage 3 takes the ceiling of the shifted
        # product (the rounding documented in golden/fixedpoint.py: the floor plus one if
        # any bit shifted out is set, cheaper than adding 2**shift - 1 first); stage 4
        # applies it with saturation and the pruning rule.  Every stage carries the
        # synapse's valid flag, direction, weight and tag along.
        cfg = self._cfg
        m = Module()
        wb, rf = cfg.weight_bits, cfg.rate_frac_bits
        shift = wb + rf

        n_stages = STDP_UNIT_LATENCY - 1            # before the output registers
        valid = [Signal(name=f"s{i}_valid") for i in range(n_stages)]
        weight = [Signal(wb, name=f"s{i}_weight") for i in range(n_stages)]
        potentiate = [Signal(name=f"s{i}_potentiate") for i in range(n_stages)]
        tag = [Signal.like(self.tag, name=f"s{i}_tag") for i in range(n_stages)]
        sources = [(self.valid, self.weight, self.potentiate, self.tag)] + [
            (valid[i], weight[i], potentiate[i], tag[i]) for i in range(n_stages - 1)]
        for i, (v, w, p, t) in enumerate(sources):
            m.d.sync += [valid[i].eq(v), weight[i].eq(w), potentiate[i].eq(p), tag[i].eq(t)]

        product = Signal(2 * wb)                     # stage 1: w * (w_max - w)
        complement = Signal(wb)                      # w_max - w, never negative
        m.d.comb += complement.eq(cfg.w_max - weight[0])
        m.d.sync += product.eq(weight[0] * complement)

        scaled = Signal(2 * wb + rf)                 # stage 2: rate * product
        rate = Signal(rf)
        m.d.comb += rate.eq(Mux(potentiate[1], self.a_plus, self.a_minus))
        m.d.sync += scaled.eq(rate * product)

        magnitude = Signal(wb + 1)                   # stage 3: ceil(scaled / 2**shift)
        m.d.sync += magnitude.eq((scaled >> shift) + (scaled[:shift] != 0))

        w3, updated = weight[3], Signal(wb)          # stage 4: apply, saturate, prune
        up = w3 + magnitude
        with m.If(potentiate[3]):
            m.d.comb += updated.eq(Mux(up > cfg.w_max, cfg.w_max, up))
        with m.Else():
            m.d.comb += updated.eq(Mux(w3 >= magnitude, w3 - magnitude, 0))
        pruned = Signal()
        if cfg.pruning:
            m.d.comb += pruned.eq(self.prune_enable & (updated < self.theta_p))
        m.d.sync += [
            self.out_valid.eq(valid[3]),
            self.out_tag.eq(tag[3]),
            self.new_weight.eq(Mux(pruned, 0, updated)),
            self.pruned.eq(pruned),
        ]
        m.d.comb += [self.busy.eq(Cat(*valid, self.out_valid).any()),
                     self.flight_valid.eq(Cat(*valid)),
                     self.flight_tag.eq(Cat(*tag))]
        return m
