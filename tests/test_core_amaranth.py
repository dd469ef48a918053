"""Whole-core and sub-block checks in amaranth.sim, held bit- and cycle-exactly against
the golden model (the Verilog-level regression is in tests/test_cocotb_core.py)."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from core_amaranth_tb import check_against_model, random_workload
from spikeforge.config import PENDING_STEPS_INFER, CoreConfig, CoreRegisters
from spikeforge.golden import fixedpoint as fx
from spikeforge.hw.bits import at_most_one_bit, lowest_set_bit, mixed_radix
from spikeforge.hw.stdp_unit import STDP_UNIT_LATENCY, STDPUnit


def _registers(cfg, rng, learn, theta_fraction=0.3):
    # Threshold at ~40 % of the expected final potential, so neurons fire mid-sample.
    expected = 0.8 * cfg.w_max * cfg.n_inputs * 0.3
    return CoreRegisters(threshold=min(cfg.potential_max, int(0.4 * expected)),
                         theta_p=int(theta_fraction * cfg.w_max),
                         a_plus=int(rng.integers(1, 1 << cfg.rate_frac_bits)),
                         a_minus=int(rng.integers(1, 1 << cfg.rate_frac_bits)),
                         prune_enable=True, learn=learn)


def _check(cfg, seed, learn, n_samples=3, prune_fraction=0.3, invalid=False, theta=0.3):
    rng = np.random.default_rng(seed)
    weights, mask, samples = random_workload(cfg, rng, n_samples, prune_fraction=prune_fraction,
                                             invalid=invalid)
    regs = _registers(cfg, rng, learn, theta)
    return check_against_model(cfg, weights, mask, samples, regs)


CONFIGS = [
    CoreConfig(n_inputs=20, n_neurons=6, lanes=2, time_steps=8, weight_bits=6, potential_bits=12),
    CoreConfig(n_inputs=37, n_neurons=13, lanes=4, time_steps=8, weight_bits=4, potential_bits=9),
    CoreConfig(n_inputs=40, n_neurons=9, lanes=1, time_steps=16, weight_bits=10, potential_bits=16),
    CoreConfig(n_inputs=26, n_neurons=10, lanes=8, time_steps=32, fifo_depth=2),
    CoreConfig(n_inputs=24, n_neurons=8, lanes=4, time_steps=8, pruning=False),
]


@pytest.mark.parametrize("learn", [False, True], ids=["infer", "learn"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"N{c.n_inputs}n{c.n_neurons}L{c.lanes}"
                         f"w{c.weight_bits}T{c.time_steps}{'p' if c.pruning else 'u'}")
def test_core_matches_model(cfg, learn):
    _check(cfg, seed=cfg.n_inputs * 7 + learn, learn=learn)


def test_learning_prunes_and_skips():
    """A pruning threshold above most weights prunes during learning, and the model and
    the RTL agree on which synapses went and on the counters."""
    cfg = CONFIGS[0]
    model, _ = _check(cfg, seed=5, learn=True, n_samples=4, prune_fraction=0.0, theta=0.82)
    assert model.counters["pruned"] > 0
    assert not model.mask.all()


@pytest.mark.parametrize("n_inputs", [64, 100], ids=["2words", "4words"])
@pytest.mark.parametrize("seed, theta", [(11, 0.74), (13, 0.7)], ids=["many", "few"])
def test_learning_prunes_across_column_words(n_inputs, seed, theta):
    """Prunes in learning keep the column masks true with two column-mask words per bank
    (the write-back reads the stored word) and with four (it rebuilds the word while the
    scan prefetches): a wrong column word changes which synapses a later update of the
    same winner walks, its cycles and its weights.  Few prunes per update leave alive
    synapses unscanned after a word's last prune, which the rebuild must keep."""
    cfg = CoreConfig(n_inputs=n_inputs, n_neurons=2, lanes=1, time_steps=8)
    assert cfg.colmask_words == (2 if n_inputs == 64 else 4)
    model, expected = _check(cfg, seed=seed, learn=True, n_samples=8, prune_fraction=0.2,
                             theta=theta)
    assert model.counters["pruned"] > 0
    winners = [e.out_events[0][0] for e in expected if e.out_events]
    assert len(winners) > len(set(winners)), "no neuron won twice: later scans untested"


def test_invalid_events_are_dropped_and_counted():
    cfg = CONFIGS[0]
    model, _ = _check(cfg, seed=11, learn=False, invalid=True)
    assert model.counters["dropped"] > 0


@pytest.mark.parametrize("weight_bits,rate_frac_bits", [(4, 8), (8, 12), (10, 16)])
def test_stdp_unit_matches_fixedpoint(weight_bits, rate_frac_bits):
    """Every weight value, both directions, several rates, pruning on; one synapse per
    cycle through the pipeline, each result checked STDP_UNIT_LATENCY cycles later."""
    cfg = CoreConfig(weight_bits=weight_bits, potential_bits=weight_bits + 4,
                     rate_frac_bits=rate_frac_bits)
    dut = STDPUnit(cfg, tag_bits=16)
    rng = np.random.default_rng(weight_bits)
    rates = [0, 1, (1 << rate_frac_bits) - 1] + list(rng.integers(0, 1 << rate_frac_bits, 3))
    theta = cfg.w_max // 5
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def testbench(ctx):
        ctx.set(dut.theta_p, theta)
        ctx.set(dut.prune_enable, 1)
        for a in rates:
            ctx.set(dut.a_plus, int(a))
            ctx.set(dut.a_minus, int(a))
            cases = [(p, w) for p in (0, 1) for w in range(cfg.w_max + 1)]
            pending = []
            for tag, case in enumerate(cases + [None] * STDP_UNIT_LATENCY):
                if case is not None:
                    ctx.set(dut.valid, 1)
                    ctx.set(dut.potentiate, case[0])
                    ctx.set(dut.weight, case[1])
                    ctx.set(dut.tag, tag)
                    pending.append((tag, case))
                else:
                    ctx.set(dut.valid, 0)
                await ctx.tick()
                # a result is out exactly STDP_UNIT_LATENCY ticks after its input
                due = tag - (STDP_UNIT_LATENCY - 1)
                assert ctx.get(dut.out_valid) == (0 <= due < len(cases)), tag
                if ctx.get(dut.out_valid):
                    want_tag, (potentiate, w) = pending.pop(0)
                    assert want_tag == due
                    want = fx.stdp_update([w], [bool(potentiate)], int(a), int(a),
                                          weight_bits, rate_frac_bits)
                    want, _, pruned = fx.prune(want, [True], theta, True)
                    assert ctx.get(dut.out_tag) == want_tag
                    assert ctx.get(dut.new_weight) == want[0], (a, potentiate, w)
                    assert ctx.get(dut.pruned) == pruned[0], (a, potentiate, w)
            assert pending == []

    sim.add_testbench(testbench)
    sim.run()


@pytest.mark.parametrize("width", [1, 3, 8, 13])
def test_lowest_set_bit(width):
    value = Signal(width)
    index, cleared = lowest_set_bit(value)
    m = Module()
    probe_index, probe_cleared = Signal.like(index), Signal(width)
    m.d.comb += [probe_index.eq(index), probe_cleared.eq(cleared)]
    sim = Simulator(m)

    async def testbench(ctx):
        for v in range(1, 1 << width):
            ctx.set(value, v)
            low = (v & -v).bit_length() - 1
            assert ctx.get(probe_index) == low
            assert ctx.get(probe_cleared) == v & ~(1 << low)

    sim.add_testbench(testbench)
    sim.run()


@pytest.mark.parametrize("width", [1, 2, 3, 5, 8, 13, 32])
def test_at_most_one_bit(width):
    """Every value up to 13 bits; for 32 bits, every value with up to two bits set and
    seeded random ones."""
    value = Signal(width)
    probe = Signal()
    m = Module()
    m.d.comb += probe.eq(at_most_one_bit(value))
    if width <= 13:
        values = range(1 << width)
    else:
        rng = np.random.default_rng(width)
        values = ([0] + [(1 << i) | (1 << j) for i in range(width) for j in range(i, width)]
                  + [int(v) for v in rng.integers(0, 1 << width, 2000)])
    sim = Simulator(m)

    async def testbench(ctx):
        for v in values:
            ctx.set(value, v)
            assert ctx.get(probe) == (bin(v).count("1") <= 1), v

    sim.add_testbench(testbench)
    sim.run()


@pytest.mark.parametrize("minor_count", [1, 2, 3, 4, 5, 8, 32])
def test_mixed_radix_addresses_every_pair(minor_count):
    """major * minor_count + minor, for a signal and for a constant minor (a bank number
    narrower than its field)."""
    major = Signal(4)
    minor = Signal(range(minor_count))
    m = Module()
    probe = Signal(16)
    probe_const = [Signal(16, name=f"probe_const{c}") for c in range(minor_count)]
    m.d.comb += probe.eq(mixed_radix(major, minor, minor_count))
    m.d.comb += [p.eq(mixed_radix(major, c, minor_count)) for c, p in enumerate(probe_const)]
    sim = Simulator(m)

    async def testbench(ctx):
        for hi in range(16):
            for lo in range(minor_count):
                ctx.set(major, hi)
                ctx.set(minor, lo)
                assert ctx.get(probe) == hi * minor_count + lo
                assert ctx.get(probe_const[lo]) == hi * minor_count + lo

    sim.add_testbench(testbench)
    sim.run()


def test_stdp_ends_on_an_empty_column_word():
    """Found by `spikeforge fuzz`: when the winner's last column-mask word has no alive
    synapse, the scan's last cycle picks nothing and the write-back of the last picked
    synapse, not the scan, decides when STDP is done.  Rows 32-34 (the second word with
    one lane) are pruned for every neuron."""
    cfg = CoreConfig(n_inputs=35, n_neurons=6, lanes=1, time_steps=8, fifo_depth=2)
    rng = np.random.default_rng(3)
    weights, mask, samples = random_workload(cfg, rng, 3, prune_fraction=0.1)
    mask[32:, :] = False
    weights[32:, :] = 0
    regs = _registers(cfg, rng, learn=True, theta_fraction=0.0)
    _, expected = check_against_model(cfg, weights, mask, samples, regs)
    assert any(e.winner is not None for e in expected)


def test_learning_keeps_the_first_spike_of_an_input_seen_twice_in_a_row():
    """Input 0 spikes at step 0 and again at step 1 in the next cycle (a producer may
    repeat an input).  Its first spike, at the winner's step 0, potentiates; the second
    must not overwrite the spike time that STDP reads (the core stores it a cycle late
    and checks the previous cycle's mark).  Input 1, at step 1, is after the winner."""
    cfg = CoreConfig(n_inputs=4, n_neurons=2, lanes=1, time_steps=4, weight_bits=4,
                     potential_bits=8, rate_frac_bits=4, fifo_depth=4)
    weights = np.full((4, 2), 8)
    mask = np.ones(weights.shape, dtype=bool)
    events = np.array([(0, 0), (0, 1), (1, 1)])
    regs = CoreRegisters(threshold=5, theta_p=0, a_plus=8, a_minus=8, prune_enable=False,
                         learn=True)
    model, [result] = check_against_model(cfg, weights, mask, [events], regs)
    assert result.winner == 0 and result.winner_time == 0
    assert result.accept_cycles[1] == result.accept_cycles[0] + 1      # back to back
    assert model.weights[0, 0] > 8 > model.weights[1, 0]                # before / after


def test_inference_steps_overlap_and_the_emitter_runs_beside():
    """Inference lets a later step's beats in while a lane still integrates the earlier
    step (docs/core.md, "Steps overlap"), and the spikes come out of the
    emitter in step order.  One lane, every synapse alive, weight of neuron j = j + 1,
    threshold 5: neuron j fires at the first step whose cumulative input count k has
    k * (j + 1) > 5."""
    cfg = CoreConfig(n_inputs=8, n_neurons=8, lanes=1, time_steps=8, weight_bits=4,
                     potential_bits=8, fifo_depth=8)
    weights = np.tile(np.arange(1, 9), (8, 1))
    mask = np.ones(weights.shape, dtype=bool)
    events = np.array([(0, 0), (1, 0), (2, 1), (3, 1), (4, 2), (5, 2)])
    regs = CoreRegisters(threshold=5, theta_p=0, a_plus=1, a_minus=1, prune_enable=False,
                         learn=False)
    _, [result] = check_against_model(cfg, weights, mask, [events], regs)

    counts = np.cumsum(np.bincount(events[:, 1], minlength=3))        # inputs up to step t
    expected = sorted((int(np.argmax(counts * (j + 1) > 5)), j) for j in range(8))
    assert [(n, t) for n, t, _ in result.out_events] == [(j, t) for t, j in expected]
    # the first beat of step 1 is taken long before step 0's spikes come out (the lane
    # needs 8 cycles per input, so a barrier would have held it back)
    assert result.accept_cycles[2] == 2 < result.out_events[0][2]
    cycles = [c for _, _, c in result.out_events]
    assert cycles == sorted(set(cycles))                # one beat per cycle, in order


def test_inference_holds_two_pending_steps():
    """In inference two steps may wait to be closed behind the front end
    (PENDING_STEPS_INFER): while one lane still integrates step 0 (2 inputs x 8 alive
    synapses), the beats of steps 1 and 2 are taken at once, and only the beat of step
    3 waits for step 0 to close.  Same network as the test above."""
    cfg = CoreConfig(n_inputs=8, n_neurons=8, lanes=1, time_steps=8, weight_bits=4,
                     potential_bits=8, fifo_depth=8)
    weights = np.tile(np.arange(1, 9), (8, 1))
    mask = np.ones(weights.shape, dtype=bool)
    events = np.array([(0, 0), (1, 0), (2, 1), (3, 2), (4, 3)])
    regs = CoreRegisters(threshold=5, theta_p=0, a_plus=1, a_minus=1, prune_enable=False,
                         learn=False)
    _, [result] = check_against_model(cfg, weights, mask, [events], regs)
    assert PENDING_STEPS_INFER == 2
    first_spike_cycle = result.out_events[0][2]         # step 0 closed the cycle before
    assert result.out_events[0][1] == 0
    # steps 1 and 2 are taken back to back: two steps pending
    assert result.accept_cycles[:4] == [0, 1, 2, 3]
    # step 3's beat waits until step 0 has closed (a third pending step is not allowed)
    assert first_spike_cycle - 1 <= result.accept_cycles[4]
    assert result.accept_cycles[4] > 4


def test_learning_steps_overlap_and_the_winner_is_picked_on_its_steps_potentials():
    """Learning lets the next step's beats in and integrates them while the step before
    is closed (docs/core.md, "Learning: steps overlap").  Two neurons cross in step 0,
    neuron 0 with the larger potential; step 1's inputs then push neuron 1 far above it
    while WTA is still to compare them.  The winner must be neuron 0 (the potentials at
    the end of step 0, which the lanes keep as snapshots), and step 1's inputs count as
    after the winner in its STDP update (depression)."""
    cfg = CoreConfig(n_inputs=8, n_neurons=2, lanes=2, time_steps=8, weight_bits=4,
                     potential_bits=8, fifo_depth=8)
    weights = np.zeros((8, 2), dtype=int)
    weights[0] = (10, 9)                 # step 0: neuron 0 at 10, neuron 1 at 9 (> 8)
    weights[1:, 1] = 15                  # step 1: neuron 1 only
    weights[1:, 0] = 1
    mask = np.ones(weights.shape, dtype=bool)
    events = np.array([(0, 0)] + [(i, 1) for i in range(1, 8)])
    regs = CoreRegisters(threshold=8, theta_p=0, a_plus=200, a_minus=200, prune_enable=False,
                         learn=True)
    model, [result] = check_against_model(cfg, weights, mask, [events], regs)
    assert (result.winner, result.winner_time) == (0, 0)
    assert [(n, t) for n, t, _ in result.out_events] == [(0, 0)]
    # step 1's first beat was taken before the winner came out: the steps overlapped
    assert result.accept_cycles[1] < result.out_events[0][2]
    want = fx.stdp_update(weights[:, 0], np.arange(8) == 0, 200, 200, cfg.weight_bits,
                          cfg.rate_frac_bits)
    np.testing.assert_array_equal(model.weights[:, 0], want)


def test_learning_sample_without_a_winner_ends_and_the_next_one_learns():
    """A learning sample in which no neuron crosses closes its steps silently and ends
    (the end marker hands the last step over and waits for it); the next sample, with
    enough input, has a winner.  RTL and model agree beat for beat."""
    cfg = CONFIGS[0]
    rng = np.random.default_rng(21)
    weights, mask, _ = random_workload(cfg, rng, 0)
    regs = _registers(cfg, rng, learn=True)
    sparse = np.array([(0, 0), (1, 2)])
    dense = np.array([(i, i % cfg.time_steps) for i in range(cfg.n_inputs)])
    dense = dense[np.lexsort((dense[:, 0], dense[:, 1]))]
    _, results = check_against_model(cfg, weights, mask, [sparse, dense], regs)
    assert results[0].winner is None and results[0].out_events == []
    assert results[1].winner is not None
