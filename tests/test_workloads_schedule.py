"""The shipped learning schedule (DEFAULT_SCHEDULE) and the schedule's input checks.

The schedule was chosen on a validation split of the training pool with the cycle-exact
golden model (docs/compare.md, "The learning schedule").  The full search (300 learning
samples, three seeds) takes minutes; these tests re-check its claims on a small case
(100 learning samples, validation images from the end of the training pool, never the
test split), so a change to the schedule, the core model or the workload that undoes
them fails here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from spikeforge.config import load_config
from spikeforge.errors import UserError
from spikeforge.golden.core_model import CoreModel
from spikeforge.golden.fc_layer import infer_fc_layer_fixed
from spikeforge.golden.readout import accuracy, train_readout
from spikeforge.workloads import (DEFAULT_SCHEDULE, LearningSchedule, make_digits_workload,
                                  output_latency_features, schedule_figures)

#: the schedule shipped before this one (threshold 0.3, a+ 0.5, initial weights 0.5)
PREVIOUS_SCHEDULE = LearningSchedule(threshold_fraction=0.3, a_plus=0.5, w_init_mean=0.5)

N_LEARN = 100
N_READOUT = 300
VALIDATION = slice(1000, 1200)   # training-pool images used neither for learning nor readout


@pytest.fixture(scope="module")
def cfg():
    return load_config(None)


def _learn(cfg, schedule, seed, pruning):
    """Learning on the cycle-exact model with the demo's producer (skip_decided)."""
    wl = make_digits_workload(cfg, n_learn=N_LEARN, n_train=VALIDATION.stop, n_test=0,
                              seed=seed, schedule=schedule)
    model = CoreModel(cfg.replace(pruning=pruning), wl.weights)
    cycles = [model.run_sample(s, wl.learn_registers(k, pruning), skip_decided=True).cycles
              for k, s in enumerate(wl.learn)]
    return wl, model, int(sum(cycles))


def _validation_accuracy(cfg, wl, model, pruning):
    c = cfg.replace(pruning=pruning)
    regs = wl.infer_registers(pruning)

    def features(samples):
        return output_latency_features(
            c, infer_fc_layer_fixed(c, regs, model.weights, model.mask, samples).spikes)

    readout = train_readout(features(wl.train[:N_READOUT]), wl.train_labels[:N_READOUT])
    return accuracy(readout, features(wl.train[VALIDATION]), wl.train_labels[VALIDATION])


@pytest.mark.parametrize("seed", [0, 1])
def test_shipped_schedule_learns_faster_and_sparser_than_the_previous(cfg, seed):
    """The choice's claim: more learning speed-up and less connectivity than before."""
    results = {}
    for name, schedule in (("shipped", DEFAULT_SCHEDULE), ("previous", PREVIOUS_SCHEDULE)):
        _, unpruned, c_unpruned = _learn(cfg, schedule, seed, False)
        _, pruned, c_pruned = _learn(cfg, schedule, seed, True)
        results[name] = (c_unpruned / c_pruned, float(pruned.mask.mean()))
    (speedup, conn), (prev_speedup, prev_conn) = results["shipped"], results["previous"]
    assert speedup > prev_speedup, results
    assert conn < prev_conn, results


def test_shipped_schedule_keeps_validation_accuracy(cfg):
    """Pruning under the shipped schedule keeps a useful readout on validation images:
    every neuron wins (none is pruned dead before learning), and the pruned core's
    validation accuracy is far above chance (10 %) and near the unpruned core's (a
    200-image validation set has a standard error of ~3 points, hence the margin)."""
    wl, unpruned, _ = _learn(cfg, DEFAULT_SCHEDULE, 0, False)
    _, pruned, _ = _learn(cfg, DEFAULT_SCHEDULE, 0, True)
    assert pruned.mask.any(axis=0).all(), "a neuron lost every synapse"
    acc_unpruned = _validation_accuracy(cfg, wl, unpruned, False)
    acc_pruned = _validation_accuracy(cfg, wl, pruned, True)
    assert acc_pruned > 0.5, (acc_unpruned, acc_pruned)
    assert acc_pruned >= acc_unpruned - 0.10, (acc_unpruned, acc_pruned)


def test_shipped_schedule_registers(cfg):
    """Registers follow from the schedule's fractions (derived, not copied)."""
    wl = make_digits_workload(cfg, n_learn=20, n_train=20, n_test=0, seed=0)
    mean_events = np.mean([len(s) for s in wl.learn])
    assert wl.threshold == round(DEFAULT_SCHEDULE.threshold_fraction * mean_events
                                 * wl.weights.mean())
    assert wl.infer_threshold == wl.threshold
    assert wl.theta_p == round(DEFAULT_SCHEDULE.theta_p * cfg.w_max)
    scale = 1 << cfg.rate_frac_bits
    regs = wl.learn_registers(0, True)
    assert regs.a_plus == round(DEFAULT_SCHEDULE.a_plus * scale)
    assert regs.a_minus == round(DEFAULT_SCHEDULE.a_minus * scale)
    assert regs.prune_enable and not wl.learn_registers(0, False).prune_enable
    assert abs(wl.weights.mean() / cfg.w_max - DEFAULT_SCHEDULE.w_init_mean) < 0.01


@pytest.mark.parametrize("field", ["threshold_fraction", "theta_p", "a_plus", "a_minus",
                                   "a_plus_max", "a_minus_max", "w_init_mean", "w_init_std",
                                   "infer_threshold_fraction"])
@pytest.mark.parametrize("value", [-0.1, 1.5, math.nan, "0.3", True])
def test_bad_fraction_is_a_user_error(field, value):
    with pytest.raises(UserError, match=field):
        LearningSchedule(**{field: value})


@pytest.mark.parametrize("field", ["rate_double_every", "prune_start"])
@pytest.mark.parametrize("value", [-1, 2.0, "3", True])
def test_bad_count_is_a_user_error(field, value):
    with pytest.raises(UserError, match=field):
        LearningSchedule(**{field: value})


def test_edge_values_are_accepted():
    schedule = LearningSchedule(threshold_fraction=0.0, theta_p=1.0, a_plus=0,
                                infer_threshold_fraction=None, prune_start=0)
    assert schedule.rates(5) == (0, schedule.a_minus)


@pytest.mark.parametrize("n_readout", [1347, 1, 2.5])
def test_schedule_figures_refuses_counts_without_validation_images(cfg, n_readout):
    with pytest.raises(UserError, match="readout-training samples"):
        schedule_figures(cfg, n_learn=1, n_readout=n_readout, n_infer=1)
