"""The TTFS layer core: a fully connected layer of one-spike IF neurons with on-chip STDP
and in-learning connection pruning."""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig
from .bits import lowest_set_bit
from .lane import IntegrationLane
from .layouts import (access_command_layout, access_response_layout, input_event_layout,
                      output_event_layout)
from .stdp_unit import STDPUnit

__all__ = ["TTFSCore", "COUNTER_PORTS"]

COUNTER_PORTS = ("cnt_cycles", "cnt_syn_ops", "cnt_stdp_updates", "cnt_pruned",
                 "cnt_dropped", "cnt_samples")


class TTFSCore(wiring.Component):
    """A TTFS fully connected layer that learns with STDP and prunes while it learns.

    The interface, the semantics and the micro-architecture are specified in
    ``docs/core.md``; the cycle-exact reference is
    :class:`spikeforge.golden.core_model.CoreModel`.

    Args:
        cfg: generation parameters (sizes, lanes, and whether the pruning unit exists).
    """

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {type(cfg).__name__}")
        self._cfg = cfg
        members = {
            "events_in": In(stream.Signature(input_event_layout(cfg))),
            "events_out": Out(stream.Signature(output_event_layout(cfg))),
            "access_cmd": In(stream.Signature(access_command_layout(cfg))),
            "access_rsp": Out(stream.Signature(access_response_layout(cfg))),
            "threshold": In(cfg.potential_bits),
            "theta_p": In(cfg.weight_bits),
            "a_plus": In(cfg.rate_frac_bits),
            "a_minus": In(cfg.rate_frac_bits),
            "prune_enable": In(1),
            "learn": In(1),
            "counters_clear": In(1),
            "busy": Out(1),
        }
        for name in COUNTER_PORTS:
            members[name] = Out(cfg.counter_bits)
        super().__init__(members)

    @property
    def config(self) -> CoreConfig:
        return self._cfg

    def elaborate(self, platform):
        # Architecture (docs/core.md has the long version).  Lane k owns neurons
        # j = k (mod lanes) and has its own weight memory (address row * S + slot), row
        # mask (one S-bit word per input row) and column mask (the alive rows of each of
        # its neurons, colmask_word_bits per word).  The front end takes one input event
        # per cycle and reads its row-mask word in every lane; one cycle later (the F
        # stage) each lane with a non-zero slice queues (row, slice), so events whose
        # synapses are all pruned never reach a lane.  Lanes run decoupled and meet at
        # time-step boundaries: a beat of a later step (or the end marker) waits until all
        # lanes have drained; then CLOSE latches the neurons whose potential crossed the
        # threshold during the step (detected at write-back, no scan) and EMIT sends them
        # (inference), or WTA picks the winner among them (learning; integration stops).
        # After the end marker, STDP walks the winner's column mask word by word with a
        # priority encoder: read a weight, one cycle later write back the STDP update
        # and, if the pruning rule fires, clear both mask bits.  END sends the cycle count.
        # Without cfg.pruning no mask memory, prune compare or mask write exists: slices
        # and column words are constants with every synapse alive.
        cfg = self._cfg
        n_lanes, slots = cfg.lanes, cfg.slots_per_lane
        lane_bits = (n_lanes - 1).bit_length()
        word_bits, n_words = cfg.colmask_word_bits, cfg.colmask_words
        m = Module()

        # ---------------------------------------------------------------- storage
        lanes = [IntegrationLane(cfg, k) for k in range(n_lanes)]
        for k, lane in enumerate(lanes):
            m.submodules[f"lane{k}"] = lane
        valid_slots = [sum(1 << s for s in range(slots) if s * n_lanes + k < cfg.n_neurons)
                       for k in range(n_lanes)]

        def column_word_valid(word):
            return sum(1 << b for b in range(word_bits) if word * word_bits + b < cfg.n_inputs)

        weight_rd, weight_wr = [], []
        rowmask_rd, rowmask_wr, colmask_rd, colmask_wr = [], [], [], []
        for k in range(n_lanes):
            weights = memory.Memory(shape=cfg.weight_bits, depth=cfg.n_inputs * slots, init=[])
            m.submodules[f"weights{k}"] = weights
            weight_rd.append(weights.read_port())
            weight_wr.append(weights.write_port())
            if cfg.pruning:
                rowmask = memory.Memory(shape=slots, depth=cfg.n_inputs,
                                        init=[valid_slots[k]] * cfg.n_inputs)
                colmask = memory.Memory(shape=word_bits, depth=slots * n_words,
                                        init=[column_word_valid(w) for _ in range(slots)
                                              for w in range(n_words)])
                m.submodules[f"rowmask{k}"] = rowmask
                m.submodules[f"colmask{k}"] = colmask
                rowmask_rd.append(rowmask.read_port())
                rowmask_wr.append(rowmask.write_port(granularity=1))
                colmask_rd.append(colmask.read_port())
                colmask_wr.append(colmask.write_port(granularity=1))

        stdp = m.submodules.stdp = STDPUnit(cfg)

        # ---------------------------------------------------------------- state
        active = Signal()
        cur_time = Signal(cfg.time_bits)
        dirty = Signal()
        won = Signal()
        winner = Signal(cfg.neuron_index_bits)
        sample_cycles = Signal(cfg.counter_bits)
        f_valid = Signal()
        f_index = Signal(cfg.input_index_bits)
        pre_spiked = Signal(cfg.n_inputs)
        emit_vec = Signal(cfg.n_neurons)
        wta_vec = Signal(cfg.n_neurons)
        best = Signal(cfg.neuron_index_bits)
        best_potential = Signal(cfg.potential_bits)
        best_valid = Signal()
        stdp_word = Signal(range(n_words))
        scan_reg = Signal(word_bits)
        scan_load = Signal()
        w_valid = Signal()
        w_row = Signal(cfg.input_index_bits)
        w_word = Signal(range(n_words))
        w_bit = Signal(range(word_bits))
        rsp_valid = Signal()
        rsp_lane = Signal(range(n_lanes))
        rsp_slot = Signal(range(slots))
        rsp_in_range = Signal()
        counters = {name: getattr(self, name) for name in COUNTER_PORTS}
        dropped_strobe = Signal()

        def lane_of(neuron):
            return neuron[:lane_bits] if lane_bits else Const(0, 1)

        def slot_of(neuron):
            return neuron >> lane_bits

        # ---------------------------------------------------------------- lanes
        drained = ~f_valid & ~Cat(*[lane.busy for lane in lanes]).any()
        space_ok = Cat(*[(lane.level + f_valid) < cfg.fifo_depth for lane in lanes]).all()
        for k, lane in enumerate(lanes):
            slice_bits = rowmask_rd[k].data if cfg.pruning else Const(valid_slots[k], slots)
            m.d.comb += [
                lane.threshold.eq(self.threshold),
                lane.weight_data.eq(weight_rd[k].data),
                weight_rd[k].addr.eq(lane.weight_addr),
                weight_rd[k].en.eq(lane.weight_read),
                lane.events.payload.index.eq(f_index),
                lane.events.payload.slice.eq(slice_bits),
                lane.events.valid.eq(f_valid & (slice_bits != 0)),
            ]

        # ---------------------------------------------------------------- front end
        beat = self.events_in.payload
        valid_event = (~beat.end & (beat.index < cfg.n_inputs) & (beat.time < cfg.time_steps)
                       & (beat.time >= cur_time))
        access_first = ~active & self.access_cmd.valid
        accept = self.events_in.valid & self.events_in.ready
        m.d.sync += f_valid.eq(0)
        if cfg.pruning:
            for k in range(n_lanes):
                m.d.comb += rowmask_rd[k].addr.eq(beat.index)
                m.d.comb += rowmask_rd[k].en.eq(0)
        with m.If(active):
            m.d.sync += sample_cycles.eq(sample_cycles + 1)
        with m.If(accept & ~active):
            m.d.sync += [active.eq(1), sample_cycles.eq(1)]
        m.d.comb += self.busy.eq(active)

        # ---------------------------------------------------------------- STDP write-back
        winner_lane = lane_of(winner)
        winner_slot = slot_of(winner)
        m.d.sync += w_valid.eq(0)
        m.d.comb += [
            stdp.weight.eq(Array(port.data for port in weight_rd)[winner_lane]),
            stdp.potentiate.eq(pre_spiked.bit_select(w_row, 1)),
            stdp.a_plus.eq(self.a_plus),
            stdp.a_minus.eq(self.a_minus),
            stdp.theta_p.eq(self.theta_p),
            stdp.prune_enable.eq(self.prune_enable),
        ]
        with m.If(w_valid):
            for k in range(n_lanes):
                with m.If(winner_lane == k):
                    m.d.comb += [
                        weight_wr[k].addr.eq(w_row * slots + winner_slot),
                        weight_wr[k].data.eq(stdp.new_weight),
                        weight_wr[k].en.eq(1),
                    ]
                    if cfg.pruning:
                        with m.If(stdp.pruned):
                            m.d.comb += [
                                rowmask_wr[k].addr.eq(w_row),
                                rowmask_wr[k].data.eq(0),
                                rowmask_wr[k].en.eq(Const(1, slots) << winner_slot),
                                colmask_wr[k].addr.eq(winner_slot * n_words + w_word),
                                colmask_wr[k].data.eq(0),
                                colmask_wr[k].en.eq(Const(1, word_bits) << w_bit),
                            ]

        # ---------------------------------------------------------------- access port
        cmd = self.access_cmd.payload
        cmd_lane = lane_of(cmd.neuron)
        cmd_slot = slot_of(cmd.neuron)
        cmd_in_range = (cmd.input < cfg.n_inputs) & (cmd.neuron < cfg.n_neurons)
        access_accept = self.access_cmd.valid & self.access_cmd.ready
        with m.If(access_accept):
            with m.If(cmd.write):
                with m.If(cmd_in_range):
                    for k in range(n_lanes):
                        with m.If(cmd_lane == k):
                            stored = Mux(cmd.mask, cmd.weight, 0) if cfg.pruning else cmd.weight
                            m.d.comb += [
                                weight_wr[k].addr.eq(cmd.input * slots + cmd_slot),
                                weight_wr[k].data.eq(stored),
                                weight_wr[k].en.eq(1),
                            ]
                            if cfg.pruning:
                                ones_row = (1 << slots) - 1
                                ones_col = (1 << word_bits) - 1
                                m.d.comb += [
                                    rowmask_wr[k].addr.eq(cmd.input),
                                    rowmask_wr[k].data.eq(Mux(cmd.mask, ones_row, 0)),
                                    rowmask_wr[k].en.eq(Const(1, slots) << cmd_slot),
                                    colmask_wr[k].addr.eq(
                                        cmd_slot * n_words + cmd.input // word_bits
                                        if n_words > 1 else cmd_slot),
                                    colmask_wr[k].data.eq(Mux(cmd.mask, ones_col, 0)),
                                    colmask_wr[k].en.eq(Const(1, word_bits) << (
                                        cmd.input % word_bits if n_words > 1 else cmd.input)),
                                ]
            with m.Else():
                m.d.sync += [rsp_valid.eq(1), rsp_lane.eq(cmd_lane), rsp_slot.eq(cmd_slot),
                             rsp_in_range.eq(cmd_in_range)]
                for k in range(n_lanes):
                    m.d.comb += [weight_rd[k].addr.eq(cmd.input * slots + cmd_slot),
                                 weight_rd[k].en.eq(1)]
                    if cfg.pruning:
                        m.d.comb += [rowmask_rd[k].addr.eq(cmd.input), rowmask_rd[k].en.eq(1)]
        # The read ports hold their data while not enabled, and nothing else reads while a
        # response waits (commands and samples are both held off), so the response can
        # be taken straight from the ports.
        rsp = self.access_rsp.payload
        rsp_weight = Array(port.data for port in weight_rd)[rsp_lane]
        if cfg.pruning:
            rsp_mask = Array(port.data for port in rowmask_rd)[rsp_lane].bit_select(rsp_slot, 1)
        else:
            rsp_mask = Const(1, 1)
        m.d.comb += [
            self.access_rsp.valid.eq(rsp_valid),
            rsp.weight.eq(Mux(rsp_in_range, rsp_weight, 0)),
            rsp.mask.eq(rsp_in_range & rsp_mask),
        ]
        with m.If(self.access_rsp.valid & self.access_rsp.ready):
            m.d.sync += rsp_valid.eq(0)

        # ---------------------------------------------------------------- control
        newly_all = Signal(cfg.n_neurons)
        m.d.comb += newly_all.eq(Cat(*[lanes[j % n_lanes].newly_fired[j // n_lanes]
                                       for j in range(cfg.n_neurons)]))
        out = self.events_out.payload

        with m.FSM(name="phase"):
            with m.State("RUN"):
                m.d.comb += self.access_cmd.ready.eq(~active & ~rsp_valid)
                with m.If(self.events_in.valid & ~access_first & ~rsp_valid):
                    with m.If(beat.end):
                        with m.If(dirty):
                            with m.If(drained):
                                m.next = "CLOSE"
                        with m.Else():
                            m.d.comb += self.events_in.ready.eq(1)
                            with m.If(self.learn & won):
                                m.next = "STDP_FETCH"
                            with m.Else():
                                m.next = "END"
                    with m.Elif(valid_event):
                        with m.If(dirty & (beat.time > cur_time)):
                            with m.If(drained):
                                m.next = "CLOSE"
                        with m.Elif(self.learn & won):
                            m.d.comb += self.events_in.ready.eq(1)
                            m.d.sync += cur_time.eq(beat.time)
                        with m.Else():
                            m.d.comb += self.events_in.ready.eq(space_ok)
                            with m.If(space_ok):
                                m.d.sync += [cur_time.eq(beat.time), dirty.eq(1),
                                             f_valid.eq(1), f_index.eq(beat.index)]
                                with m.If(self.learn):
                                    m.d.sync += pre_spiked.bit_select(beat.index, 1).eq(1)
                                if cfg.pruning:
                                    for k in range(n_lanes):
                                        m.d.comb += rowmask_rd[k].en.eq(1)
                    with m.Else():
                        m.d.comb += self.events_in.ready.eq(1)
                        m.d.comb += dropped_strobe.eq(1)

            with m.State("CLOSE"):
                m.d.comb += [lane.close.eq(1) for lane in lanes]
                m.d.sync += dirty.eq(0)
                with m.If(newly_all == 0):
                    m.next = "RUN"
                with m.Elif(self.learn):
                    m.d.sync += [wta_vec.eq(newly_all), best_valid.eq(0)]
                    m.next = "WTA"
                with m.Else():
                    m.d.sync += emit_vec.eq(newly_all)
                    m.next = "EMIT"

            with m.State("WTA"):
                # One candidate per cycle in ascending index; only a strictly larger
                # potential replaces the best, so ties go to the lower index.
                candidate, rest = lowest_set_bit(wta_vec)
                m.d.comb += [lane.probe_slot.eq(slot_of(candidate)) for lane in lanes]
                potential = Array(lane.probe_potential for lane in lanes)[lane_of(candidate)]
                better = ~best_valid | (potential > best_potential)
                chosen = Mux(better, candidate, best)
                m.d.sync += wta_vec.eq(rest)
                with m.If(better):
                    m.d.sync += [best.eq(candidate), best_potential.eq(potential),
                                 best_valid.eq(1)]
                with m.If(rest == 0):
                    m.d.sync += [emit_vec.eq(Const(1, cfg.n_neurons) << chosen), won.eq(1),
                                 winner.eq(chosen)]
                    m.next = "EMIT"

            with m.State("EMIT"):
                neuron, rest = lowest_set_bit(emit_vec)
                m.d.comb += [
                    self.events_out.valid.eq(1),
                    out.neuron.eq(neuron),
                    out.time.eq(cur_time),
                    out.end.eq(0),
                ]
                with m.If(self.events_out.ready):
                    m.d.sync += emit_vec.eq(rest)
                    with m.If(rest == 0):
                        m.next = "RUN"

            with m.State("STDP_FETCH"):
                if cfg.pruning:
                    for k in range(n_lanes):
                        m.d.comb += [colmask_rd[k].addr.eq(winner_slot * n_words),
                                     colmask_rd[k].en.eq(1)]
                m.d.sync += [stdp_word.eq(0), scan_load.eq(1)]
                m.next = "STDP_SCAN"

            with m.State("STDP_SCAN"):
                if cfg.pruning:
                    fetched = Array(port.data for port in colmask_rd)[winner_lane]
                else:
                    last_valid = column_word_valid(n_words - 1)
                    fetched = Mux(stdp_word == n_words - 1, last_valid, (1 << word_bits) - 1)
                current = Signal(word_bits)
                m.d.comb += current.eq(Mux(scan_load, fetched, scan_reg))
                bit, rest = lowest_set_bit(current)
                row = stdp_word * word_bits + bit
                left = Mux(current != 0, rest, 0)
                with m.If(current != 0):
                    for k in range(n_lanes):
                        with m.If(winner_lane == k):
                            m.d.comb += [weight_rd[k].addr.eq(row * slots + winner_slot),
                                         weight_rd[k].en.eq(1)]
                    m.d.sync += [w_valid.eq(1), w_row.eq(row), w_word.eq(stdp_word),
                                 w_bit.eq(bit)]
                with m.If(left == 0):
                    with m.If(stdp_word == n_words - 1):
                        m.next = "END"
                    with m.Else():
                        if cfg.pruning:
                            for k in range(n_lanes):
                                m.d.comb += [
                                    colmask_rd[k].addr.eq(winner_slot * n_words + stdp_word + 1),
                                    colmask_rd[k].en.eq(1)]
                        m.d.sync += [stdp_word.eq(stdp_word + 1), scan_load.eq(1)]
                with m.Else():
                    m.d.sync += [scan_reg.eq(left), scan_load.eq(0)]

            with m.State("END"):
                m.d.comb += [
                    self.events_out.valid.eq(1),
                    out.end.eq(1),
                    out.cycles.eq(sample_cycles),
                ]
                with m.If(self.events_out.ready):
                    m.d.comb += [lane.clear.eq(1) for lane in lanes]
                    m.d.sync += [active.eq(0), cur_time.eq(0), dirty.eq(0), won.eq(0),
                                 pre_spiked.eq(0), sample_cycles.eq(0)]
                    m.next = "RUN"

        # ---------------------------------------------------------------- counters
        end_taken = Signal()
        m.d.comb += end_taken.eq(out.end & self.events_out.valid & self.events_out.ready)
        steps = {
            "cnt_cycles": Mux(end_taken, sample_cycles, 0),
            "cnt_syn_ops": sum(lane.syn_op for lane in lanes),
            "cnt_stdp_updates": w_valid,
            "cnt_pruned": (w_valid & stdp.pruned) if cfg.pruning else Const(0, 1),
            "cnt_dropped": dropped_strobe,
            "cnt_samples": end_taken,
        }
        with m.If(self.counters_clear):
            m.d.sync += [counter.eq(0) for counter in counters.values()]
        with m.Else():
            m.d.sync += [counter.eq(counter + steps[name]) for name, counter in counters.items()]
        return m
