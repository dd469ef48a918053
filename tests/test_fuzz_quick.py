"""The quick set of the configuration fuzzer (``spikeforge fuzz`` runs >= 50 x 5).

Six random legal configurations x two workload seeds in amaranth.sim, each held to the
golden model bit- and cycle-exactly (every beat and its cycle, end beats, end weights,
masks, counters).  The six config seeds are fixed and were picked from the generator's
stream so that together they cover: 1, 2, 4 and 8 lanes, with and without the pruning
hardware, one and several column-mask words, 2-bit weights, tight potentials
(saturation), fifo depth 2 (queue-full stalls), time_steps 2 and 256-ish, learning and
inference; the test asserts that coverage so a generator change cannot silently drop it.
"""

import numpy as np
import pytest

from spikeforge.config import CoreConfig
from spikeforge.golden.config_fuzz import SIZE_LIMITS, make_case, random_config
from spikeforge.sim.fuzz import run_config

QUICK_CONFIG_SEEDS = (0, 2, 3, 4, 8, 5)
SEEDS = (0, 1)


@pytest.mark.parametrize("config_seed", QUICK_CONFIG_SEEDS)
def test_random_config_matches_model(config_seed):
    records = run_config(config_seed, SEEDS)
    assert len(records) == len(SEEDS)
    for record in records:
        assert record["problems"] == [], (
            f"config {config_seed} seed {record['seed']} {record['config']}: "
            + "; ".join(record["problems"][:3]))


def test_quick_set_covers_the_ranges():
    cases = [make_case(c, s) for c in QUICK_CONFIG_SEEDS for s in SEEDS]
    cfgs = [c.cfg for c in cases]
    assert {c.lanes for c in cfgs} >= {1, 2, 4, 8}
    assert {c.pruning for c in cfgs} == {True, False}
    assert any(c.colmask_words > 1 for c in cfgs) or any(c.n_inputs > 32 for c in cfgs)
    assert any(c.colmask_words == 1 for c in cfgs)
    assert min(c.weight_bits for c in cfgs) == 2
    assert any(c.potential_bits <= c.weight_bits + 3 for c in cfgs)
    assert any(c.fifo_depth == 2 for c in cfgs)
    assert {c.regs.learn for c in cases} == {True, False}


def test_random_config_is_legal_and_varies_every_field():
    """500 draws: every one is a legal config within the size limits, every field takes
    several values and the range bounds are drawn."""
    rng = np.random.default_rng(1)
    cfgs = [random_config(rng) for _ in range(500)]
    for cfg in cfgs:
        assert isinstance(cfg, CoreConfig)   # __post_init__ validated it
        assert SIZE_LIMITS["n_inputs"][0] <= cfg.n_inputs <= SIZE_LIMITS["n_inputs"][1]
        assert SIZE_LIMITS["n_neurons"][0] <= cfg.n_neurons <= SIZE_LIMITS["n_neurons"][1]
    for name in ("n_inputs", "n_neurons", "weight_bits", "potential_bits", "time_steps",
                 "lanes", "pruning", "rate_frac_bits", "fifo_depth", "counter_bits"):
        assert len({getattr(c, name) for c in cfgs}) >= 2, name
    assert {c.lanes for c in cfgs} == {1, 2, 4, 8, 16}
    assert {c.fifo_depth for c in cfgs} == {2, 4, 8, 16, 32, 64}
    assert {c.colmask_words for c in cfgs if c.pruning} == {1, 2, 3}
    for name, lo, hi in (("weight_bits", 2, 12), ("time_steps", 2, 256),
                         ("rate_frac_bits", 4, 16), ("counter_bits", 16, 48)):
        values = {getattr(c, name) for c in cfgs}
        assert lo in values and hi in values, name
    assert 32 in {c.potential_bits for c in cfgs}


def test_cases_are_reproducible():
    a, b = make_case(7, 3), make_case(7, 3)
    assert a.cfg == b.cfg and a.regs == b.regs
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert all(np.array_equal(x, y) for x, y in zip(a.samples, b.samples))
    assert make_case(7, 4).cfg == a.cfg, "seeds of one config share the config"


def test_fuzz_detects_a_mismatch(monkeypatch):
    """The comparison can fail: a model whose STDP is off by one is caught."""
    from spikeforge.golden import core_model

    original = core_model.CoreModel._stdp

    def broken(self, winner, pre_spiked, regs, result):
        original(self, winner, pre_spiked, regs, result)
        self.counters["stdp_updates"] += 1

    monkeypatch.setattr(core_model.CoreModel, "_stdp", broken)
    records = run_config(3, (1,))      # (this case runs STDP and prunes)
    assert records[0]["regs"]["learn"]
    assert any("stdp_updates" in p for p in records[0]["problems"])


def test_compare_runs_reports_a_beat_taken_at_another_cycle():
    """The amaranth.sim runner records when each input beat was taken; a beat taken one
    cycle late (with every output and end beat unchanged) is still a mismatch."""
    from spikeforge.config import CoreRegisters
    from spikeforge.golden.config_fuzz import compare_runs
    from spikeforge.golden.core_model import CoreModel

    cfg = CoreConfig(n_inputs=8, n_neurons=4, lanes=2, time_steps=4, weight_bits=4,
                     potential_bits=8)
    weights = np.full((8, 4), 3)
    model = CoreModel(cfg, weights)
    regs = CoreRegisters(threshold=5, theta_p=0, a_plus=1, a_minus=1, prune_enable=False,
                         learn=False)
    [result] = [model.run_sample(np.array([(0, 0), (1, 1), (2, 2)]), regs)]
    observed = {"out_events": list(result.out_events), "cycles": (result.cycles, result.cycles),
                "accept_cycles": list(result.accept_cycles)}
    same = (model.weights, model.mask, model.counters)
    assert compare_runs([result], [observed], *same, *same) == []
    observed["accept_cycles"][1] += 1
    [problem] = compare_runs([result], [observed], *same, *same)
    assert "input beat 1 taken at cycle" in problem
