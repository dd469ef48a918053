"""The STDP and pruning arithmetic of one synapse (combinational)."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig

__all__ = ["STDPUnit"]


class STDPUnit(wiring.Component):
    """New weight of one synapse after an STDP update and the pruning rule.

    Implements :func:`spikeforge.golden.fixedpoint.stdp_update` followed by
    :func:`spikeforge.golden.fixedpoint.prune` for one synapse.  With
    ``cfg.pruning=False`` the prune compare is not generated and ``pruned`` is 0.

    Ports:
        weight: the current weight.
        potentiate: 1 = LTP (input spiked at or before the winner), 0 = LTD.
        a_plus, a_minus: rate magnitudes (``rate_frac_bits`` fractional bits).
        theta_p, prune_enable: the pruning rule's registers.
        new_weight: the weight to write back.
        pruned: the pruning rule cleared this synapse.
    """

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {type(cfg).__name__}")
        self._cfg = cfg
        super().__init__({
            "weight": In(cfg.weight_bits),
            "potentiate": In(1),
            "a_plus": In(cfg.rate_frac_bits),
            "a_minus": In(cfg.rate_frac_bits),
            "theta_p": In(cfg.weight_bits),
            "prune_enable": In(1),
            "new_weight": Out(cfg.weight_bits),
            "pruned": Out(1),
        })

    def elaborate(self, platform):
        # One multiplier: the rate is chosen before the product.  The magnitude is the
        # ceiling of rate * w * (w_max - w) / 2**(weight_bits + rate_frac_bits), the
        # rounding documented in golden/fixedpoint.py.
        cfg = self._cfg
        m = Module()
        shift = cfg.weight_bits + cfg.rate_frac_bits
        w = self.weight
        rate = Signal(cfg.rate_frac_bits)
        complement = Signal(cfg.weight_bits)          # w_max - w, never negative
        product = Signal(2 * cfg.weight_bits + cfg.rate_frac_bits)
        magnitude = Signal(cfg.weight_bits + 1)
        updated = Signal(cfg.weight_bits)
        m.d.comb += [
            rate.eq(Mux(self.potentiate, self.a_plus, self.a_minus)),
            complement.eq(cfg.w_max - w),
            product.eq(rate * (w * complement)),
            magnitude.eq((product + ((1 << shift) - 1)) >> shift),
        ]
        up = w + magnitude
        with m.If(self.potentiate):
            m.d.comb += updated.eq(Mux(up > cfg.w_max, cfg.w_max, up))
        with m.Else():
            m.d.comb += updated.eq(Mux(w >= magnitude, w - magnitude, 0))
        if cfg.pruning:
            m.d.comb += self.pruned.eq(self.prune_enable & (updated < self.theta_p))
            m.d.comb += self.new_weight.eq(Mux(self.pruned, 0, updated))
        else:
            m.d.comb += self.new_weight.eq(updated)
        return m
