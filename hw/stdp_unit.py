"""The STDP and pruning arithmetic of one synapse, as a two-stage pipeline."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig

__all__ = ["STDPUnit", "STDP_UNIT_LATENCY"]

#: cycles from an input (``valid``) to its result (``out_valid``)
STDP_UNIT_LATENCY = 2


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
        mid_valid, mid_tag: the synapse in the middle stage (the one whose result comes
            next cycle), for a caller that must know every synapse still in flight.
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
            "mid_valid": Out(1),
            "mid_tag": Out(tag_bits),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        # Stage 1 registers w * (w_max - w) (the weight comes straight from block RAM);
        # stage 2 multiplies by the chosen rate, takes the ceiling of the shifted
        # product (the rounding documented in golden/fixedpoint.py), applies it with
        # saturation and the pruning rule, and registers the result.  Two short stages
        # instead of one long path from the RAM to the write-back.
        cfg = self._cfg
        m = Module()
        wb, rf = cfg.weight_bits, cfg.rate_frac_bits
        shift = wb + rf

        s1_valid = Signal()
        s1_weight = Signal(wb)
        s1_potentiate = Signal()
        s1_tag = Signal.like(self.tag)
        s1_product = Signal(2 * wb)
        complement = Signal(wb)                      # w_max - w, never negative
        m.d.comb += complement.eq(cfg.w_max - self.weight)
        m.d.sync += [
            s1_valid.eq(self.valid),
            s1_weight.eq(self.weight),
            s1_potentiate.eq(self.potentiate),
            s1_tag.eq(self.tag),
            s1_product.eq(self.weight * complement),
        ]

        rate = Signal(rf)
        scaled = Signal(2 * wb + rf)
        magnitude = Signal(wb + 1)
        updated = Signal(wb)
        up = s1_weight + magnitude
        m.d.comb += [
            rate.eq(Mux(s1_potentiate, self.a_plus, self.a_minus)),
            scaled.eq(rate * s1_product),
            magnitude.eq((scaled + ((1 << shift) - 1)) >> shift),
        ]
        with m.If(s1_potentiate):
            m.d.comb += updated.eq(Mux(up > cfg.w_max, cfg.w_max, up))
        with m.Else():
            m.d.comb += updated.eq(Mux(s1_weight >= magnitude, s1_weight - magnitude, 0))
        pruned = Signal()
        if cfg.pruning:
            m.d.comb += pruned.eq(self.prune_enable & (updated < self.theta_p))
        m.d.sync += [
            self.out_valid.eq(s1_valid),
            self.out_tag.eq(s1_tag),
            self.new_weight.eq(Mux(pruned, 0, updated)),
            self.pruned.eq(pruned),
        ]
        m.d.comb += [self.busy.eq(s1_valid | self.out_valid),
                     self.mid_valid.eq(s1_valid),
                     self.mid_tag.eq(s1_tag)]
        return m
