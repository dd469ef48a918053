"""One integration lane of the core."""

from amaranth.hdl import Array, Cat, Module, Mux, ResetInserter, Signal
from amaranth.lib import data, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ..config import STEP_EPOCHS, CoreConfig
from .bits import at_most_one_bit, lowest_set_bit

__all__ = ["IntegrationLane", "lane_queue_layout"]


def lane_queue_layout(cfg: CoreConfig) -> data.StructLayout:
    """An entry of a lane's event queue: the input row, its alive slots in the lane, and
    the epoch of its event's time step (modulo ``STEP_EPOCHS``)."""
    return data.StructLayout({"index": cfg.input_index_bits, "slice": cfg.slots_per_lane,
                              "epoch": range(STEP_EPOCHS)})


class IntegrationLane(wiring.Component):
    """Integrates the alive synapses of queued input events into this lane's neurons.

    Lane ``k`` owns neurons ``k, k + lanes, k + 2 * lanes, ...`` (slot ``s`` is neuron
    ``s * lanes + k``).  Its weights live in a memory owned by the core; the lane drives
    the read address and gets the data one cycle later.

    Ports:
        events: queue entries ``(index, slice)``: the bits of ``slice`` are the alive
            synapses of input row ``index`` in this lane (never all zero).
        room: bit 0: the queue has room for one more entry, bit 1: for two (the core's
            front end keeps room for one in flight).  Registers, computed a cycle ahead
            from the queue's next level, so that the core's ``ready`` starts at them
            rather than at compares of four lanes' levels.
        busy: the queue is not empty, slice bits are left, or a synapse is in the fetch
            or update stage.
        holds: per epoch, an entry of that epoch is still queued, being picked, fetched
            or updated (the core registers these to decide when a step is integrated).
        weight_row, weight_slot, weight_read: the synapse to read (the core maps it to
            its row bank); weight_data: the weight, one cycle after weight_read (the
            lane registers it before adding it: the update is two cycles after the read).
        threshold: firing threshold (fire when potential > threshold).
        close_epoch: the oldest pending step's epoch: ``newly_fired`` and ``newly_any``
            are about it.
        newly_fired: per slot, crossed with its first crossing in epoch ``close_epoch``,
            and not fired.
        newly_any: some slot is newly fired (``newly_fired != 0``, from a register per
            epoch, so that the core's step-close decision starts at registers)
        close: time-step close: ``fired |= newly_fired``.
        clear: start of a new sample: potentials, crossed, fired and snapshot flags to 0.
        open_epoch, snap_enable: learning with a step pending or in WTA: the first
            update of epoch ``open_epoch`` to a slot saves the slot's potential (its
            value at the end of the pending step) in a snapshot; snapshots are dropped
            while snap_enable is 0.
        flush: drop every queued entry, the current entry and the fetch stage (the
            update stage's synapse is still added this cycle).
        probe_slot, probe_potential: read one potential for winner selection: the
            snapshot if the slot has one, else the potential.
        syn_op: a synapse was integrated this cycle (statistics).
    """

    def __init__(self, cfg: CoreConfig, lane: int):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {type(cfg).__name__}")
        if not 0 <= lane < cfg.lanes:
            raise ValueError(f"lane = {lane} is out of range: allowed 0 to {cfg.lanes - 1}")
        self._cfg = cfg
        self._lane = lane
        slots = cfg.slots_per_lane
        super().__init__({
            "events": In(stream.Signature(lane_queue_layout(cfg))),
            "room": Out(2, init=0b11),
            "busy": Out(1),
            "holds": Out(STEP_EPOCHS),
            "weight_row": Out(cfg.input_index_bits),
            "weight_slot": Out(range(slots)),
            "weight_read": Out(1),
            "weight_data": In(cfg.weight_bits),
            "threshold": In(cfg.potential_bits),
            "close_epoch": In(range(STEP_EPOCHS)),
            "newly_fired": Out(slots),
            "newly_any": Out(1),
            "close": In(1),
            "clear": In(1),
            "open_epoch": In(range(STEP_EPOCHS)),
            "snap_enable": In(1),
            "flush": In(1),
            "probe_slot": In(range(slots)),
            "probe_potential": Out(cfg.potential_bits),
            "syn_op": Out(1),
        })

    def elaborate(self, platform):
        # Pipeline: queue (FWFT SyncFIFO) -> current entry (row, remaining slice bits) ->
        # pick the lowest remaining bit and read its weight -> fetch: register the weight
        # the block RAM delivers (its clock-to-output time and the core's bank
        # multiplexer would otherwise sit in front of the adder on the critical path) ->
        # update: add the weight to that slot's potential (registers, so any slot can be
        # updated each cycle) and set its crossed flag if the new potential exceeds the
        # threshold.
        # The next entry is taken in the same cycle as the last bit of the current one
        # is picked, so the lane never idles while work is queued: dead synapses were
        # never queued and cost nothing here.  An idle lane with an empty queue takes a
        # new entry straight from its input (bypass), saving the queue's cycle of latency
        # at every time step.  Arithmetic: saturating_accumulate in
        # golden/fixedpoint.py.  Every entry carries the epoch of its time step (a
        # counter modulo STEP_EPOCHS), and each slot keeps the epoch of its first
        # crossing: the core lets later steps' events in while this lane still
        # integrates an earlier step's, and closes that step from the crossings of its
        # epoch once no entry of it is left here.  In learning the winner is chosen on
        # end-of-step potentials, so while a step is pending (snap_enable) the first
        # update of the open step to a slot first saves the slot's potential in a
        # snapshot, which the probe then reads; once the winner is known the core
        # flushes the lane.
        cfg = self._cfg
        slots = cfg.slots_per_lane
        m = Module()

        queue = fifo.SyncFIFO(width=lane_queue_layout(cfg).size, depth=cfg.fifo_depth)
        m.submodules.queue = ResetInserter(self.flush)(queue)
        bypass = Signal()
        m.d.comb += [
            queue.w_data.eq(self.events.payload),
            queue.w_en.eq(self.events.valid & ~bypass),
            self.events.ready.eq(queue.w_rdy | bypass),
        ]
        head = data.View(lane_queue_layout(cfg), queue.r_data)

        row = Signal(cfg.input_index_bits)
        remaining = Signal(slots)
        cur_epoch = Signal(range(STEP_EPOCHS))
        fetch_valid = Signal()
        fetch_slot = Signal(range(slots))
        fetch_epoch = Signal(range(STEP_EPOCHS))
        update_valid = Signal()
        update_slot = Signal(range(slots))
        update_epoch = Signal(range(STEP_EPOCHS))
        update_weight = Signal(cfg.weight_bits)

        pick_slot, remaining_after = lowest_set_bit(remaining)
        picking = remaining != 0
        m.d.comb += [
            self.weight_row.eq(row),
            self.weight_slot.eq(pick_slot),
            self.weight_read.eq(picking),
        ]
        m.d.sync += [
            fetch_valid.eq(picking),
            fetch_slot.eq(pick_slot),
            fetch_epoch.eq(cur_epoch),
            update_valid.eq(fetch_valid),
            update_slot.eq(fetch_slot),
            update_epoch.eq(fetch_epoch),
            update_weight.eq(self.weight_data),
        ]
        left = Mux(picking, remaining_after, 0)
        # last_pick: at most one bit of `remaining` is set, so nothing is left after this
        # cycle's pick (left == 0).  A register, loaded beside `remaining`, because the
        # queue's read and write enables, the bypass and the step-close logic all wait
        # for it; computed from `remaining` it sat in front of all of them.
        last_pick = Signal(init=1)

        with m.If(self.flush):
            m.d.sync += [remaining.eq(0), last_pick.eq(1), fetch_valid.eq(0),
                         update_valid.eq(0)]
        with m.Elif(last_pick & queue.r_rdy):
            m.d.comb += queue.r_en.eq(1)
            m.d.sync += [row.eq(head.index), remaining.eq(head.slice),
                         last_pick.eq(at_most_one_bit(head.slice)),
                         cur_epoch.eq(head.epoch)]
        with m.Elif(last_pick & self.events.valid):
            m.d.comb += bypass.eq(1)
            m.d.sync += [row.eq(self.events.payload.index),
                         remaining.eq(self.events.payload.slice),
                         last_pick.eq(at_most_one_bit(self.events.payload.slice)),
                         cur_epoch.eq(self.events.payload.epoch)]
        with m.Else():
            m.d.sync += [remaining.eq(left), last_pick.eq(at_most_one_bit(left))]

        potentials = Array(Signal(cfg.potential_bits, name=f"potential{s}") for s in range(slots))
        # Per slot: crossed the threshold in this sample, and the epoch of its first
        # crossing.  Potentials only rise, so a neuron fires at the step of its first
        # crossing: a step's newly fired neurons are those whose first crossing carries
        # its epoch and that have not fired (an epoch comes round again only after the
        # step that used it has closed).  One epoch per slot instead of a crossed vector
        # per epoch: 72 fewer LUT4 per lane with four epochs.
        crossed = Signal(slots)
        cross_epoch = Array(Signal(range(STEP_EPOCHS), name=f"cross_epoch{s}")
                            for s in range(slots))
        fired = Signal(slots)
        # per epoch: some slot first crossed in it and has not fired.  Set at a first
        # crossing, cleared when its step closes (no update of that epoch is left then,
        # so no crossing of it can arrive in the same cycle).
        crossed_in_epoch = Signal(STEP_EPOCHS)
        # snapshots in LUT RAM (one write, one asynchronous read port): a register per
        # slot and its write multiplexer cost more than the rest of the lane's state
        m.submodules.snapshots = snapshots = memory.Memory(
            shape=cfg.potential_bits, depth=slots, init=[])
        snapshot_wr = snapshots.write_port()
        snapshot_rd = snapshots.read_port(domain="comb")
        snapped = Signal(slots)
        total = Signal(cfg.potential_bits + 1)
        saturated = Signal(cfg.potential_bits)
        m.d.comb += [
            total.eq(potentials[update_slot] + update_weight),
            saturated.eq(Mux(total > cfg.potential_max, cfg.potential_max, total)),
            self.syn_op.eq(update_valid),
            self.newly_fired.eq(Cat(crossed[s] & (cross_epoch[s] == self.close_epoch)
                                    for s in range(slots)) & ~fired),
            self.newly_any.eq(crossed_in_epoch.bit_select(self.close_epoch, 1)),
            snapshot_rd.addr.eq(self.probe_slot),
            self.probe_potential.eq(Mux(snapped.bit_select(self.probe_slot, 1),
                                        snapshot_rd.data, potentials[self.probe_slot])),
            snapshot_wr.addr.eq(update_slot),
            snapshot_wr.data.eq(potentials[update_slot]),
            self.busy.eq(queue.r_rdy | (remaining != 0) | fetch_valid | update_valid),
        ]
        # Queued entries per epoch: `holds` for every epoch, from registers rather than
        # from the queue's LUT RAM (whose head alone would tell only for the oldest).
        queued = [Signal(range(cfg.fifo_depth + 1), name=f"queued_epoch{e}")
                  for e in range(STEP_EPOCHS)]
        pushed = queue.w_en & queue.w_rdy
        popped = queue.r_en & queue.r_rdy
        level_next = queue.level + pushed - popped
        with m.If(self.flush):                         # (the queue is reset with it)
            m.d.sync += self.room.eq(0b11)
        with m.Else():
            m.d.sync += self.room.eq(Cat(level_next < cfg.fifo_depth,
                                         level_next < cfg.fifo_depth - 1))
        for e in range(STEP_EPOCHS):
            with m.If(self.flush):
                m.d.sync += queued[e].eq(0)
            with m.Else():
                m.d.sync += queued[e].eq(queued[e]
                                         + (pushed & (self.events.payload.epoch == e))
                                         - (popped & (head.epoch == e)))
        m.d.comb += self.holds.eq(Cat(*[(queued[e] != 0)
                                        | ((remaining != 0) & (cur_epoch == e))
                                        | (fetch_valid & (fetch_epoch == e))
                                        | (update_valid & (update_epoch == e))
                                        for e in range(STEP_EPOCHS)]))
        with m.If(self.clear | ~self.snap_enable):
            m.d.sync += snapped.eq(0)
        with m.Elif(update_valid & (update_epoch == self.open_epoch)
                    & ~snapped.bit_select(update_slot, 1)):
            # entries reach a lane in epoch order, so the open step's first update of
            # a slot comes after every update of the pending step to it
            m.d.comb += snapshot_wr.en.eq(1)
            m.d.sync += snapped.bit_select(update_slot, 1).eq(1)
        with m.If(self.clear):
            m.d.sync += [p.eq(0) for p in potentials]
            m.d.sync += [crossed.eq(0), fired.eq(0), crossed_in_epoch.eq(0)]
        with m.Else():
            with m.If(self.close):
                m.d.sync += [fired.eq(fired | self.newly_fired),
                             crossed_in_epoch.bit_select(self.close_epoch, 1).eq(0)]
            with m.If(update_valid):
                m.d.sync += potentials[update_slot].eq(saturated)
                with m.If((saturated > self.threshold) & ~crossed.bit_select(update_slot, 1)):
                    m.d.sync += [crossed.bit_select(update_slot, 1).eq(1),
                                 cross_epoch[update_slot].eq(update_epoch),
                                 crossed_in_epoch.bit_select(update_epoch, 1).eq(1)]
        return m
