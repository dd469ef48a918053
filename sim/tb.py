"""cocotb testbench of the TTFS layer core: driver, monitor, golden model, scoreboard.

The shape follows cocotb's ``examples/matrix_multiplier``: reusable stream drivers and
monitors around the DUT, a model that predicts, and a checker that compares in order.

Timing contract (docs/core.md, ``golden/core_model.py``): a sample's beats are
presented back to back (the next beat in the cycle after the previous one was accepted,
the end marker right after the last event); ``events_out`` is always ready; cycle 0 of a
sample (c0) is the cycle in which its first beat is accepted.  Every beat's cycle is
compared with the model's.

Efficiency (cocotb's cost is per Python wake-up, not per simulated cycle; measured in
docs/verification.md): nothing wakes up every clock edge without work to do.  Cycle
numbers come from the simulation time (the clock period is fixed), the events_in driver
only wakes up while it is presenting a beat (and waits for ``ready`` to rise when the
DUT stalls), and the monitor waits for ``valid`` to rise and then follows the clock only
while ``valid`` stays high.  These wake-ups sample the settled values in ``ReadOnly``
after the edge and drive only after the next edge (the rule in REFERENCE.md section 3
that makes Verilator and Icarus agree): ``events_in.ready`` depends combinationally on
the beat presented, so a beat needs two wake-ups.

The access port (weight load and read-back, the longest stretches of a short run) needs
only one wake-up per cycle, at the falling edge: nothing in the core moves on a falling
edge, so there both simulators show the settled values of the cycle (registers as of
the last rising edge, inputs as of the last falling edge), and an input written there
is what the next rising edge samples.  That is exact because ``access_cmd.ready`` and
the ``access_rsp`` beat are functions of registers only (docs/core.md), not of the
command being presented; each burst checks this on its first command
(:meth:`CoreTB._access_burst`).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import Event, FallingEdge, First, ReadOnly, RisingEdge, Timer
from cocotb.types import Logic

from ..config import CoreConfig, CoreRegisters
from ..golden.core_model import COUNTER_NAMES, CoreModel
from ..hw.layouts import (access_command_layout, access_response_layout, input_event_layout,
                          output_event_layout)

__all__ = ["PayloadCodec", "StreamDriver", "StreamMonitor", "Scoreboard", "Mismatch",
           "CoreTB", "CLOCK_PERIOD_NS"]

CLOCK_PERIOD_NS = 10


class PayloadCodec:
    """Packs and unpacks one ``lib.data`` struct layout to/from its integer payload,
    with the offsets and widths taken from the layout itself (first field lowest)."""

    def __init__(self, layout):
        self.fields = [(name, f.offset, (1 << f.width) - 1) for name, f in layout]
        self.width = layout.size

    def pack(self, **values) -> int:
        word = 0
        for name, offset, mask in self.fields:
            value = int(values.get(name, 0))
            if value & ~mask:
                raise ValueError(f"field {name} = {value} does not fit in {mask.bit_length()} bits")
            word |= value << offset
        return word

    def unpack(self, word: int) -> dict:
        return {name: (word >> offset) & mask for name, offset, mask in self.fields}


_LOGIC_1 = Logic("1")


def _bit(handle) -> int:
    """A 1-bit signal as 0/1 (X/Z read as 0: an undriven valid is no beat).

    A scalar signal reads as a :class:`~cocotb.types.Logic`, and those are singletons,
    so the common case is one identity test (this runs on every wake-up); a 1-bit
    vector reads as a ``LogicArray`` and takes the general path."""
    value = handle.value
    if value is _LOGIC_1:
        return 1
    if type(value) is Logic:
        return 0
    return 1 if value.is_resolvable and int(value) == 1 else 0


class CycleClock:
    """Drives ``clk`` and converts simulation time to cycle numbers.

    A cycle is numbered by the rising edge that starts it; in ``ReadOnly`` after the
    edge, ``now()`` is the number of the cycle whose values are being sampled (the
    handshake of those values happens at the next edge).
    """

    def __init__(self, clk, period_ns: int = CLOCK_PERIOD_NS, fast_clock: bool = True):
        self.clk = clk
        # impl="gpi": the clock toggles in C++, without a Python wake-up per edge
        self.clock = Clock(clk, period_ns, unit="ns", impl="gpi" if fast_clock else None)
        self.period_steps = None
        self.origin = 0

    async def start(self):
        self.clock.start(start_high=False)
        await RisingEdge(self.clk)
        self.origin = get_sim_time("step")
        await RisingEdge(self.clk)
        self.period_steps = get_sim_time("step") - self.origin

    def now(self) -> int:
        return (get_sim_time("step") - self.origin) // self.period_steps


class StreamDriver:
    """Presents beats on a ``lib.stream`` input (valid/ready/payload), back to back.

    ``send(payloads)`` returns the cycle in which each beat was accepted.  With
    ``gap_probability`` > 0 it idles a random 1-3 cycles before some beats (robustness
    runs; the timing then no longer follows the back-to-back contract).
    """

    def __init__(self, cycles: CycleClock, valid, ready, payload, rng: random.Random | None = None,
                 gap_probability: float = 0.0):
        self.cycles, self.clk = cycles, cycles.clk
        self.valid, self.ready, self.payload = valid, ready, payload
        self.rng = rng or random.Random(0)
        self.gap_probability = gap_probability
        self.valid.value = 0

    async def send(self, payloads, skip=None) -> list[int]:
        """Drive every payload; call right after a rising edge.  Returns acceptance cycles
        and leaves ``valid`` low, just after the edge of the last handshake.

        ``skip``: a signal (the core's ``decided``); when it is 1 in the cycle of a
        handshake, the driver goes on with the last payload (the end marker) and drops
        the ones in between (docs/core.md, skipping the rest of a decided sample)."""
        accepted = []
        valid, ready, payload = self.valid, self.ready, self.payload
        edge, settled, ready_rises = RisingEdge(self.clk), ReadOnly(), RisingEdge(ready)
        now, rng, gap_probability = self.cycles.now, self.rng, self.gap_probability
        position, last = 0, len(payloads) - 1
        valid_high = False          # valid is written only when it changes
        while position <= last:
            word = payloads[position]
            position += 1
            if gap_probability and rng.random() < gap_probability:
                valid.value = 0
                valid_high = False
                for _ in range(rng.randint(1, 3)):
                    await edge
            payload.value = word
            if not valid_high:
                valid.value = 1
                valid_high = True
            await settled
            while not _bit(ready):
                # stalled: sleep until ready rises (no wake-up per stalled cycle); ready
                # may glitch within a time step, so confirm it in ReadOnly
                await ready_rises
                await settled
            accepted.append(now())
            if skip is not None and position < last and _bit(skip):
                position = last
            await edge
        valid.value = 0
        return accepted


class StreamMonitor:
    """Records every beat of a ``lib.stream`` output whose ``ready`` is held high.

    Calls ``callback(payload_int, cycle)`` per beat.  Sleeps until ``valid`` rises and
    follows the clock only while it stays high.
    """

    def __init__(self, cycles: CycleClock, valid, payload, callback: Callable[[int, int], None]):
        self.cycles, self.clk = cycles, cycles.clk
        self.valid, self.payload = valid, payload
        self.callback = callback
        self._task = None

    def start(self):
        if self._task is None:
            self._task = cocotb.start_soon(self._run())

    def stop(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self):
        clk, valid, payload = self.clk, self.valid, self.payload
        await ReadOnly()
        while True:
            if _bit(valid):
                self.callback(int(payload.value), self.cycles.now())
                await RisingEdge(clk)
            else:
                await RisingEdge(valid)
            await ReadOnly()


@dataclass
class Mismatch:
    """One failed check; ``str()`` is the one-line report."""

    sample: int | None
    cycle: int | None
    neuron: int | None
    field: str
    expected: object
    got: object
    input: int | None = None

    def __str__(self):
        where = []
        if self.sample is not None:
            where.append(f"sample {self.sample}")
        if self.cycle is not None:
            where.append(f"cycle {self.cycle}")
        if self.input is not None:
            where.append(f"input {self.input}")
        if self.neuron is not None:
            where.append(f"neuron {self.neuron}")
        return (f"{', '.join(where) or 'end of run'}: {self.field}: expected {self.expected}, "
                f"got {self.got}")

    def to_dict(self):
        return {"sample": self.sample, "cycle": self.cycle, "neuron": self.neuron,
                "input": self.input, "field": self.field, "expected": _plain(self.expected),
                "got": _plain(self.got), "message": str(self)}


def _plain(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


class Scoreboard:
    """In-order checker: keeps every mismatch, remembers the first one.

    Plain Python (no simulator), so its reports can be unit-tested directly.
    """

    def __init__(self, log=None, check_cycles: bool = True, max_logged: int = 20):
        self.log = log
        self.check_cycles = check_cycles
        self.max_logged = max_logged
        self.mismatches: list[Mismatch] = []
        self.checks = 0

    @property
    def first(self) -> Mismatch | None:
        return self.mismatches[0] if self.mismatches else None

    @property
    def passed(self) -> bool:
        return not self.mismatches and self.checks > 0

    def _fail(self, mismatch: Mismatch):
        self.mismatches.append(mismatch)
        if self.log is not None and len(self.mismatches) <= self.max_logged:
            self.log.error("MISMATCH %s", mismatch)

    def check_sample(self, sample: int, expected, observed_beats, accept_cycles=None):
        """Compare one sample.

        Args:
            expected: the model's :class:`~spikeforge.golden.core_model.SampleResult`.
            observed_beats: ``(neuron, time, end, cycles, cycle)`` per output beat of the
                sample, ``cycle`` relative to c0, the end beat last.
            accept_cycles: cycle (relative to c0) of each accepted input beat.
        """
        self.checks += 1
        spikes = [b for b in observed_beats if not b[2]]
        ends = [b for b in observed_beats if b[2]]
        # input handshakes: the earliest sign of a timing divergence
        if accept_cycles is not None and len(accept_cycles) != len(expected.accept_cycles):
            self._fail(Mismatch(sample, None, None, "input beats taken",
                                len(expected.accept_cycles), len(accept_cycles)))
        if self.check_cycles and accept_cycles is not None:
            for k, (exp, got) in enumerate(zip(expected.accept_cycles, accept_cycles)):
                if exp != got:
                    self._fail(Mismatch(sample, got, None, f"input beat {k} accept cycle",
                                        exp, got))
                    break
        for k in range(max(len(expected.out_events), len(spikes))):
            exp = expected.out_events[k] if k < len(expected.out_events) else None
            got = spikes[k] if k < len(spikes) else None
            if exp is None:
                self._fail(Mismatch(sample, got[4], got[0], f"output beat {k}",
                                    "no beat", f"(neuron {got[0]}, time {got[1]})"))
                continue
            if got is None:
                self._fail(Mismatch(sample, exp[2], exp[0], f"output beat {k}",
                                    f"(neuron {exp[0]}, time {exp[1]})", "no beat"))
                continue
            for name, e, g in (("neuron", exp[0], got[0]), ("time", exp[1], got[1]),
                               ("cycle", exp[2], got[4])):
                if name == "cycle" and not self.check_cycles:
                    continue
                if e != g:
                    self._fail(Mismatch(sample, got[4], exp[0], f"output beat {k} {name}", e, g))
                    break
        if len(ends) != 1:
            self._fail(Mismatch(sample, expected.cycles, None, "end beats", 1, len(ends)))
            return
        end = ends[0]
        if self.check_cycles:
            if end[3] != expected.cycles:
                self._fail(Mismatch(sample, end[4], None, "end beat cycles payload",
                                    expected.cycles, end[3]))
            if end[4] != expected.cycles:
                self._fail(Mismatch(sample, end[4], None, "end beat cycle", expected.cycles,
                                    end[4]))

    def check_array(self, name: str, expected, got):
        """Exact compare of an ``(n_inputs, n_neurons)`` array; reports the first
        differing synapse and counts one mismatch per differing synapse."""
        self.checks += 1
        expected, got = np.asarray(expected), np.asarray(got)
        if expected.shape != got.shape:
            self._fail(Mismatch(None, None, None, f"{name} shape", expected.shape, got.shape))
            return
        bad = np.argwhere(expected != got)
        for i, j in bad:
            self._fail(Mismatch(None, None, int(j), name, _plain(expected[i, j]),
                                _plain(got[i, j]), input=int(i)))

    def check_counters(self, expected: dict, got: dict):
        """Compare the six statistics counters (``cycles`` only when cycles are checked:
        with idle gaps inside samples the RTL legitimately counts more cycles)."""
        self.checks += 1
        for name in COUNTER_NAMES:
            if name == "cycles" and not self.check_cycles:
                continue
            if int(expected[name]) != int(got[name]):
                self._fail(Mismatch(None, None, None, f"counter {name}", int(expected[name]),
                                    int(got[name])))

    def summary(self) -> dict:
        return {"passed": self.passed, "mismatches": len(self.mismatches),
                "first_mismatch": self.first.to_dict() if self.first else None,
                "mismatch_list": [m.to_dict() for m in self.mismatches[:self.max_logged]]}


@dataclass
class SampleObservation:
    beats: list = field(default_factory=list)       # (neuron, time, end, cycles, cycle rel. c0)
    accept_cycles: list = field(default_factory=list)
    c0: int = 0
    timed_out: bool = False


class CoreTB:
    """Testbench of ``TTFSCore``: clock/reset, a stream driver for ``events_in`` and a
    monitor on ``events_out``, an access-port driver (``access_cmd`` commands with their
    ``access_rsp`` answers collected in the same loop), register and counter access.
    The golden model and the scoreboard are used by :meth:`run_workload`."""

    def __init__(self, dut, cfg: CoreConfig, *, seed: int = 0, input_gap_probability: float = 0.0,
                 sample_gap_max: int = 3, fast_clock: bool = True, skip_decided: bool = False):
        self.dut, self.cfg = dut, cfg
        # the events_in driver drops the rest of a sample once the core has decided it
        self.skip_decided = skip_decided
        self.log = dut._log
        self.rng = random.Random(seed)
        self.sample_gap_max = sample_gap_max
        self.in_codec = PayloadCodec(input_event_layout(cfg))
        self.out_codec = PayloadCodec(output_event_layout(cfg))
        self.cmd_codec = PayloadCodec(access_command_layout(cfg))
        self.rsp_codec = PayloadCodec(access_response_layout(cfg))
        self.cycles = CycleClock(dut.clk, fast_clock=fast_clock)
        self.events_in = StreamDriver(self.cycles, dut.events_in__valid, dut.events_in__ready,
                                      dut.events_in__payload, self.rng, input_gap_probability)
        self._out_beats: list = []
        self._out_end = Event()
        self.events_out = StreamMonitor(self.cycles, dut.events_out__valid,
                                        dut.events_out__payload, self._on_output)

    # ------------------------------------------------------------ monitors' callbacks
    def _on_output(self, word: int, cycle: int):
        beat = self.out_codec.unpack(word)
        self._out_beats.append((beat["neuron"], beat["time"], beat["end"], beat["cycles"], cycle))
        if beat["end"]:
            self._out_end.set()

    # ------------------------------------------------------------ set-up
    def set_registers(self, regs: CoreRegisters):
        dut = self.dut
        dut.threshold.value = int(regs.threshold)
        dut.theta_p.value = int(regs.theta_p)
        dut.a_plus.value = int(regs.a_plus)
        dut.a_minus.value = int(regs.a_minus)
        dut.prune_enable.value = int(bool(regs.prune_enable))
        dut.learn.value = int(bool(regs.learn))

    async def start(self, regs: CoreRegisters):
        """Start the clock, set the registers, reset for two cycles, start monitors."""
        dut = self.dut
        dut.rst.value = 1
        dut.counters_clear.value = 0
        dut.events_in__valid.value = 0
        dut.events_out__ready.value = 1
        dut.access_cmd__valid.value = 0
        dut.access_rsp__ready.value = 1
        self.set_registers(regs)
        await self.cycles.start()
        await RisingEdge(dut.clk)
        await RisingEdge(dut.clk)
        dut.rst.value = 0
        await RisingEdge(dut.clk)
        self.events_out.start()

    # ------------------------------------------------------------ access port
    async def _access_burst(self, words, expect_responses: int, slack_cycles: int = 64):
        """Drive ``words`` on ``access_cmd`` back to back and collect ``access_rsp`` beats
        in the same loop, with one wake-up per cycle, at the falling edge (module
        docstring: valid because the port's ``ready`` and response are functions of
        registers; checked on the first command).  Returns the response payloads; stops
        ``slack_cycles`` after the last command if responses are missing.  Returns right
        after a rising edge with ``access_cmd.valid`` low."""
        dut = self.dut
        valid, ready, payload = dut.access_cmd__valid, dut.access_cmd__ready, \
            dut.access_cmd__payload
        rsp_valid, rsp_payload = dut.access_rsp__valid, dut.access_rsp__payload
        falling, settled = FallingEdge(dut.clk), ReadOnly()
        responses = []
        sent, total, idle = 0, len(words), 0
        presented = -1          # index of the word on the port
        valid_high = False
        first = True
        while sent < total or (len(responses) < expect_responses and idle < slack_cycles):
            await falling
            # the settled values of this cycle; what is written now is sampled at the
            # coming rising edge
            if _bit(rsp_valid):
                responses.append(int(rsp_payload.value))
            if sent < total:
                if presented != sent:
                    payload.value = words[sent]
                    presented = sent
                if not valid_high:
                    valid.value = 1
                    valid_high = True
                taken = _bit(ready)
                if first:
                    first = False
                    await settled
                    if _bit(ready) != taken:
                        raise RuntimeError(
                            "access_cmd.ready changed when a command was presented: it "
                            "depends on the command, so the one-wake-up-per-cycle access "
                            "driver (sim/tb.py CoreTB._access_burst) cannot be used")
                sent += taken
            else:
                if valid_high:
                    valid.value = 0
                    valid_high = False
                idle += 1
        # the last command may be taken at this rising edge: lower valid only after it
        await RisingEdge(dut.clk)
        if valid_high:
            valid.value = 0
        return responses

    async def load_weights(self, weights, mask) -> int:
        """Write every synapse's weight and mask through ``access_cmd``; returns the
        number of (unexpected) response beats seen, which must be 0."""
        cfg, pack = self.cfg, self.cmd_codec.pack
        words = [pack(write=1, input=i, neuron=j, weight=int(weights[i, j]), mask=int(mask[i, j]))
                 for i in range(cfg.n_inputs) for j in range(cfg.n_neurons)]
        responses = await self._access_burst(words, 0)
        return len(responses)

    async def read_weights(self):
        """Read every synapse back; returns ``(weights, mask, beats)``: arrays shaped
        ``(n_inputs, n_neurons)`` (None if a response is missing) and the beat count."""
        cfg, pack = self.cfg, self.cmd_codec.pack
        words = [pack(write=0, input=i, neuron=j)
                 for i in range(cfg.n_inputs) for j in range(cfg.n_neurons)]
        responses = await self._access_burst(words, len(words))
        if len(responses) != len(words):
            return None, None, len(responses)
        unpack = self.rsp_codec.unpack
        beats = [unpack(word) for word in responses]
        weights = np.array([b["weight"] for b in beats], dtype=np.int64)
        mask = np.array([b["mask"] for b in beats], dtype=bool)
        shape = (cfg.n_inputs, cfg.n_neurons)
        return weights.reshape(shape), mask.reshape(shape), len(responses)

    def read_counters(self) -> dict:
        """The six ``cnt_*`` outputs (call in ReadOnly or after an edge, when idle)."""
        return {name: int(getattr(self.dut, f"cnt_{name}").value) for name in COUNTER_NAMES}

    # ------------------------------------------------------------ one sample
    async def run_sample(self, events, timeout_cycles: int) -> SampleObservation:
        """Drive one sample (its events, then the end marker) and collect its output
        beats up to the end beat.  Call right after a rising edge."""
        pack = self.in_codec.pack
        words = [pack(index=int(i), time=int(t), end=0) for i, t in events]
        words.append(pack(end=1))
        self._out_beats = []
        self._out_end.clear()
        observation = SampleObservation()
        driver = cocotb.start_soon(self.events_in.send(
            words, self.dut.decided if self.skip_decided else None))
        deadline = Timer(timeout_cycles * CLOCK_PERIOD_NS, unit="ns")
        await First(self._out_end.wait(), deadline)
        if not self._out_end.is_set():
            driver.cancel()
            self.dut.events_in__valid.value = 0
            observation.timed_out = True
            observation.beats = list(self._out_beats)
            return observation
        accepted = await driver   # the end beat cannot precede the end marker's handshake
        observation.c0 = accepted[0]
        observation.accept_cycles = [c - observation.c0 for c in accepted]
        observation.beats = [(n, t, e, c, cyc - observation.c0)
                             for n, t, e, c, cyc in self._out_beats]
        # leave ReadOnly: the next sample is driven after an edge
        await RisingEdge(self.dut.clk)
        return observation

    async def run_checked_sample(self, board: "Scoreboard", index: int, events,
                                 expected) -> tuple[SampleObservation, str | None]:
        """Drive sample ``index`` and check it on ``board`` against the model's
        ``expected`` result.  Returns the observation and, if the end beat never came
        (recorded on ``board`` as a mismatch), why the run must stop."""
        limit = 4 * expected.cycles + 8 * len(events) + 500
        observed = await self.run_sample(events, limit)
        if observed.timed_out:
            board._fail(Mismatch(index, limit, None, "end beat", f"within {limit} cycles",
                                 f"none ({len(observed.beats)} beats seen)"))
            return observed, f"sample {index} timed out after {limit} cycles"
        board.check_sample(index, expected, observed.beats, observed.accept_cycles)
        return observed, None

    # ------------------------------------------------------------ the whole run
    async def run_workload(self, workload, *, fault: dict | None = None) -> dict:
        """Run a :class:`~spikeforge.sim.workload.Workload` against the golden model.

        ``fault`` deliberately corrupts the model's expectation (to prove the checker
        can fail): ``{"kind": "time"|"neuron"|"cycle"|"end_cycles"|"weight"|"mask"|
        "counter", "sample": k or None (the first sample with an output beat),
        "input": i, "neuron": j (for weight/mask)}``.
        """
        cfg, regs = self.cfg, workload.regs
        model = CoreModel(cfg, workload.weights, workload.mask)
        board = Scoreboard(self.log, check_cycles=self.events_in.gap_probability == 0)
        stray = await self.load_weights(model.weights, model.mask)
        if stray:
            board._fail(Mismatch(None, None, None, "access_rsp beats during the weight load",
                                 0, stray))
        cycles_rtl = cycles_golden = skipped = 0
        sample_cycles_rtl, sample_cycles_golden = [], []
        aborted = None
        fault_applied = False
        model_seconds = 0.0     # CPU time of the golden model (docs/verification.md)
        for s, events in enumerate(workload.samples):
            started = time.process_time()
            expected = model.run_sample(events, regs, skip_decided=self.skip_decided)
            model_seconds += time.process_time() - started
            if fault and not fault_applied and fault.get("sample") in (None, s):
                fault_applied = _corrupt_sample(expected, fault)
            gap = self.rng.randint(0, self.sample_gap_max) if self.sample_gap_max else 0
            for _ in range(gap):
                await RisingEdge(self.dut.clk)
            skipped += expected.skipped
            observed, aborted = await self.run_checked_sample(board, s, events, expected)
            if aborted:
                break
            end = [b for b in observed.beats if b[2]]
            rtl = end[0][3] if end else 0
            cycles_rtl += rtl
            cycles_golden += expected.cycles
            sample_cycles_rtl.append(rtl)
            sample_cycles_golden.append(expected.cycles)
        if aborted is None:
            read_w, read_m, n_beats = await self.read_weights()
            expected_w, expected_m = model.weights.copy(), model.mask.copy()
            if fault and fault.get("kind") == "weight":
                expected_w[fault.get("input", 0), fault.get("neuron", 0)] ^= 1
            if fault and fault.get("kind") == "mask":
                expected_m[fault.get("input", 0), fault.get("neuron", 0)] ^= True
            if read_w is None:
                board._fail(Mismatch(None, None, None, "access_rsp beats",
                                     cfg.n_inputs * cfg.n_neurons, n_beats))
            else:
                board.check_array("weight", expected_w, read_w)
                board.check_array("mask", expected_m, read_m)
            await RisingEdge(self.dut.clk)
            await ReadOnly()
            expected_counters = dict(model.counters)
            if fault and fault.get("kind") == "counter":
                expected_counters["syn_ops"] += 1
            board.check_counters(expected_counters, self.read_counters())
        result = board.summary()
        result.update({
            "samples": len(workload.samples),
            "samples_run": len(sample_cycles_rtl),
            "cycles_rtl": cycles_rtl, "cycles_golden": cycles_golden,
            "sample_cycles_rtl": sample_cycles_rtl, "sample_cycles_golden": sample_cycles_golden,
            "counters_golden": {k: int(v) for k, v in model.counters.items()},
            "sim_cycles": self.cycles.now(),
            "skipped_beats": skipped,
            "aborted": aborted,
            "model_seconds": round(model_seconds, 3),
        })
        return result


def _corrupt_sample(expected, fault: dict) -> bool:
    """Change the model's expectation of one sample (fault injection for checker tests).
    Returns whether this sample could be corrupted (a beat fault needs an output beat)."""
    kind = fault.get("kind", "time")
    if kind in ("time", "neuron", "cycle") and expected.out_events:
        n, t, c = expected.out_events[0]
        expected.out_events[0] = {"time": (n, t + 1, c), "neuron": (n + 1, t, c),
                                  "cycle": (n, t, c + 1)}[kind]
        return True
    if kind == "end_cycles":
        expected.cycles += 1
        return True
    return False
