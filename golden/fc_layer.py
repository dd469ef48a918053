"""A fully connected TTFS layer with the hardware core's exact semantics (sample level).

This is the network model's view of one core (docs/core.md, "Semantics"): it says what
the core computes per sample, not how many cycles it takes (that is
:mod:`spikeforge.golden.core_model`).  The two are held against each other in tests, so
a fully connected layer trained here ends with the same weights, masks and winners as
the hardware.

Samples are sequences of input events ``(input_index, time)`` in arrival order.  An
event is *valid* if ``0 <= index < n_inputs``, ``0 <= time < time_steps`` and its time is
not earlier than the last valid event of the sample; invalid events have no effect and
are counted as dropped.

* Integration: a valid event ``(i, t)`` adds ``w[i, j]`` to every neuron ``j`` whose
  synapse is alive (saturating at ``2**potential_bits - 1``).  A neuron fires once, at
  the close of the first time step (that had events) whose end finds its potential
  ``> threshold``.
* Learning: the winner is decided at the close of the first step in which any neuron
  fires: largest potential, then lowest index.  Later events have no effect on the
  potentials.  After the sample, the winner's alive synapses get one STDP update
  (:func:`golden.fixedpoint.stdp_update`): potentiation if input ``i`` had a valid event
  at a time ``<= t_winner`` (i.e. in a step up to the winner's), else depression
  (including inputs that never spiked).  Then the pruning rule
  (:func:`golden.fixedpoint.prune`) if the config generates pruning and
  ``prune_enable`` is set.  Without a winner nothing is updated.
* ``cfg.pruning = False``: there are no masks; every synapse is alive and the returned
  mask is all ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import fixedpoint as fx

__all__ = ["FcTrainResult", "FcInferResult", "train_fc_layer_fixed", "infer_fc_layer_fixed"]


@dataclass
class FcTrainResult:
    """Result of :func:`train_fc_layer_fixed`; unpacks as ``weights, mask, winners``.

    ``winners`` is int64 ``[n_samples, 2]``: ``(neuron, time)`` per sample, ``(-1, -1)``
    when no neuron fired.  ``counters`` holds ``syn_ops``, ``stdp_updates``, ``pruned``,
    ``dropped`` and ``samples`` as the core's statistics counters define them (unwrapped).
    """

    weights: np.ndarray
    mask: np.ndarray
    winners: np.ndarray
    counters: dict = field(default_factory=dict)

    def __iter__(self):
        return iter((self.weights, self.mask, self.winners))


@dataclass
class FcInferResult:
    """Per sample, the output spikes ``(neuron, time)`` in emission order, and counters."""

    spikes: list
    counters: dict = field(default_factory=dict)


def _check(cfg, weights, mask):
    weights = np.array(weights, dtype=fx.WEIGHT_DTYPE)
    shape = (cfg.n_inputs, cfg.n_neurons)
    if weights.shape != shape:
        raise ValueError(f"weights must have shape (n_inputs, n_neurons) = {shape}, "
                         f"got {weights.shape}")
    if weights.min(initial=0) < 0 or weights.max(initial=0) > cfg.w_max:
        raise ValueError(f"weights must lie in [0, {cfg.w_max}] for weight_bits = {cfg.weight_bits}")
    if not cfg.pruning or mask is None:
        mask = np.ones(shape, dtype=bool)
    else:
        mask = np.array(mask, dtype=bool)
        if mask.shape != shape:
            raise ValueError(f"mask must have shape {shape}, got {mask.shape}")
        # A pruned synapse's weight is always 0 (docs/core.md, access port).
        weights = np.where(mask, weights, 0)
    return weights, mask


def _valid_events(cfg, sample):
    """``(index, time)`` arrays of the valid events of one sample, and the dropped count."""
    ev = np.asarray(sample, dtype=np.int64).reshape(-1, 2)
    idx, t = ev[:, 0], ev[:, 1]
    in_range = (idx >= 0) & (idx < cfg.n_inputs) & (t >= 0) & (t < cfg.time_steps)
    # Out-of-order events (earlier than the last valid one) never raise the running
    # maximum, so the maximum over all in-range events equals that over valid ones.
    running = np.maximum.accumulate(np.where(in_range, t, -1)) if len(t) else t
    previous = np.concatenate(([-1], running[:-1])) if len(t) else t
    valid = in_range & (t >= previous)
    return idx[valid], t[valid], int((~valid).sum())


def _step_potentials(cfg, weights, mask, idx, t):
    """Distinct step times and the potentials ``[steps, n_neurons]`` at each step's close."""
    steps, step_of = np.unique(t, return_inverse=True)
    counts = np.zeros((len(steps), cfg.n_inputs), dtype=np.int64)
    np.add.at(counts, (step_of, idx), 1)
    alive_w = np.where(mask, weights, 0)
    # Non-negative increments: saturating the exact total equals saturating per event.
    pot = np.cumsum(counts, axis=0) @ alive_w
    pot = fx.saturating_accumulate(0, pot, cfg.potential_bits)
    return steps, pot


def train_fc_layer_fixed(cfg, regs, weights, mask, samples) -> FcTrainResult:
    """Train one fully connected layer on ``samples`` with the core's learning semantics.

    Args:
        cfg: :class:`spikeforge.config.CoreConfig` (widths, sizes, pruning generated).
        regs: :class:`spikeforge.config.CoreRegisters` (threshold, theta_p, a_plus,
            a_minus, prune_enable; ``learn`` is implied).
        weights: int ``[n_inputs, n_neurons]`` in ``[0, w_max]``.
        mask: bool ``[n_inputs, n_neurons]`` (ignored, all ones, if ``cfg.pruning`` is False).
        samples: iterable of event arrays ``[(input_index, time), ...]`` in arrival order.

    Returns:
        :class:`FcTrainResult` (unpacks as ``weights, mask, winners``).
    """
    regs.validate(cfg)
    weights, mask = _check(cfg, weights, mask)
    do_prune = bool(cfg.pruning and regs.prune_enable)
    winners = []
    counters = {"syn_ops": 0, "stdp_updates": 0, "pruned": 0, "dropped": 0, "samples": 0}
    for sample in samples:
        idx, t, dropped = _valid_events(cfg, sample)
        counters["dropped"] += dropped
        counters["samples"] += 1
        alive_per_input = mask.sum(axis=1)
        if len(idx) == 0:
            winners.append((-1, -1))
            continue
        steps, pot = _step_potentials(cfg, weights, mask, idx, t)
        fired = pot > regs.threshold
        any_fired = fired.any(axis=1)
        if not any_fired.any():
            counters["syn_ops"] += int(alive_per_input[idx].sum())
            winners.append((-1, -1))
            continue
        s = int(np.argmax(any_fired))
        t_win = int(steps[s])
        # Largest potential among the fired neurons, then lowest index (argmax: first).
        j = int(np.argmax(np.where(fired[s], pot[s], -1)))
        winners.append((j, t_win))
        counters["syn_ops"] += int(alive_per_input[idx[t <= t_win]].sum())
        potentiate = np.zeros(cfg.n_inputs, dtype=bool)
        potentiate[idx[t <= t_win]] = True
        alive = mask[:, j]
        counters["stdp_updates"] += int(alive.sum())
        new = fx.stdp_update(weights[:, j], potentiate, regs.a_plus, regs.a_minus,
                             cfg.weight_bits, cfg.rate_frac_bits)
        new = np.where(alive, new, weights[:, j])
        if do_prune:
            new, new_mask, newly = fx.prune(new, alive, regs.theta_p, True)
            mask[:, j] = new_mask
            counters["pruned"] += int(newly.sum())
        weights[:, j] = new
    return FcTrainResult(weights=weights, mask=mask,
                         winners=np.array(winners, dtype=np.int64).reshape(-1, 2),
                         counters=counters)


def infer_fc_layer_fixed(cfg, regs, weights, mask, samples) -> FcInferResult:
    """Inference with the core's semantics: every neuron that fires, at its first step.

    Spikes of one step are listed in ascending neuron order; steps in time order.
    """
    regs.validate(cfg)
    weights, mask = _check(cfg, weights, mask)
    out = []
    counters = {"syn_ops": 0, "dropped": 0, "samples": 0}
    for sample in samples:
        idx, t, dropped = _valid_events(cfg, sample)
        counters["dropped"] += dropped
        counters["samples"] += 1
        counters["syn_ops"] += int(mask.sum(axis=1)[idx].sum())
        spikes = []
        if len(idx):
            steps, pot = _step_potentials(cfg, weights, mask, idx, t)
            fired = pot > regs.threshold
            first = np.where(fired.any(axis=0), np.argmax(fired, axis=0), -1)
            for s, step in enumerate(steps):
                for j in np.flatnonzero(first == s):
                    spikes.append((int(j), int(step)))
        out.append(spikes)
    return FcInferResult(spikes=out, counters=counters)
