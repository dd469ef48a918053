"""Reset (synchronous ``rst``) in the middle of a sample and of an STDP update.

Documented behaviour (docs/reliability.md, checked here at every cycle offset of a
sample, in both modes):

* after one cycle of ``rst`` the core is idle (``busy = 0``, no output beat valid),
  every counter is 0 and the interrupted sample is gone: its potentials, fired/crossed
  flags, pre-synaptic spike record, queues and step state are cleared - the next sample
  behaves exactly (beats and cycles) as on a freshly loaded core;
* weights and masks live in block RAM and survive reset.  A reset before the end
  marker leaves them untouched.  A reset during the STDP update of the winner leaves
  every synapse of the winner's column either untouched or fully updated (new weight,
  and with pruning both its row-mask and column-mask bit) - never half-written: the
  write-back of the synapse whose update was in flight at the reset edge still happens
  in full (its write enables come from registers that reset only at that edge), the
  synapse being read in the reset cycle is not written.  Row and column masks stay
  consistent, which is checked by the behaviour that depends on each: integration
  (``cnt_syn_ops`` and the beats' cycles use row masks) and the STDP scan of the same
  winner (``cnt_stdp_updates``, ``cnt_pruned`` and the STDP cycles use column masks);
* learning resumes: a model re-created from the weights and masks read back after the
  reset agrees with the core bit- and cycle-exactly on the following samples.
"""

import numpy as np

from core_amaranth_tb import random_workload
from robust_amaranth_tb import Knobs, run_scenario, split_samples
from spikeforge.config import CoreConfig, CoreRegisters
from spikeforge.golden.core_model import CoreModel

CFG = CoreConfig(n_inputs=12, n_neurons=4, lanes=2, time_steps=6, weight_bits=6,
                 potential_bits=10)


def _setup(learn, seed):
    rng = np.random.default_rng(seed)
    weights, mask, samples = random_workload(CFG, rng, 3, prune_fraction=0.15,
                                             spike_fraction=0.6)
    # theta_p close to the mean weight: the STDP update prunes several synapses, so
    # masks are written while the reset can strike
    regs = CoreRegisters(threshold=int(0.8 * CFG.w_max * 12 * 0.6 * 0.35),
                         theta_p=int(0.8 * CFG.w_max), a_plus=300, a_minus=900,
                         prune_enable=True, learn=learn)
    return weights, mask, samples, regs


async def _interrupt_and_resume(h, weights, mask, sample, follow_up, regs, offset,
                                isolate=None, follow_regs=None):
    """Fresh state, run ``sample`` and reset ``offset`` cycles after its first accepted
    beat, read everything back, then (with ``isolate``) prune every synapse of the other
    neurons through the access port so that only neuron ``isolate`` can fire and win,
    and run the follow-up samples with ``follow_regs``; return what the checks need."""
    await h.pulse_reset(2)
    h.set_registers(regs)
    await h.load(weights, mask)
    ends = h.end_beats()
    h.queue_samples([sample])
    start = len(h.events.accepted_cycles)
    while len(h.events.accepted_cycles) == start:
        await h.step()
    c0 = h.events.accepted_cycles[start]
    while h.cycle < c0 + offset and h.end_beats() == ends:
        await h.step()
    finished = h.end_beats() > ends           # the sample ended before the reset
    await h.pulse_reset(1)
    idle = {"busy": int(h.ctx.get(h.dut.busy)), "out_valid": int(h.ctx.get(h.dut.events_out.valid)),
            "counters": h.counters()}
    w_after, m_after = await h.read_back()
    if isolate is not None:
        h.commands.queue += [{"write": 1, "input": i, "neuron": j, "weight": 0, "mask": 0}
                             for i in range(CFG.n_inputs) for j in range(CFG.n_neurons)
                             if j != isolate]
        await h.run_until(lambda: not h.commands.queue, 10_000, "isolation writes")
        h.set_registers(follow_regs)
    first_beat = len(h.out_beats)
    await h.run_samples(follow_up)
    return {"finished": finished, "idle": idle, "w": w_after, "m": m_after,
            "beats": h.out_beats[first_beat:], "counters": h.counters()}


def _sweep(learn, seed, offsets, follow_up=None, isolate=None, follow_regs=None):
    weights, mask, samples, regs = _setup(learn, seed)
    sample = samples[0]
    follow_up = follow_up if follow_up is not None else [samples[0], samples[1]]
    full = CoreModel(CFG, weights, mask)
    expected = full.run_sample(sample, regs)

    async def scenario(h):
        return [await _interrupt_and_resume(h, weights, mask, sample, follow_up, regs, k,
                                            isolate, follow_regs)
                for k in offsets]

    results, h = run_scenario(CFG, scenario, seed=seed, knobs=Knobs(), regs=regs)
    return weights, mask, regs, full, expected, results, h


def _check_resume(w_after, m_after, regs, follow_up_beats, counters, follow_up):
    """A model made from the read-back state predicts the follow-up exactly."""
    model = CoreModel(CFG, w_after, m_after)
    predicted = [model.run_sample(s, regs) for s in follow_up]
    got = split_samples([(n, t, e, c, 0) for n, t, e, c, _ in follow_up_beats])
    assert [s for s, _ in got] == [[(j, t) for j, t, _ in p.out_events] for p in predicted]
    assert [c for _, c in got] == [p.cycles for p in predicted]
    assert counters == model.counters
    return predicted


def test_reset_mid_sample_inference():
    """Reset at every 2nd cycle of an inference sample, up to its end beat: idle,
    counters 0, weights and masks untouched, the next samples as on a fresh core."""
    weights, mask, samples, regs = _setup(False, seed=4)
    sample = samples[0]
    expected = CoreModel(CFG, weights, mask).run_sample(sample, regs)
    assert expected.out_events, "the sample must make neurons fire"
    offsets = list(range(0, expected.cycles + 1, 2))
    _, _, _, _, _, results, h = _sweep(False, 4, offsets)
    assert h.violations == []
    loaded = np.where(mask, weights, 0)
    for k, r in zip(offsets, results):
        assert r["idle"]["busy"] == 0 and r["idle"]["out_valid"] == 0, f"offset {k}"
        assert r["idle"]["counters"] == dict.fromkeys(r["idle"]["counters"], 0), f"offset {k}"
        np.testing.assert_array_equal(r["w"], loaded, err_msg=f"offset {k}")
        np.testing.assert_array_equal(r["m"], mask, err_msg=f"offset {k}")
        _check_resume(r["w"], r["m"], regs, r["beats"], r["counters"], [sample, samples[1]])


def test_reset_during_learning_and_stdp_update():
    """Reset at every cycle of a learning sample, from its first beat to past its end
    beat.  The STDP update of the winner starts in the cycle after the winner is chosen
    and overlaps the rest of the sample (docs/core.md), so resets strike before, during
    and after it.  Each synapse of the winner's column is untouched or fully updated,
    nothing else changes, the count of updated synapses only grows with the offset
    (from none to all), and learning resumes in step with a model made from the
    read-back state - including an STDP update of the same winner, whose cycles and
    counters depend on the column masks."""
    weights, mask, samples, regs = _setup(True, seed=4)
    sample = samples[0]
    expected = CoreModel(CFG, weights, mask).run_sample(sample, regs)
    assert expected.winner is not None and expected.pruned > 0
    offsets = list(range(0, expected.cycles + 3))
    winner = expected.winner
    # Follow-up: every input spikes at step 0, only the interrupted winner is left alive
    # and the threshold is 0, so it fires and its column (as the reset left it) is
    # integrated (row masks) and updated again (column masks).
    everything = np.stack([np.arange(CFG.n_inputs), np.zeros(CFG.n_inputs, int)], axis=1)
    follow_regs = CoreRegisters(**{**regs.__dict__, "threshold": 0})
    _, _, _, full, _, results, h = _sweep(True, 4, offsets, [everything, samples[1]], winner,
                                          follow_regs)
    assert h.violations == []
    before_w, before_m = np.where(mask, weights, 0), mask
    after_w, after_m = full.weights, full.mask
    updated_counts = []
    for k, r in zip(offsets, results):
        w, m = r["w"], r["m"]
        others = np.arange(CFG.n_neurons) != winner
        np.testing.assert_array_equal(w[:, others], before_w[:, others], err_msg=f"offset {k}")
        np.testing.assert_array_equal(m[:, others], before_m[:, others], err_msg=f"offset {k}")
        old = (w[:, winner] == before_w[:, winner]) & (m[:, winner] == before_m[:, winner])
        new = (w[:, winner] == after_w[:, winner]) & (m[:, winner] == after_m[:, winner])
        assert (old | new).all(), f"offset {k}: a synapse is neither old nor fully updated"
        changed = before_m[:, winner] & ((before_w[:, winner] != after_w[:, winner])
                                         | (before_m[:, winner] != after_m[:, winner]))
        updated_counts.append(int((new & ~old & changed).sum()))
        assert r["idle"]["busy"] == 0 and r["idle"]["counters"]["samples"] == 0
        isolated_w, isolated_m = w.copy(), m.copy()
        isolated_w[:, others], isolated_m[:, others] = 0, False
        predicted = _check_resume(isolated_w, isolated_m, follow_regs, r["beats"],
                                  r["counters"], [everything, samples[1]])
        assert predicted[0].winner == winner and predicted[0].stdp_updates > 0, \
            "the follow-up must update the interrupted winner again"
    assert updated_counts == sorted(updated_counts)
    assert updated_counts[0] == 0
    assert updated_counts[-1] == int((before_m[:, winner] & (
        (before_w[:, winner] != after_w[:, winner]) | (before_m[:, winner] != after_m[:, winner]))).sum())
    assert len(set(updated_counts)) >= 3, "the reset must strike in the middle of the update"
    assert any(r["finished"] for r in results[-2:])


def test_access_write_then_read_back_to_back_and_across_a_reset():
    """An access write is carried out in the cycle after it is taken (docs/core.md,
    access port), and the core takes no command or beat in that cycle.  Each write
    below is followed at once either by reads (the written synapse and its row-word
    neighbour in the same lane) or by a reset; every read shows the write complete
    (weight, mask, the neighbour's mask bit kept), the final read-back shows every
    written synapse as written and the rest untouched, and the masks stay consistent
    (integration and the STDP scan of a model made from the read-back agree with the
    core)."""
    weights, mask, samples, regs = _setup(True, seed=2)
    rng = np.random.default_rng(7)
    picks = [(int(rng.integers(CFG.n_inputs)), j) for j in range(CFG.n_neurons)] * 2
    writes = [{"write": 1, "input": i, "neuron": j, "weight": int(rng.integers(1, CFG.w_max)),
               "mask": int(rng.integers(2))} for i, j in picks]
    expected_w, expected_m = np.where(mask, weights, 0), mask.copy()

    async def scenario(h):
        await h.pulse_reset(2)
        h.set_registers(regs)
        await h.load(weights, mask)
        answers = []
        for n, cmd in enumerate(writes):
            i, j = cmd["input"], cmd["neuron"]
            neighbour = (j + CFG.lanes) % CFG.n_neurons
            if n % 2:
                h.commands.queue.append(cmd)
                taken = len(h.commands.accepted_cycles)
                await h.run_until(lambda: len(h.commands.accepted_cycles) > taken, 50, "write")
                await h.pulse_reset(1)            # the cycle after the write was taken
            else:
                first = len(h.responses)
                h.commands.queue += [cmd] + [{"write": 0, "input": i, "neuron": k, "weight": 0,
                                              "mask": 0} for k in (j, neighbour)]
                await h.run_until(lambda: len(h.responses) >= first + 2, 100, "reads")
                answers.append((i, j, neighbour, h.responses[first:first + 2],
                                expected_w[i, neighbour], expected_m[i, neighbour]))
            expected_m[i, j] = bool(cmd["mask"])
            expected_w[i, j] = cmd["weight"] if cmd["mask"] else 0
        w_after, m_after = await h.read_back()
        first = len(h.out_beats)
        await h.run_samples(samples[:2])
        return answers, w_after, m_after, h.out_beats[first:], h.counters()

    (answers, w_after, m_after, beats, counters), h = run_scenario(
        CFG, scenario, seed=2, knobs=Knobs(), regs=regs)
    assert h.violations == []
    for (i, j, neighbour, got, nb_w, nb_m), cmd in zip(answers, writes[::2]):
        written = (cmd["weight"] if cmd["mask"] else 0, cmd["mask"])
        assert got[0][:2] == written, f"read of ({i}, {j}) right after its write: {got[0][:2]}"
        assert got[1][:2] == (int(nb_w), int(nb_m)), f"row-word neighbour ({i}, {neighbour})"
    np.testing.assert_array_equal(w_after, expected_w)
    np.testing.assert_array_equal(m_after, expected_m)
    _check_resume(w_after, m_after, regs, beats, counters, samples[:2])
