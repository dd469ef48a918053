"""The batch runner on its own (amaranth.sim): replay without bubbles, and skipping the
rest of a decided sample, held against a reference replay written from docs/core.md."""

import random

import pytest
from amaranth.sim import Simulator

from spikeforge.config import CoreConfig
from spikeforge.hw.batch_runner import BatchRunner

CFG = CoreConfig(n_inputs=16, n_neurons=4, lanes=1, time_steps=8)


def reference_replay(samples, decided_after):
    """The beats a skipping producer offers: ``decided`` rises once event
    ``decided_after[k]`` of sample k has been taken (None: never); the next beat is
    still delivered (it is taken while ``decided`` is 1), then the end marker."""
    beats = []
    for k, events in enumerate(samples):
        cut = decided_after[k]
        kept = events if cut is None else events[:cut + 2]
        beats += [(i, t, 0) for i, t in kept] + [(0, 0, 1)]
    return beats


def run_batch(samples, decided_after, stall_probability, seed):
    """Load the samples, run them with ``decided`` raised once event ``decided_after[k]``
    of sample k has been taken (as the core raises it after its WTA), random consumer
    stalls, and every end marker answered by an end beat; returns the beats taken."""
    dut = BatchRunner(CFG, batch_events=64, batch_outputs=16)
    rng = random.Random(seed)
    taken = []

    async def bench(ctx):
        for events in samples:
            for beat in [*events, None]:
                payload = {"index": 0, "time": 0, "end": 1} if beat is None else \
                    {"index": beat[0], "time": beat[1], "end": 0}
                ctx.set(dut.load.payload, payload)
                ctx.set(dut.load.valid, 1)
                await ctx.tick().until(dut.load.ready)
        ctx.set(dut.load.valid, 0)
        ctx.set(dut.events_out.payload, {"neuron": 0, "time": 0, "end": 1, "cycles": 0})
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        sample, in_sample, answer = 0, 0, False
        last_answer = None
        for cycle in range(500):
            if not ctx.get(dut.running):
                # it stops right after the last end beat comes back, having counted
                # every cycle it ran
                assert cycle == last_answer + 1
                assert ctx.get(dut.cycles) == cycle
                break
            ready = rng.random() >= stall_probability
            ctx.set(dut.events_in.ready, ready)
            ctx.set(dut.events_out.valid, answer)
            if answer:
                last_answer = cycle
            answer = False
            cut = decided_after[sample] if sample < len(samples) else None
            ctx.set(dut.decided, cut is not None and in_sample > cut)
            if ctx.get(dut.events_in.valid) and ready:
                beat = ctx.get(dut.events_in.payload)
                taken.append((beat.index, beat.time, beat.end))
                if beat.end:
                    sample, in_sample, answer = sample + 1, 0, True
                else:
                    in_sample += 1
            await ctx.tick()
        else:
            raise AssertionError("the batch did not finish")
        ctx.set(dut.events_out.valid, 0)
        assert ctx.get(dut.outputs) == len(samples)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return taken


@pytest.mark.parametrize("stall_probability", [0.0, 0.4])
@pytest.mark.parametrize("seed", range(3))
def test_skips_to_the_end_marker_after_decided(stall_probability, seed):
    rng = random.Random(100 + seed)
    samples, decided_after = [], []
    for _ in range(10):
        n = rng.randint(0, 9)
        samples.append([(rng.randrange(16), t) for t in sorted(rng.randrange(8) for _ in range(n))])
        # decided after some event but the first (a core decides several cycles after a
        # sample's first beat), or never (inference, or no winner)
        decided_after.append(rng.randrange(1, n) if n > 1 and rng.random() < 0.7 else None)
    assert any(c is not None and c < len(s) - 2 for c, s in zip(decided_after, samples))
    taken = run_batch(samples, decided_after, stall_probability, seed)
    assert taken == reference_replay(samples, decided_after)


def test_a_decision_in_the_first_cycles_of_a_sample_skips_once_the_end_address_is_current():
    # the second sample begins the cycle after the first one's end marker; decided right
    # after its first event: the second event is still delivered (its end marker's
    # address is not current two cycles into the sample), and the third, taken while
    # decided is 1, is the last one before the end marker
    samples = [[(1, 0), (2, 1)], [(6, 0), (7, 1), (8, 2), (9, 3)]]
    taken = run_batch(samples, [None, 0], 0.0, 0)
    assert taken == [(1, 0, 0), (2, 1, 0), (0, 0, 1),
                     (6, 0, 0), (7, 1, 0), (8, 2, 0), (0, 0, 1)]
    assert reference_replay(samples, [None, 0])[3:] == [(6, 0, 0), (7, 1, 0), (0, 0, 1)]


def test_without_decided_every_beat_is_replayed():
    samples = [[(1, 0), (2, 1), (3, 1)], [], [(4, 2)]]
    taken = run_batch(samples, [None] * 3, 0.0, 0)
    assert taken == reference_replay(samples, [None] * 3)
    assert len(taken) == 3 + 1 + 0 + 1 + 1 + 1


@pytest.mark.parametrize("stall_probability", [0.0, 0.5])
def test_streamed_beats_pass_through_the_head_in_order(stall_probability):
    # no batch runs: the host's beats reach the core through the head register, in
    # order, none lost or repeated under consumer stalls; a batch start is ignored while
    # a beat is held (the protocol counts ``holding`` as busy)
    dut = BatchRunner(CFG, batch_events=16, batch_outputs=16)
    rng = random.Random(7)
    beats = [(rng.randrange(16), t, 0) for t in range(8)] + [(0, 0, 1)]
    taken, held_starts = [], []

    async def bench(ctx):
        pending = list(beats)
        for _ in range(200):
            if not pending and len(taken) == len(beats):
                break
            if pending:
                index, time, end = pending[0]
                ctx.set(dut.stream_in.payload, {"index": index, "time": time, "end": end})
            ctx.set(dut.stream_in.valid, bool(pending))
            ready = rng.random() >= stall_probability
            ctx.set(dut.events_in.ready, ready)
            if ctx.get(dut.holding) and not held_starts:
                ctx.set(dut.start, 1)                  # must be ignored
                held_starts.append(True)
            else:
                ctx.set(dut.start, 0)
            if ctx.get(dut.events_in.valid) and ready:
                beat = ctx.get(dut.events_in.payload)
                taken.append((beat.index, beat.time, beat.end))
            if pending and ctx.get(dut.stream_in.ready):
                pending.pop(0)
            await ctx.tick()
            assert not ctx.get(dut.running)
        else:
            raise AssertionError("the stream did not drain")
        assert not ctx.get(dut.holding)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert taken == beats
    assert held_starts == [True]
