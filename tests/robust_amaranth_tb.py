"""A cycle-by-cycle amaranth.sim harness for robustness checks of the whole core.

Unlike ``core_amaranth_tb.simulate_core`` (the polite, cycle-exact protocol: back-to-back
beats, consumers always ready), this harness can

* drop ``events_out.ready`` / ``access_rsp.ready`` at random (back-pressure),
* idle ``events_in`` / ``access_cmd`` between beats at random (producer gaps; a producer
  never withdraws a beat it has presented: valid and payload hold until ready),
* present several samples as one continuous stream (the next sample's first beat waits
  at the core's input while the previous sample's STDP update and end beat go on),
* pulse the synchronous reset ``rst`` at any cycle (producers hold valid low during
  reset, as AXI-Stream requires; the core's ready may be high then),

and it checks the ``lib.stream`` rules on both output streams every cycle: once an
output beat is valid and not taken, the next cycle must present the same beat (valid
still high, payload unchanged) unless reset was asserted in between.

A scenario is an ``async def scenario(h)`` run by :func:`run_scenario` with a
:class:`CoreHarness` ``h``; everything it returns is handed back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spikeforge.config import CoreConfig, CoreRegisters
from spikeforge.golden.core_model import COUNTER_NAMES, CoreModel
from spikeforge.hw.core import COUNTER_PORTS, TTFSCore
from spikeforge.sim.fuzz import core_simulator

__all__ = ["Knobs", "CoreHarness", "run_scenario", "StreamViolation", "split_samples",
           "model_counters_without_cycles", "registers_for"]


@dataclass
class Knobs:
    """Randomisation of the environment (probabilities per cycle / per beat)."""

    out_ready: float = 1.0      # P(events_out.ready) each cycle
    rsp_ready: float = 1.0      # P(access_rsp.ready) each cycle
    in_gap: float = 0.0         # P(an idle gap of 1-3 cycles after an events_in beat)
    cmd_gap: float = 0.0        # P(an idle gap of 1-3 cycles after an access_cmd beat)


@dataclass
class StreamViolation:
    """An output beat that was valid and not taken changed or vanished next cycle."""

    port: str
    cycle: int
    before: tuple
    after: tuple

    def __str__(self):
        return (f"{self.port} at cycle {self.cycle}: beat (valid, payload) {self.before} "
                f"was not taken but became {self.after}")


@dataclass
class _Producer:
    queue: list = field(default_factory=list)
    gap_left: int = 0
    accepted_cycles: list = field(default_factory=list)


class CoreHarness:
    """Drives and observes a :class:`TTFSCore` one clock cycle at a time."""

    def __init__(self, ctx, dut: TTFSCore, rst, cfg: CoreConfig, rng, knobs: Knobs):
        self.ctx, self.dut, self.rst, self.cfg = ctx, dut, rst, cfg
        self.rng, self.knobs = rng, knobs
        self.cycle = 0
        self.events = _Producer()
        self.commands = _Producer()
        self.out_beats: list[tuple] = []       # (neuron, time, end, cycles, cycle)
        self.responses: list[tuple] = []       # (weight, mask, cycle)
        self.violations: list[StreamViolation] = []
        self._prev = {}
        self._reset_now = False

    # ---------------------------------------------------------------- one cycle
    def _drive(self, producer: _Producer, stream):
        ctx = self.ctx
        if producer.queue and producer.gap_left == 0 and not self._reset_now:
            ctx.set(stream.valid, 1)
            ctx.set(stream.payload, producer.queue[0])
            return True
        ctx.set(stream.valid, 0)
        if producer.gap_left:
            producer.gap_left -= 1
        return False

    def _after_accept(self, producer: _Producer, gap_probability: float):
        producer.queue.pop(0)
        producer.accepted_cycles.append(self.cycle)
        if gap_probability and self.rng.random() < gap_probability:
            producer.gap_left = int(self.rng.integers(1, 4))

    def _check_hold(self, name, stream, ready):
        ctx = self.ctx
        now = (int(ctx.get(stream.valid)), int(ctx.get(stream.payload.as_value())))
        prev = self._prev.get(name)
        if prev is not None and prev[0] and not prev[1] and not prev[2]:
            if now != prev[3]:
                self.violations.append(StreamViolation(name, self.cycle, prev[3], now))
        self._prev[name] = (now[0], ready, self._reset_now, now)
        return now[0]

    async def step(self, reset: bool = False):
        """One clock cycle: drive producers and ready lines, record handshakes, tick."""
        ctx, dut, rng, knobs = self.ctx, self.dut, self.rng, self.knobs
        self._reset_now = reset
        ctx.set(self.rst, int(reset))
        in_valid = self._drive(self.events, dut.events_in)
        cmd_valid = self._drive(self.commands, dut.access_cmd)
        out_ready = int(knobs.out_ready >= 1.0 or rng.random() < knobs.out_ready)
        rsp_ready = int(knobs.rsp_ready >= 1.0 or rng.random() < knobs.rsp_ready)
        ctx.set(dut.events_out.ready, out_ready)
        ctx.set(dut.access_rsp.ready, rsp_ready)
        out_valid = self._check_hold("events_out", dut.events_out, out_ready)
        rsp_valid = self._check_hold("access_rsp", dut.access_rsp, rsp_ready)
        if not reset:
            if in_valid and ctx.get(dut.events_in.ready):
                self._after_accept(self.events, knobs.in_gap)
            if cmd_valid and ctx.get(dut.access_cmd.ready):
                self._after_accept(self.commands, knobs.cmd_gap)
            if out_valid and out_ready:
                b = ctx.get(dut.events_out.payload)
                self.out_beats.append((int(b.neuron), int(b.time), int(b.end), int(b.cycles),
                                       self.cycle))
            if rsp_valid and rsp_ready:
                r = ctx.get(dut.access_rsp.payload)
                self.responses.append((int(r.weight), int(r.mask), self.cycle))
        await ctx.tick()
        self.cycle += 1

    # ---------------------------------------------------------------- helpers
    def set_registers(self, regs: CoreRegisters):
        ctx, dut = self.ctx, self.dut
        ctx.set(dut.threshold, regs.threshold)
        ctx.set(dut.theta_p, regs.theta_p)
        ctx.set(dut.a_plus, regs.a_plus)
        ctx.set(dut.a_minus, regs.a_minus)
        ctx.set(dut.prune_enable, int(regs.prune_enable))
        ctx.set(dut.learn, int(regs.learn))

    async def run_until(self, done, limit: int, what: str):
        start = self.cycle
        while not done():
            if self.cycle - start > limit:
                raise AssertionError(f"core hung: {what} not done after {limit} cycles")
            await self.step()

    async def load(self, weights, mask):
        """Write every synapse through ``access_cmd`` (with the configured gaps)."""
        cfg = self.cfg
        self.commands.queue += [{"write": 1, "input": i, "neuron": j,
                                 "weight": int(weights[i, j]), "mask": int(mask[i, j])}
                                for i in range(cfg.n_inputs) for j in range(cfg.n_neurons)]
        await self.run_until(lambda: not self.commands.queue, 20 * len(self.commands.queue) + 100,
                             "weight load")

    async def read_back(self):
        """Read every synapse; returns ``(weights, mask)``.  Responses may be
        back-pressured; the core takes the next command only after the response."""
        cfg = self.cfg
        first = len(self.responses)
        wanted = cfg.n_inputs * cfg.n_neurons
        self.commands.queue += [{"write": 0, "input": i, "neuron": j, "weight": 0, "mask": 0}
                                for i in range(cfg.n_inputs) for j in range(cfg.n_neurons)]
        await self.run_until(lambda: len(self.responses) - first >= wanted, 40 * wanted + 100,
                             "read-back")
        got = self.responses[first:first + wanted]
        shape = (cfg.n_inputs, cfg.n_neurons)
        return (np.array([r[0] for r in got], dtype=np.int64).reshape(shape),
                np.array([r[1] for r in got], dtype=bool).reshape(shape))

    def counters(self) -> dict:
        """The counter outputs, keyed like ``CoreModel.counters``."""
        return {name[4:]: int(self.ctx.get(getattr(self.dut, name))) for name in COUNTER_PORTS}

    def queue_samples(self, samples):
        """Append samples (events + end marker each) to the ``events_in`` stream."""
        for events in samples:
            self.events.queue += [{"index": int(i), "time": int(t), "end": 0} for i, t in events]
            self.events.queue.append({"index": 0, "time": 0, "end": 1})

    async def pulse_reset(self, cycles: int = 1):
        """Hold ``rst`` for ``cycles`` cycles; the producers abandon what they had not
        delivered (a reset ends the transaction, as a host would after resetting)."""
        for _ in range(cycles):
            await self.step(reset=True)
        self.events.queue.clear()
        self.events.gap_left = 0
        self.commands.queue.clear()
        self.commands.gap_left = 0

    def end_beats(self) -> int:
        return sum(1 for b in self.out_beats if b[2])

    async def run_samples(self, samples, limit_per_sample: int = 50_000):
        """Stream ``samples`` continuously and wait for all their end beats."""
        target = self.end_beats() + len(samples)
        self.queue_samples(samples)
        await self.run_until(lambda: self.end_beats() >= target,
                             limit_per_sample * max(1, len(samples)), "samples")


def run_scenario(cfg: CoreConfig, scenario, *, seed: int = 0, knobs: Knobs | None = None,
                 regs: CoreRegisters | None = None):
    """Simulate ``scenario(h)`` on a fresh core; returns ``(scenario's result, harness)``."""
    dut, domain, sim = core_simulator(cfg)
    out = {}
    rng = np.random.default_rng(seed)

    async def testbench(ctx):
        h = CoreHarness(ctx, dut, domain.rst, cfg, rng, knobs or Knobs())
        if regs is not None:
            h.set_registers(regs)
        ctx.set(dut.counters_clear, 0)
        out["harness"] = h
        out["result"] = await scenario(h)

    sim.add_testbench(testbench)
    sim.run()
    return out["result"], out["harness"]


def split_samples(out_beats):
    """Output beats -> per sample ``(spikes [(neuron, time)], end payload cycles)``."""
    samples, spikes = [], []
    for neuron, time, end, cycles, _ in out_beats:
        if end:
            samples.append((spikes, cycles))
            spikes = []
        else:
            spikes.append((neuron, time))
    assert not spikes, f"{len(spikes)} spike beat(s) after the last end beat"
    return samples


def model_counters_without_cycles(model: CoreModel) -> dict:
    """The model's counters except ``cycles`` (which back-pressure and gaps change)."""
    return {k: v for k, v in model.counters.items() if k != "cycles" and k in COUNTER_NAMES}


def registers_for(cfg: CoreConfig, rng, learn: bool, *, theta_fraction: float = 0.3,
                  spike_fraction: float = 0.3) -> CoreRegisters:
    """Registers under which neurons fire mid-sample for ``random_workload`` samples:
    threshold at ~40 % of the expected final potential (weights ~0.8 w_max)."""
    expected = 0.8 * cfg.w_max * cfg.n_inputs * spike_fraction
    return CoreRegisters(threshold=min(cfg.potential_max, int(0.4 * expected)),
                         theta_p=int(theta_fraction * cfg.w_max),
                         a_plus=int(rng.integers(1, 1 << cfg.rate_frac_bits)),
                         a_minus=int(rng.integers(1, 1 << cfg.rate_frac_bits)),
                         prune_enable=True, learn=learn)
