"""Cycle-exact model of the TTFS layer core (``hw/core.py``).

The model has two halves that are kept apart on purpose:

* **what** the core computes - potentials, spikes, the winner, the STDP update and the
  pruning - is computed functionally with the arithmetic of
  :mod:`spikeforge.golden.fixedpoint` (vectorized, order independent: saturating sums
  of non-negative weights do not depend on the order of the additions);
* **when** each beat appears is computed by a per-cycle simulation of the core's
  pipeline that tracks only counts (alive synapses per lane, queue levels), written
  from the timing rules below.

Timing rules (``docs/core.md`` has the architecture; all registers update at the end of
a cycle, "at c" means during cycle c):

Front end, phase RUN.  A beat is *valid* if ``end=0``, ``index < n_inputs``,
``time < time_steps`` and ``time >= cur_time``; ``end=0`` beats that are not valid are
*invalid*.  A *boundary* beat is the end beat or a valid beat with ``time > cur_time``.
Every lane entry carries the *epoch* of its step (a counter modulo ``STEP_EPOCHS`` = 4, 0
at the start of a sample).  Up to ``PENDING_STEPS_INFER`` = 2 steps (inference) or
``PENDING_STEPS_LEARN`` = 1 (learning) may be *pending* (handed over, not yet closed).
  * boundary beat (both modes): it waits while the pending steps are at their limit
    (as of the start of the cycle); else, if ``dirty`` and (it is the end beat or
    every lane queue has room), the open step becomes the newest pending one (its
    time and epoch are kept, ``epoch`` advances, ``dirty = 0``) and the beat is
    handled below in the same cycle (in learning the end beat is then not taken: it
    waits for the pending step); a dirty step with no queue room waits.
  * end beat (not dirty, nothing pending): accepted; next phase is END, or STDP_WAIT
    if the STDP engine is still busy.
  * valid beat in learning after the winner: accepted, no effect (cur_time follows).
    With ``skip_decided`` the producer then sends the end marker next (the sample's
    remaining beats are never offered).
  * other valid beat: accepted when every lane queue has room
    (``level + F_valid < fifo_depth``); ``cur_time = time``; ``dirty = 1``; the beat
    enters the F stage (row-mask read) with the current ``epoch``.  In learning its
    input counts as spiked before the winner if its time is at or before the winner's
    step (the hardware keeps each input's first-spike time), so the inputs of the step
    after the winner's, taken before the winner is known, count as after.
  * invalid beat: accepted, counted as dropped.
  The first accepted beat of a sample is cycle 0.
Oldest pending step at c: once no entry of its epoch is in the F stage or a lane (as
  of the start of c - 1: the core registers which epochs are held), it closes (one step
  per cycle, in order).  With no newly crossed
  neuron (``potential > threshold`` at the end of that step, not fired) it is simply
  dropped.  Otherwise, in inference, if
  the emitter is idle, the newly crossed neurons are marked fired and handed to the
  emitter (from c+1) with the step's time (if the emitter is busy, the step waits); in
  learning (phase RUN; a beat may still be taken in that cycle: it belongs to the open
  step) they are marked fired and the phase becomes WTA, on the potentials at the end
  of the pending step (the lanes keep integrating the open step meanwhile and keep a
  snapshot of every potential it changes).
F stage at c: every lane whose slice (alive synapses of the row in that lane) is
  non-zero pushes ``(index, slice, epoch)`` into its queue; visible to the lane at c+1.
Lane at c: if its remaining slice is non-zero it picks one synapse (weight read; the
  fetch stage registers the weight at c+1, the update stage adds it at c+2).  If the
  slice is then empty it loads the next entry (used from c+1): the queue head, or, with
  the queue empty, the F stage's entry for this lane directly (bypass; it is then not
  queued).
WTA: one cycle if one neuron fired newly, else one cycle per newly fired neuron plus
  two (a three-stage scan in ascending index; a strictly larger potential replaces the
  best); the cycle in which it decides hands the winner to the emitter (from the next
  cycle), flushes the F stage and every lane (queue, slice, fetch and update stages;
  the update of that cycle still happens), returns to RUN and starts the STDP engine,
  which runs while the rest of the sample's events are consumed.  ``syn_ops`` counts the updates the lanes did, so the open
  step's updates before the flush count as well.
Emitter: one spike beat per cycle (ascending neuron index) while it holds spikes,
  beside every phase (the consumer is assumed ready).
STDP engine (busy from the cycle after WTA decides): the winner's synapses are split
  into ``lanes`` row banks (row ``i`` in bank ``i % lanes``) walked in parallel.  2
  cycles (``STDP_FETCH_CYCLES``) to fetch the first column-mask word of every bank,
  then each bank takes ``max(1, alive synapses in the word)`` cycles per word; each
  picked synapse is written back ``STDP_WRITEBACK_DELAY`` (6) cycles later (the RAM
  read and the STDP unit's five stages), and the engine is busy until both the scan
  and the last write-back are done (a trailing word without alive synapses can outlast
  the write-back).
STDP_WAIT: waits while the STDP engine is busy, then END.
END: the end beat, from the first cycle ``c_end`` with no step pending and the emitter
  idle; ``cycles = c_end`` (cycles since the first accepted beat).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..config import (PENDING_STEPS_INFER, PENDING_STEPS_LEARN, STEP_EPOCHS, CoreConfig,
                      CoreRegisters)
from . import fixedpoint as fx

__all__ = ["CoreModel", "SampleResult", "COUNTER_NAMES", "syn_ops_bounds"]

COUNTER_NAMES = ("cycles", "syn_ops", "stdp_updates", "pruned", "dropped", "samples")

_RUN, _WTA, _STDP_WAIT, _END = range(4)

#: cycles from the last STDP pick to its write-back (the weight RAM read and the STDP
#: unit's five pipeline stages, ``hw/stdp_unit.py``); the STDP engine counts as busy
#: until then
STDP_WRITEBACK_DELAY = 6
#: cycles from the WTA decision's cycle to the scan's first: the first column-mask word
#: is read into a prefetch register, then into the scan register
STDP_FETCH_CYCLES = 2


@dataclass
class SampleResult:
    """What the core produces for one sample.

    Attributes:
        out_events: ``(neuron, time, cycle)`` of every spike beat, in order.
        cycles: the end beat's payload = cycle at which the end beat is first valid.
        accept_cycles: cycle at which each input beat (end marker last) was accepted.
        winner: the learning winner's neuron index, or None.
        winner_time: its spike time, or None.
        syn_ops, stdp_updates, pruned, dropped: this sample's share of the counters.
        void_syn_ops: learning: the part of ``syn_ops`` spent on the step after the
            winner's (integrated before the winner was known, then dropped).
        void_syn_ops_max: the most that part can be in any timing (stalls and input
            gaps change it): the alive synapses of every valid event after the winner's
            step.
        skipped: input beats the producer dropped (``skip_decided``), never offered.
    """

    out_events: list = field(default_factory=list)
    cycles: int = 0
    accept_cycles: list = field(default_factory=list)
    winner: int | None = None
    winner_time: int | None = None
    syn_ops: int = 0
    stdp_updates: int = 0
    pruned: int = 0
    dropped: int = 0
    void_syn_ops: int = 0
    void_syn_ops_max: int = 0
    skipped: int = 0


class CoreModel:
    """The core's state (weights, masks, counters) and its behaviour per sample.

    Args:
        cfg: the core configuration.
        weights: int array ``(n_inputs, n_neurons)`` in ``[0, w_max]``.
        mask: bool array of the same shape (True = alive).  Ignored (all alive) when
            ``cfg.pruning`` is False.  Pruned synapses hold weight 0, as the access port
            stores them.
    """

    def __init__(self, cfg: CoreConfig, weights, mask=None):
        self.cfg = cfg
        shape = (cfg.n_inputs, cfg.n_neurons)
        weights = np.asarray(weights)
        if weights.shape != shape:
            raise ValueError(f"weights must have shape {shape}, not {weights.shape}")
        if weights.min(initial=0) < 0 or weights.max(initial=0) > cfg.w_max:
            raise ValueError(f"weights must lie in [0, {cfg.w_max}]")
        if mask is None or not cfg.pruning:
            mask = np.ones(shape, dtype=bool)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != shape:
            raise ValueError(f"mask must have shape {shape}, not {mask.shape}")
        self.mask = mask.copy()
        self.weights = np.where(self.mask, weights, 0).astype(fx.WEIGHT_DTYPE)
        self.counters = {name: 0 for name in COUNTER_NAMES}
        self._lane_of_neuron = np.arange(cfg.n_neurons) % cfg.lanes

    # ------------------------------------------------------------------ helpers
    def _row_lane_counts(self):
        """Alive synapses of each input row in each lane, shape (n_inputs, lanes)."""
        cfg = self.cfg
        return np.stack([self.mask[:, self._lane_of_neuron == k].sum(axis=1)
                         for k in range(cfg.lanes)], axis=1)

    def _stdp_scan_timing(self, neuron: int) -> tuple[int, int | None]:
        """Timing of the STDP column scan of ``neuron``, in cycles after its first fetch:
        ``(scan_cycles, last_pick)``.  ``scan_cycles`` is the slowest row bank's sum over
        its column-mask words of max(1, alive in word); ``last_pick`` is the offset
        (0-based) of the last cycle in which any bank picks a synapse, None if none."""
        cfg = self.cfg
        banks = cfg.lanes
        padded = np.zeros(cfg.rows_per_bank * banks, dtype=bool)
        padded[:cfg.n_inputs] = self.mask[:, neuron]
        per_bank = padded.reshape(cfg.rows_per_bank, banks).T          # [bank, entry]
        words = np.zeros((banks, cfg.colmask_words * cfg.colmask_word_bits), dtype=bool)
        words[:, :cfg.rows_per_bank] = per_bank
        counts = words.reshape(banks, cfg.colmask_words, cfg.colmask_word_bits).sum(axis=2)
        costs = np.maximum(1, counts)
        ends = np.cumsum(costs, axis=1)                   # cycle after each word, per bank
        last_pick = None
        for bank in range(banks):
            alive_words = np.flatnonzero(counts[bank])
            if len(alive_words):
                pick = int(ends[bank, alive_words[-1]]) - 1
                last_pick = pick if last_pick is None else max(last_pick, pick)
        return int(costs.sum(axis=1).max()), last_pick

    @staticmethod
    def _lane_cycle(k, queues, remaining, rem_epoch, fetch_stage, update_stage, f_stage,
                    row_counts):
        """One cycle of lane ``k``: the pipeline stages move on, the lane picks one
        synapse of its current entry and loads the next one (queue head, or the F stage's
        entry straight away when the queue is empty)."""
        incoming = int(row_counts[f_stage[0], k]) if f_stage is not None else 0
        in_epoch = f_stage[1] if f_stage is not None else 0
        update_stage[k] = fetch_stage[k]
        if remaining[k]:
            fetch_stage[k] = rem_epoch[k]
            remaining[k] -= 1
        else:
            fetch_stage[k] = None
        if remaining[k] == 0 and queues[k]:
            remaining[k], rem_epoch[k] = queues[k].popleft()
            if incoming:
                queues[k].append([incoming, in_epoch])
        elif remaining[k] == 0 and incoming:
            remaining[k], rem_epoch[k] = incoming, in_epoch
        elif incoming:
            queues[k].append([incoming, in_epoch])

    # ------------------------------------------------------------------ one sample
    def run_sample(self, events, regs: CoreRegisters, *,
                   skip_decided: bool = False) -> SampleResult:
        """Run one sample: ``events`` is a ``(k, 2)`` int array of ``(index, time)`` beats
        in presentation order (invalid beats allowed); the end marker is implied last.

        ``skip_decided``: the producer skips (docs/core.md, "Skipping the rest of a
        decided sample"): after a beat taken while ``decided`` is 1, it sends the end
        marker next and drops the sample's remaining beats."""
        cfg = self.cfg
        regs.validate(cfg)
        learn = bool(regs.learn)
        n_lanes, depth = cfg.lanes, cfg.fifo_depth
        row_counts = self._row_lane_counts()
        events = np.asarray(events, dtype=np.int64).reshape(-1, 2)
        # beats: (is_end, index, time)
        beats = [(False, int(i), int(t)) for i, t in events] + [(True, 0, 0)]
        result = SampleResult()

        potentials = np.zeros(cfg.n_neurons, dtype=fx.POTENTIAL_DTYPE)
        fired = np.zeros(cfg.n_neurons, dtype=bool)

        phase = _RUN
        beat_ptr = 0
        cur_time = 0
        dirty = False
        won = False
        winner = None
        f_stage = None              # (input indices, epoch) in the F stage
        queues = [deque() for _ in range(n_lanes)]       # per lane: [popcount, epoch]
        remaining = [0] * n_lanes                        # per lane: entry bits left
        rem_epoch = [0] * n_lanes
        # per lane, the synapse in the fetch and in the update stage: None or its epoch
        fetch_stage = [None] * n_lanes
        update_stage = [None] * n_lanes
        epoch = 0                   # epoch tag of the open step's entries (mod STEP_EPOCHS)
        # steps to close, oldest first: (time, potentials, epoch); at most
        # pending_limit (inference 2, learning 1)
        pending: list = []
        pending_limit = PENDING_STEPS_LEARN if learn else PENDING_STEPS_INFER
        spiked_steps = []           # learning: (index, time) of beats taken with effect
        emit_list: list[int] = []                        # the emitter's spikes left
        emit_time = 0
        wta_cycles_left = 0
        stdp_busy_last = -1                              # last cycle the STDP engine is busy
        cycle = 0

        held_before: set = set()    # epochs held at the start of the previous cycle

        def held_epochs() -> set:
            """The epochs of the entries still in the F stage or a lane (one pass: the
            regression runs this model beside the simulator every cycle)."""
            held = {f_stage[1]} if f_stage is not None else set()
            for k in range(n_lanes):
                held.update(e for _, e in queues[k])
                if remaining[k]:
                    held.add(rem_epoch[k])
                if fetch_stage[k] is not None:
                    held.add(fetch_stage[k])
                if update_stage[k] is not None:
                    held.add(update_stage[k])
            return held

        while True:
            space_ok = all(len(queues[k]) + (f_stage is not None) < depth
                           for k in range(n_lanes))
            emitting = bool(emit_list)
            next_phase = phase
            next_f = None
            next_pending = list(pending)
            new_emit = None
            flush = False

            # the oldest pending step closes once its entries are all integrated, as
            # of the start of the previous cycle (the core registers what is held)
            # (needed next cycle only if a step is pending then, which takes a pending
            # step now or a dirty open step to hand over)
            held_now = held_epochs() if pending or dirty else set()
            oldest = pending[0] if pending else None
            if oldest is not None and oldest[2] not in held_before:
                newly = np.flatnonzero((oldest[1] > regs.threshold) & ~fired)
                if len(newly) == 0:
                    next_pending.pop(0)
                elif learn:
                    if phase == _RUN:
                        fired[newly] = True
                        # three-stage scan; a single candidate wins at once
                        wta_cycles_left = 1 if len(newly) == 1 else len(newly) + 2
                        # on the potentials at the end of the pending step; argmax:
                        # the lowest index on ties
                        winner = int(newly[np.argmax(oldest[1][newly])])
                        result.winner, result.winner_time = winner, oldest[0]
                        next_pending.pop(0)
                        next_phase = _WTA
                elif not emitting:
                    fired[newly] = True
                    new_emit = ([int(j) for j in newly], oldest[0])
                    next_pending.pop(0)

            if phase == _RUN:
                # (in the cycle a learning step resolves with a winner a beat is still
                # taken: it is the open step's, whose work WTA's decision flushes)
                is_end, index, time = beats[beat_ptr]
                valid = (not is_end and index < cfg.n_inputs and time < cfg.time_steps
                         and time >= cur_time)
                accepted = False
                boundary = is_end or (valid and time > cur_time)
                room = len(pending) < pending_limit
                blocked = boundary and (dirty or not room)
                if boundary and room and dirty and (is_end or space_ok):
                    # a boundary hands the open step over to be closed behind the front
                    # end (up to pending_limit steps wait)
                    next_pending.append((cur_time, potentials.copy(), epoch))
                    epoch = (epoch + 1) % STEP_EPOCHS
                    dirty = False
                    # learning takes the end beat only once nothing is pending
                    blocked = learn and is_end
                if blocked:
                    pass
                elif is_end:
                    accepted = True
                    next_phase = _STDP_WAIT if cycle <= stdp_busy_last else _END
                elif valid:
                    if learn and won:
                        accepted = True
                        cur_time = time
                    elif space_ok:
                        accepted = True
                        cur_time = time
                        dirty = True
                        next_f = (index, epoch)
                        if learn:
                            spiked_steps.append((index, time))
                        alive = self.mask[index]
                        potentials = np.where(
                            alive, fx.saturating_accumulate(potentials, self.weights[index],
                                                            cfg.potential_bits), potentials)
                else:
                    accepted = True
                    result.dropped += 1
                if accepted:
                    result.accept_cycles.append(cycle)
                    beat_ptr += 1
                    if skip_decided and learn and won and not is_end:
                        result.skipped = len(beats) - 1 - beat_ptr
                        beat_ptr = len(beats) - 1
            elif phase == _WTA:
                wta_cycles_left -= 1
                if wta_cycles_left == 0:
                    new_emit = ([winner], result.winner_time)
                    next_phase = _RUN
                    won = True
                    flush = True
                    dirty = False
                    # fetch at cycle + 1 and + 2, the scan from cycle + 3; busy until
                    # the scan ends and the last picked synapse has been written back
                    scan_cycles, last_pick = self._stdp_scan_timing(winner)
                    stdp_busy_last = cycle + STDP_FETCH_CYCLES + scan_cycles
                    if last_pick is not None:
                        stdp_busy_last = max(stdp_busy_last, cycle + STDP_FETCH_CYCLES + 1
                                             + last_pick + STDP_WRITEBACK_DELAY)
            elif phase == _STDP_WAIT:
                if cycle > stdp_busy_last:
                    next_phase = _END
            elif phase == _END and not emitting and not pending:
                result.cycles = cycle
                break

            # the emitter: one spike beat per cycle, beside the phases (the end beat
            # waits until it is idle)
            if emitting:
                result.out_events.append((emit_list.pop(0), emit_time, cycle))
            if new_emit is not None:
                emit_list, emit_time = new_emit

            # lanes (independent of the phase); the F stage's entries either go straight
            # into an idle lane with an empty queue (bypass) or into the queue
            result.syn_ops += sum(stage is not None for stage in update_stage)
            if flush:
                # WTA decided: the open step's entries are dropped (the F stage is empty:
                # no beat is taken during WTA)
                for k in range(n_lanes):
                    queues[k].clear()
                    remaining[k] = 0
                    fetch_stage[k] = update_stage[k] = None
            else:
                for k in range(n_lanes):
                    self._lane_cycle(k, queues, remaining, rem_epoch, fetch_stage,
                                     update_stage, f_stage, row_counts)
            f_stage = next_f
            pending = next_pending
            held_before = held_now
            phase = next_phase
            cycle += 1

        if learn and winner is not None:
            before = [index for index, time in spiked_steps if time <= result.winner_time]
            pre_spiked = np.zeros(cfg.n_inputs, dtype=bool)
            pre_spiked[before] = True
            result.void_syn_ops = result.syn_ops - int(self.mask[before].sum())
            later = [(i, t) for i, t in events.tolist()
                     if result.winner_time < t < cfg.time_steps and i < cfg.n_inputs]
            result.void_syn_ops_max = sum(int(self.mask[i].sum()) for i, _ in later)
            self._stdp(winner, pre_spiked, regs, result)
        for name in ("syn_ops", "stdp_updates", "pruned", "dropped"):
            self.counters[name] += getattr(result, name)
        self.counters["cycles"] += result.cycles
        self.counters["samples"] += 1
        mask = (1 << cfg.counter_bits) - 1
        for name in COUNTER_NAMES:
            self.counters[name] &= mask
        return result

    def _stdp(self, winner: int, pre_spiked, regs: CoreRegisters, result: SampleResult):
        cfg = self.cfg
        alive = self.mask[:, winner]
        rows = np.flatnonzero(alive)
        updated = fx.stdp_update(self.weights[rows, winner], pre_spiked[rows], regs.a_plus,
                                 regs.a_minus, cfg.weight_bits, cfg.rate_frac_bits)
        enable = cfg.pruning and bool(regs.prune_enable)
        updated, new_mask, newly = fx.prune(updated, np.ones(len(rows), dtype=bool),
                                            regs.theta_p, enable)
        self.weights[rows, winner] = updated
        self.mask[rows, winner] = new_mask
        result.stdp_updates += len(rows)
        result.pruned += int(newly.sum())

    def run(self, samples, regs: CoreRegisters, *,
            skip_decided: bool = False) -> list[SampleResult]:
        """Run several samples back to back."""
        return [self.run_sample(events, regs, skip_decided=skip_decided) for events in samples]


def syn_ops_bounds(results) -> tuple[int, int]:
    """The range of ``cnt_syn_ops`` over ``results`` in any timing (stalls and input
    gaps): the integration the samples need, and that plus the most the steps after
    learning winners can add (``void_syn_ops_max``).  The first is also what a lower
    bound on the cycles may count."""
    needed = sum(r.syn_ops - r.void_syn_ops for r in results)
    return needed, needed + sum(r.void_syn_ops_max for r in results)
