"""The TTFS layer core: a fully connected layer of one-spike IF neurons with on-chip STDP
and in-learning connection pruning."""

from amaranth.hdl import Array, Assert, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ..config import PENDING_STEPS_INFER, PENDING_STEPS_LEARN, STEP_EPOCHS, CoreConfig
from .bits import at_most_one_bit, lowest_set_bit, mixed_radix
from .block_ram import BlockRAMReadPort
from .lane import IntegrationLane
from .layouts import (access_command_layout, access_response_layout, input_event_layout,
                      output_event_layout)
from .stdp_unit import STDP_UNIT_LATENCY, STDPUnit

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
        check_memory_collisions: add simulation assertions that no weight memory is read
            and written at one address in one cycle (for amaranth.sim testbenches).  The
            weight memories are marked ``no_rw_check`` for synthesis (through
            :class:`~spikeforge.hw.block_ram.BlockRAMReadPort`), since the block RAM's
            result in that case is undefined and emulating it costs logic on the read
            path; the assertions check the design never relies on it.
    """

    def __init__(self, cfg: CoreConfig, *, check_memory_collisions: bool = False):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {type(cfg).__name__}")
        self._cfg = cfg
        self._check_memory_collisions = bool(check_memory_collisions)
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
            "decided": Out(1),
        }
        for name in COUNTER_PORTS:
            members[name] = Out(cfg.counter_bits)
        super().__init__(members)

    @property
    def config(self) -> CoreConfig:
        return self._cfg

    def elaborate(self, platform):
        # Architecture (docs/core.md has the long version).  Lane k owns neurons
        # j = k (mod lanes).  Its synapses are split into `lanes` row banks (row i in bank
        # i % lanes, entry i // lanes), each with its own weight memory (entry * S + slot),
        # row mask (one S-bit word per row: the row's alive synapses in this lane) and
        # column mask (per slot, the alive rows of the bank, colmask_word_bits per word).
        # The front end takes one input event per cycle and reads its row-mask word in
        # every lane; one cycle later (the F stage) each lane with a non-zero slice gets
        # (row, slice), so events whose synapses are all pruned never reach a lane.  Lanes
        # run decoupled.  Every lane entry carries its step's epoch (mod STEP_EPOCHS) and
        # lanes keep their crossings (detected at write-back, no scan) per epoch.  Steps
        # overlap: a beat of a later step (or the end marker) hands the open step over as
        # *pending* and goes on at once (up to two pending steps in inference, one in
        # learning); the cycle after no entry of the oldest pending epoch is left, that
        # step closes.  In inference its newly crossed neurons are latched into the
        # emitter, which sends one spike beat per cycle beside everything else.  In learning a step without crossings closes silently;
        # one with crossings goes to WTA, which picks the winner on the potentials at the
        # end of that step (each lane snapshots a potential before the open step first
        # changes it) and then flushes the open step's work (its inputs count as after
        # the winner; integration stops for the sample).  STDP then walks the winner's
        # column masks, all row banks in parallel, each with a priority encoder: read a
        # weight, register it, write back the STDP update four cycles later and, if the
        # pruning rule fires, clear both mask bits.  END sends the cycle count.  Without
        # cfg.pruning no mask memory, prune compare or mask write exists: slices and
        # column words are constants with every synapse alive.
        cfg = self._cfg
        n_lanes, slots = cfg.lanes, cfg.slots_per_lane
        n_banks = n_lanes
        lane_bits = (n_lanes - 1).bit_length()
        entries = cfg.rows_per_bank
        word_bits, n_words = cfg.colmask_word_bits, cfg.colmask_words
        m = Module()

        def low(value):
            """Lane (of a neuron) or bank (of a row): the low bits."""
            return value[:lane_bits] if lane_bits else Const(0, 1)

        def high(value):
            """Slot (of a neuron) or bank entry (of a row)."""
            return value >> lane_bits

        # ---------------------------------------------------------------- storage
        lanes = [IntegrationLane(cfg, k) for k in range(n_lanes)]
        for k, lane in enumerate(lanes):
            m.submodules[f"lane{k}"] = lane
        valid_slots = [sum(1 << s for s in range(slots) if s * n_lanes + k < cfg.n_neurons)
                       for k in range(n_lanes)]

        def row_exists(bank, entry):
            return entry * n_banks + bank < cfg.n_inputs

        def column_word_valid(bank, word):
            return sum(1 << b for b in range(word_bits) if row_exists(bank, word * word_bits + b))

        # [lane][bank] read/write ports
        weight_rd = [[None] * n_banks for _ in range(n_lanes)]
        weight_wr = [[None] * n_banks for _ in range(n_lanes)]
        rowmask_rd = [[None] * n_banks for _ in range(n_lanes)]
        rowmask_wr = [[None] * n_banks for _ in range(n_lanes)]
        colmask_rd = [[None] * n_banks for _ in range(n_lanes)]
        colmask_wr = [[None] * n_banks for _ in range(n_lanes)]
        for k in range(n_lanes):
            for b in range(n_banks):
                # no read of an address in the cycle it is written (see the class
                # docstring): the STDP write-back and its scan never meet on one
                # synapse, lanes do not read while STDP writes, and access commands run
                # alone
                weights = memory.Memory(shape=cfg.weight_bits, depth=entries * slots, init=[],
                                        attrs={"no_rw_check": 1})
                m.submodules[f"weights_l{k}_b{b}"] = weights
                weight_rd[k][b] = BlockRAMReadPort(m, weights, name=f"weights_l{k}_b{b}_rd")
                weight_wr[k][b] = weights.write_port()
                if self._check_memory_collisions:
                    rd, wr = weight_rd[k][b], weight_wr[k][b]
                    m.d.comb += Assert(~(rd.en & wr.en & (rd.addr == wr.addr)),
                                       f"weights_l{k}_b{b}: one address read and written "
                                       f"in one cycle")
                if cfg.pruning:
                    rowmask = memory.Memory(
                        shape=slots, depth=entries,
                        init=[valid_slots[k] if row_exists(b, e) else 0 for e in range(entries)])
                    colmask = memory.Memory(
                        shape=word_bits, depth=slots * n_words,
                        init=[column_word_valid(b, w) if valid_slots[k] >> s & 1 else 0
                              for s in range(slots) for w in range(n_words)])
                    m.submodules[f"rowmask_l{k}_b{b}"] = rowmask
                    m.submodules[f"colmask_l{k}_b{b}"] = colmask
                    # Asynchronous read ports: the masks are LUT RAM, whose reads are
                    # combinational anyway; a synchronous port would add a data register
                    # per memory (640 flip-flops for the default core, clocked every
                    # cycle), so each reader registers only the word it needs, after
                    # its own lane/bank multiplexer.
                    rowmask_rd[k][b] = rowmask.read_port(domain="comb")
                    # Whole-word writes (read-modify-write by the writers) rather than
                    # bit-granular ones: a bit write enable splits a memory into 1-bit
                    # slices, which cost ~4x the LUT RAM and a decoder per bit.
                    rowmask_wr[k][b] = rowmask.write_port()
                    colmask_rd[k][b] = colmask.read_port(domain="comb")
                    colmask_wr[k][b] = colmask.write_port()
        # Learning: per row bank, the time of each input's first spike in the sample (valid
        # where pre_spiked is set).  STDP potentiates a synapse whose input first spiked
        # at or before the winner's step: inputs of the step after it, which the front end
        # takes before the winner is known, count as after.  LUT RAM, read by the bank's
        # STDP walk.
        spike_time_rd, spike_time_wr = [], []
        for b in range(n_banks):
            spike_times = memory.Memory(shape=cfg.time_bits, depth=entries, init=[])
            m.submodules[f"spike_time_b{b}"] = spike_times
            spike_time_rd.append(spike_times.read_port(domain="comb"))
            spike_time_wr.append(spike_times.write_port())
        entry_bits = max(1, (entries - 1).bit_length())
        stdp_units = []
        for b in range(n_banks):
            # the tag carries the synapse's bank entry (the write-back reads the mask
            # words it changes itself: see the STDP banks below)
            unit = STDPUnit(cfg, tag_bits=entry_bits)
            m.submodules[f"stdp_b{b}"] = unit
            stdp_units.append(unit)

        # ---------------------------------------------------------------- state
        active = Signal()
        cur_time = Signal(cfg.time_bits)
        dirty = Signal()
        won = Signal()
        winner = Signal(cfg.neuron_index_bits)
        sample_cycles = Signal(cfg.counter_bits)
        f_valid = Signal()
        f_index = Signal(cfg.input_index_bits)
        pre_spiked = Signal(cfg.n_inputs)          # learning: the input has spiked
        emit_vec = Signal(cfg.n_neurons)           # the emitter's spikes still to send
        # emit_vec != 0, as a register: `valid` of the output stream, the END phase and
        # the step close wait for it, and a 32-input zero test sat in front of them
        emit_any = Signal()
        emit_winner = Signal()                     # learning: the emitter sends `winner`
        emit_time = Signal(cfg.time_bits)
        epoch = Signal(range(STEP_EPOCHS))         # epoch of the open step's entries
        f_epoch = Signal(range(STEP_EPOCHS))
        # Steps handed over and not yet closed, oldest first: up to PENDING_STEPS_INFER
        # in inference, PENDING_STEPS_LEARN in learning.  close_epoch is the oldest's
        # epoch (it advances at every close, so it equals `epoch` when none is pending).
        pending_count = Signal(range(PENDING_STEPS_INFER + 1))
        pending_time = Signal(cfg.time_bits)       # the oldest pending step's time
        pending_time_next = Signal(cfg.time_bits)  # the second's (inference)
        close_epoch = Signal(range(STEP_EPOCHS))
        pending = pending_count != 0
        pending_full = Mux(self.learn, pending_count >= PENDING_STEPS_LEARN,
                           pending_count >= PENDING_STEPS_INFER)
        wta_vec = Signal(cfg.n_neurons)
        best = Signal(cfg.neuron_index_bits)
        best_potential = Signal(cfg.potential_bits)
        best_valid = Signal()
        wta_cand = Signal(cfg.neuron_index_bits)     # WTA stage B's candidate
        wta_cand_valid = Signal()
        wta_probe_cand = Signal(cfg.neuron_index_bits)          # stage C's candidate
        wta_probe_potential = Signal(cfg.potential_bits)        # and its potential
        wta_probe_valid = Signal()
        wta_single = Signal()          # WTA has one candidate only: it wins at once
        rsp_valid = Signal()
        rsp_lane = Signal(range(n_lanes))
        rsp_bank = Signal(range(n_banks))
        rsp_in_range = Signal()
        counters = {name: getattr(self, name) for name in COUNTER_PORTS}
        dropped_strobe = Signal()
        stdp_start = Signal()
        stdp_busy = Signal()
        close_winner = Signal()                    # learning: the pending step has a winner
        note_first_spike = Signal()                # learning: store the beat's spike time
        mark_spiked = Signal()                     # learning: set the beat's pre_spiked bit
        mark_same_input = Signal()                 # the last cycle marked the beat's input
        clear_spiked = Signal()                    # a sample ends: clear pre_spiked
        taking_beat = Signal()                     # RUN looks at the offered beat

        # ---------------------------------------------------------------- lanes
        # No entry of the oldest pending step's epoch is left anywhere, as of the previous
        # cycle: which epochs the F stage and the lanes hold is registered, so that the
        # step-close decision (which fans out to the lanes, the pending-step registers,
        # the emitter and WTA) starts at flip-flops.  An epoch held by nobody at c - 1 is
        # still held by nobody at c: its beats were all taken before it was handed over,
        # so before c - 1 (docs/core.md, "Steps overlap").
        held_before = Signal(STEP_EPOCHS)
        held_now = Mux(f_valid, Const(1, STEP_EPOCHS) << f_epoch, 0)[:STEP_EPOCHS]
        for lane in lanes:
            held_now = held_now | lane.holds
        m.d.sync += held_before.eq(held_now)
        pending_integrated = ~held_before.bit_select(close_epoch, 1)
        # room in every lane queue for one more entry besides the F stage's (the lanes'
        # registers: this feeds ``ready``, and compares of four levels in front of it
        # were part of the board build's critical path)
        space_ok = Cat(*[Mux(f_valid, lane.room[1], lane.room[0]) for lane in lanes]).all()
        f_slice = [Signal(slots, name=f"f_slice_l{k}") for k in range(n_lanes)]
        for k, lane in enumerate(lanes):
            # A lane reads one weight per cycle, from the bank of the row it works on.
            read_bank = Signal(range(n_banks), name=f"lane{k}_read_bank")
            with m.If(lane.weight_read):
                m.d.sync += read_bank.eq(low(lane.weight_row))
            for b in range(n_banks):
                m.d.comb += [
                    weight_rd[k][b].addr.eq(
                        mixed_radix(high(lane.weight_row), lane.weight_slot, slots)),
                    weight_rd[k][b].en.eq(lane.weight_read & (low(lane.weight_row) == b)),
                ]
            if cfg.pruning:
                # the event's row word in this lane, read when the event is taken
                slice_bits = f_slice[k]
            else:
                slice_bits = Const(valid_slots[k], slots)
            m.d.comb += [
                lane.threshold.eq(self.threshold),
                lane.open_epoch.eq(epoch),
                lane.weight_data.eq(Array(port.data for port in weight_rd[k])[read_bank]),
                lane.events.payload.index.eq(f_index),
                lane.events.payload.slice.eq(slice_bits),
                lane.events.payload.epoch.eq(f_epoch),
                lane.close_epoch.eq(close_epoch),       # the oldest pending step's
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
                for b in range(n_banks):
                    m.d.comb += rowmask_rd[k][b].addr.eq(high(beat.index))
        # The count stops when the end beat appears, so its payload holds while the
        # consumer stalls (stream rule) and equals c_end - c_0 (docs/core.md).
        counting = Signal()
        with m.If(active & counting):
            m.d.sync += sample_cycles.eq(sample_cycles + 1)
        with m.If(accept & ~active):
            m.d.sync += [active.eq(1), sample_cycles.eq(1)]
        m.d.comb += [self.busy.eq(active),
                     # the rest of the sample's events cannot change anything: a producer
                     # may follow a beat taken while this is 1 by the end marker (skip)
                     self.decided.eq(active & self.learn & won)]

        newly_all = Signal(cfg.n_neurons)
        m.d.comb += newly_all.eq(Cat(*[lanes[j % n_lanes].newly_fired[j // n_lanes]
                                       for j in range(cfg.n_neurons)]))

        # ---------------------------------------------------------------- STDP banks
        # Bank b scans the winner's column mask for its rows; w_* is its write-back stage.
        winner_lane = low(winner)
        winner_slot = high(winner)
        scan_word = [Signal(range(n_words), name=f"scan_word_b{b}") for b in range(n_banks)]
        # the scanned word's alive bits not picked yet, besides this cycle's pick (p_*)
        scan_reg = [Signal(word_bits, name=f"scan_reg_b{b}") for b in range(n_banks)]
        scan_done = [Signal(name=f"scan_done_b{b}") for b in range(n_banks)]
        scan_last = [Signal(name=f"scan_last_b{b}") for b in range(n_banks)]
        # the column-mask word the scan reads this cycle, and the winner's slot (copies
        # for the column-mask read address: see below)
        scan_col_word = [Signal(range(n_words + 2), name=f"scan_col_word_b{b}")
                         for b in range(n_banks)]
        # the word after the scanned one, read a cycle ahead, so that loading it at the
        # end of a word (and its at-most-one-bit test) starts at a register rather than
        # at the LUT RAM's read through the winner's lane multiplexer
        next_word = [Signal(word_bits, name=f"next_word_b{b}") for b in range(n_banks)]
        # one copy of the slot per lane, loaded only for the winner's lane (so Yosys
        # does not merge them): each drives the address of its lane's column masks only,
        # a quarter of the fan-out (the other lanes' words are not used)
        scan_col_slot = [Signal(range(slots), name=f"scan_col_slot_l{k}") for k in range(n_lanes)]
        # p_*: this cycle's pick of the scan (a bit of word scan_word), chosen a cycle
        # ahead: its weight-RAM read address comes from registers, so the pick's carry
        # chain and the address fan-out to every lane's RAM are in separate cycles (in
        # one they were the critical path) at no cost in cycles.
        p_valid = [Signal(name=f"p_valid_b{b}") for b in range(n_banks)]
        p_bit = [Signal(range(word_bits), name=f"p_bit_b{b}") for b in range(n_banks)]
        p_entry = [mixed_radix(scan_word[b], p_bit[b], word_bits) for b in range(n_banks)]
        m.d.sync += [v.eq(0) for v in p_valid]

        def load_scan(b, word):
            """Start scanning ``word`` (a register) next cycle: its lowest alive bit is the
            pick, the rest waits in scan_reg."""
            bit, rest = lowest_set_bit(word)
            return [p_valid[b].eq(word != 0), p_bit[b].eq(bit), scan_reg[b].eq(rest),
                    scan_last[b].eq(at_most_one_bit(word))]
        # w_*: the synapse whose weight the RAM delivers now (picked last cycle); it enters
        # the bank's STDP pipeline together with its pre-spike flag, and its write-back
        # happens when the pipeline hands it back (the tag is its bank entry).
        w_valid = [Signal(name=f"w_valid_b{b}") for b in range(n_banks)]
        w_entry = [Signal(range(entries), name=f"w_entry_b{b}") for b in range(n_banks)]
        m.d.sync += [v.eq(0) for v in w_valid]

        # A bank entry (row) is bit ``bit_of(entry)`` of column-mask word ``word_of(entry)``
        # (with several words, word_bits is 32: both are fields of the entry).
        def word_of(entry):
            return entry >> 5 if n_words > 1 else Const(0, 1)

        def bit_of(entry):
            return entry[:5] if n_words > 1 else entry

        def col_addr(slot, entry):
            """Address of the column-mask word holding row ``entry`` of neuron slot ``slot``."""
            return mixed_radix(slot, word_of(entry), n_words)

        # Mask write-back without bit write enables (they would split each mask memory
        # into 1-bit slices) and without carrying mask words through the pipeline (they
        # cost flip-flops clocked every cycle, which is the pruning unit's power): a
        # prune reads the stored words and writes them back with its bit cleared.
        # The row word is read a cycle ahead (see "memory writes"): integration, its
        # other user, has stopped, and no two synapses of one STDP update share a row
        # word.  The column word is read in the write-back's own cycle, from the same
        # LUT RAM it is written to (an asynchronous read sees every earlier write), when
        # the scan no longer needs the read port then: with at most two words per bank
        # the scan reads the column masks only in STDP_FETCH and STDP_LOAD, before the
        # first write-back (the default core).  With more words the scan prefetches
        # during write-backs, so the write-back rebuilds the word instead: its alive bits
        # are exactly the synapses the scan picks from it, so the true current word is
        # the picked ones kept so far (wb_kept) plus the ones not yet written back (in
        # the STDP unit's stages or still in scan_reg).
        # Every write stores the true word, even if a reset cuts the update short.
        col_read_at_write_back = n_words <= 2
        col_rebuild = cfg.pruning and not col_read_at_write_back
        stdp_column_word = []      # per bank: the rebuilt column word the write-back stores
        if col_rebuild:
            wb_fresh = [Signal(name=f"wb_fresh_b{b}") for b in range(n_banks)]
            wb_word = [Signal(range(n_words), name=f"wb_word_b{b}") for b in range(n_banks)]
            wb_kept = [Signal(word_bits, name=f"wb_kept_b{b}") for b in range(n_banks)]
            with m.If(stdp_start):
                m.d.sync += [fresh.eq(1) for fresh in wb_fresh]
        for b, unit in enumerate(stdp_units):
            row = mixed_radix(w_entry[b], b, n_banks)
            m.d.comb += [
                unit.valid.eq(w_valid[b]),
                unit.tag.eq(w_entry[b]),
                unit.weight.eq(Array(weight_rd[k][b].data for k in range(n_lanes))[winner_lane]),
                spike_time_rd[b].addr.eq(w_entry[b]),
                unit.potentiate.eq(pre_spiked.bit_select(row, 1)
                                   & (spike_time_rd[b].data <= pending_time)),
                unit.a_plus.eq(self.a_plus),
                unit.a_minus.eq(self.a_minus),
                unit.theta_p.eq(self.theta_p),
                unit.prune_enable.eq(self.prune_enable),
            ]
            done_entry = unit.out_tag
            done_word, done_bit = word_of(done_entry), bit_of(done_entry)
            if col_rebuild:
                def in_flight(valid, entry):
                    return Mux(valid & (word_of(entry) == done_word),
                               Const(1, word_bits) << bit_of(entry), 0)[:word_bits]
                # (scan_reg is 0 once the bank's scan is done)
                unscanned = Mux(scan_word[b] == done_word, scan_reg[b], 0)
                kept = Signal(word_bits, name=f"wb_kept_next_b{b}")
                m.d.comb += kept.eq(Mux(wb_fresh[b] | (done_word != wb_word[b]), 0, wb_kept[b])
                                    | (~unit.pruned << done_bit)[:word_bits])
                column_word = (kept | unscanned | in_flight(p_valid[b], p_entry[b])
                               | in_flight(w_valid[b], w_entry[b]))
                for stage in range(STDP_UNIT_LATENCY - 1):
                    column_word = column_word | in_flight(
                        unit.flight_valid[stage], unit.flight_tag.word_select(stage, entry_bits))
                stdp_column_word.append(column_word)
                with m.If(unit.out_valid):
                    m.d.sync += [wb_word[b].eq(done_word), wb_kept[b].eq(kept),
                                 wb_fresh[b].eq(0)]

        # ---------------------------------------------------------------- access port
        cmd = self.access_cmd.payload
        cmd_lane, cmd_slot = low(cmd.neuron), high(cmd.neuron)
        cmd_bank, cmd_entry = low(cmd.input), high(cmd.input)
        cmd_in_range = (cmd.input < cfg.n_inputs) & (cmd.neuron < cfg.n_neurons)
        access_accept = self.access_cmd.valid & self.access_cmd.ready
        # A write changes one bit of a row-mask word and one of a column-mask word:
        # both are read (asynchronously) and written back with the bit changed in the
        # cycle the command is taken, so a write takes one cycle like a read.

        # the read synapse's mask bit in every (lane, bank), taken with the command; the
        # response picks one of them (see below)
        rsp_bits = Signal(n_lanes * n_banks)
        if cfg.pruning:
            # The mask read addresses of a command are selected by `access_first` (idle
            # core, command waiting: registers), not by the handshake, so that no phase
            # or ready logic sits in front of the LUT RAM reads.  Nothing else reads the
            # masks then: events wait while access_first is 1, STDP runs only in a
            # sample.  The column-mask address is the scan's in STDP_FETCH/STDP_SCAN.
            with m.If(access_first):
                m.d.comb += [rowmask_rd[k][b].addr.eq(cmd_entry)
                             for k in range(n_lanes) for b in range(n_banks)]
            m.d.comb += [colmask_rd[k][b].addr.eq(col_addr(cmd_slot, cmd_entry))
                         for k in range(n_lanes) for b in range(n_banks)]
        # a read command (writes: see "memory writes" below).  The weight read address
        # is the command's whenever no sample runs (the lanes are idle then), so that
        # only the enable waits for the handshake.
        with m.If(~active):
            m.d.comb += [weight_rd[k][b].addr.eq(mixed_radix(cmd_entry, cmd_slot, slots))
                         for k in range(n_lanes) for b in range(n_banks)]
        with m.If(access_accept & ~cmd.write):
            m.d.sync += [rsp_valid.eq(1), rsp_lane.eq(cmd_lane), rsp_bank.eq(cmd_bank),
                         rsp_in_range.eq(cmd_in_range)]
            for k in range(n_lanes):
                for b in range(n_banks):
                    m.d.comb += weight_rd[k][b].en.eq(1)
                    if cfg.pruning:
                        m.d.sync += rsp_bits[k * n_banks + b].eq(
                            rowmask_rd[k][b].data.bit_select(cmd_slot, 1))
        # ---------------------------------------------------------------- memory writes
        # A (lane, bank) memory is written by the STDP write-back (the winner's lane, in
        # a sample) or by an access command (only while no sample is active): never both
        # in one cycle.  So each bank forms one address and one data word from the two
        # sources, shared by that bank's memories in every lane, and only the write
        # enables are per memory.  (Each memory with its own multiplexers, 0 where it is
        # not written, cost 1,188 more LUT4 on the default core, Yosys synth_ecp5.)
        # An access write is carried out in the cycle after it is taken, from registers:
        # the mask words it changes are read (at the command's address, access_first)
        # and registered in the cycle it is taken, so no memory's write data comes
        # straight from a LUT RAM read whose address can be the input beat's (a path the
        # timing analysis cannot tell is never used).  Nothing else runs in that cycle
        # (acc_wr holds commands and beats off); a reset in it does not stop the write,
        # whose enables are registers that a reset clears only at its own edge.
        acc_wr = Signal()
        acc_entry = Signal.like(cmd_entry)
        acc_slot = Signal.like(cmd_slot)
        acc_lane = Signal.like(cmd_lane)
        acc_bank = Signal.like(cmd_bank)
        acc_weight = Signal(cfg.weight_bits)
        acc_mask = Signal()
        # the command's row word (its column word is read in the write cycle, at the
        # registered address: column masks are never addressed by an input beat)
        acc_row_word = Signal(slots)
        m.d.sync += acc_wr.eq(access_accept & cmd.write & cmd_in_range)
        with m.If(access_accept & cmd.write):
            m.d.sync += [acc_entry.eq(cmd_entry), acc_slot.eq(cmd_slot), acc_lane.eq(cmd_lane),
                         acc_bank.eq(cmd_bank), acc_mask.eq(cmd.mask),
                         acc_weight.eq(Mux(cmd.mask, cmd.weight, 0) if cfg.pruning
                                       else cmd.weight)]
            if cfg.pruning:
                m.d.sync += acc_row_word.eq(
                    Array(Array(rowmask_rd[k][b].data for b in range(n_banks))
                          for k in range(n_lanes))[cmd_lane][cmd_bank])
        for b, unit in enumerate(stdp_units):
            write_back = unit.out_valid
            done_entry = unit.out_tag
            entry = Mux(write_back, done_entry, acc_entry)
            slot = Mux(write_back, winner_slot, acc_slot)
            # per lane: the write-back is the winner's, or the command addresses this memory
            by_stdp = [write_back & (winner_lane == k) for k in range(n_lanes)]
            by_access = [~write_back & acc_wr & (acc_lane == k) & (acc_bank == b)
                         for k in range(n_lanes)]
            for k in range(n_lanes):
                m.d.comb += [
                    weight_wr[k][b].addr.eq(mixed_radix(entry, slot, slots)),
                    weight_wr[k][b].data.eq(Mux(write_back, unit.new_weight, acc_weight)),
                    weight_wr[k][b].en.eq(by_stdp[k] | by_access[k]),
                ]
            if not cfg.pruning:
                continue
            # The row word: the write-back's is read a cycle ahead, at the entry in the
            # STDP unit's last stage (all lanes' read ports are pointed there:
            # integration, their other reader, has stopped; no other synapse of the
            # update shares the row word, so it cannot change in between), and has the
            # slot's bit cleared; a command's was registered when it was taken and has
            # the bit set or cleared.
            last_stage = STDP_UNIT_LATENCY - 2
            wb_row_word = Signal(slots, name=f"wb_row_word_b{b}")
            with m.If(unit.flight_valid[last_stage]):     # (no toggling outside STDP)
                m.d.comb += [rowmask_rd[k][b].addr.eq(
                    unit.flight_tag.word_select(last_stage, entry_bits)) for k in range(n_lanes)]
                m.d.sync += wb_row_word.eq(Array(rowmask_rd[k][b].data
                                                 for k in range(n_lanes))[winner_lane])
            row_word = Mux(write_back, wb_row_word, acc_row_word)
            row_bit = (Const(1, slots) << slot)[:slots]
            set_bit = ~write_back & acc_mask
            # The column word: a command's is read in its write cycle; so is the
            # write-back's (its address is set with the scan's, below), with at most two
            # words per bank, else it is rebuilt (stdp_column_word, above).  The bit is
            # set or cleared as in the row word.
            with m.If(acc_wr):
                m.d.comb += [colmask_rd[k][b].addr.eq(col_addr(acc_slot, acc_entry))
                             for k in range(n_lanes)]
            col_lane = Mux(write_back, winner_lane, acc_lane) if col_read_at_write_back \
                else acc_lane
            col_word = Array(colmask_rd[k][b].data for k in range(n_lanes))[col_lane]
            col_bit = (Const(1, word_bits) << Mux(write_back, bit_of(done_entry),
                                                  bit_of(acc_entry)))[:word_bits]
            col_data = Mux(set_bit, col_word | col_bit, col_word & ~col_bit)
            if col_rebuild:
                col_data = Mux(write_back, stdp_column_word[b], col_data)
            for k in range(n_lanes):
                mask_written = (by_stdp[k] & unit.pruned) | by_access[k]
                m.d.comb += [
                    rowmask_wr[k][b].addr.eq(entry),
                    rowmask_wr[k][b].data.eq(Mux(set_bit, row_word | row_bit,
                                                 row_word & ~row_bit)),
                    rowmask_wr[k][b].en.eq(mask_written),
                    colmask_wr[k][b].addr.eq(Mux(write_back, col_addr(winner_slot, done_entry),
                                                 col_addr(acc_slot, acc_entry))),
                    colmask_wr[k][b].data.eq(col_data),
                    colmask_wr[k][b].en.eq(mask_written),
                ]

        # The weight read ports hold their data while not enabled, and nothing else reads
        # while a response waits (commands and samples are both held off), so the
        # response's weight is taken straight from the ports.  Its mask bit is split in
        # two halves: every memory's bit is registered when the command is taken (the
        # row-mask read and an 8:1 bit select), and the response picks one of those
        # registers (the (lane, bank) multiplexer).  Static timing sees every read
        # address source, so in one cycle this was the design's critical path.
        if cfg.pruning:
            rsp_mask = rsp_bits.bit_select(mixed_radix(rsp_lane, rsp_bank, n_banks), 1)
        rsp = self.access_rsp.payload
        rsp_weight = Array(Array(weight_rd[k][b].data for b in range(n_banks))
                           for k in range(n_lanes))[rsp_lane][rsp_bank]
        m.d.comb += [
            self.access_rsp.valid.eq(rsp_valid),
            rsp.weight.eq(Mux(rsp_in_range, rsp_weight, 0)),
            rsp.mask.eq(rsp_in_range & (rsp_mask if cfg.pruning else 1)),
        ]
        with m.If(self.access_rsp.valid & self.access_rsp.ready):
            m.d.sync += rsp_valid.eq(0)

        # ---------------------------------------------------------------- control
        out = self.events_out.payload
        boundary = beat.end | (valid_event & (beat.time > cur_time))
        emitting = emit_any | emit_winner
        # A boundary hands the open step over (pending) unless the pending steps are at
        # their limit; an event beat needs queue room for itself as well.
        hand_over = dirty & boundary & ~pending_full & (beat.end | space_ok)
        step_wait = boundary & (pending_full | (dirty & ~hand_over))
        # ``ready`` in RUN (with a beat offered), the branches below folded into one
        # multiplexer on the beat's three decoded facts (end marker, a later step, the
        # open step), whose inputs depend on registers only: the beat arrives late (from
        # the producer's register through its wiring) and passes few logic levels.
        #   end marker: taken unless the pending steps are at their limit or learning
        #   hands one over (END then waits for the pending steps);
        #   a later step: needs room for a pending step, queue room if the open step is
        #   dirty, and queue room unless learning has decided;
        #   the open step: queue room unless learning has decided;
        #   anything else (out of range, or an earlier step): dropped at once.
        in_range = (beat.index < cfg.n_inputs) & (beat.time < cfg.time_steps)
        ready_same_step = (self.learn & won) | space_ok
        ready_later_step = ~pending_full & ~(dirty & ~space_ok) & ready_same_step
        ready_end = ~pending_full & ~(self.learn & dirty)
        ready_in_run = Mux(beat.end, ready_end,
                           Mux(in_range & (beat.time > cur_time), ready_later_step,
                               Mux(in_range & (beat.time == cur_time), ready_same_step, 1)))

        # The emitter: one spike beat per cycle, in ascending neuron index, whatever the
        # phase; the end beat waits until it is idle.  The learning winner has a flag of
        # its own (no one-hot decode after WTA's compare).
        emit_neuron, emit_rest = lowest_set_bit(emit_vec)
        with m.If(emitting):
            m.d.comb += [self.events_out.valid.eq(1),
                         out.neuron.eq(Mux(emit_winner, winner, emit_neuron)),
                         out.time.eq(emit_time), out.end.eq(0)]
            with m.If(self.events_out.ready):
                m.d.sync += [emit_vec.eq(emit_rest), emit_winner.eq(0),
                             emit_any.eq(~at_most_one_bit(emit_vec))]

        # The oldest pending step is closed once all its entries are integrated.
        # Without a crossing it is simply dropped.  Inference: its newly crossed neurons
        # go to the (idle) emitter.  Learning: they go to WTA (in the RUN phase, below);
        # which inputs spiked before the winner is decided at STDP, from first-spike
        # times.
        close_pending = Signal()
        step_closes = Signal()                     # the oldest pending step closes
        newly_any = Cat(*[lane.newly_any for lane in lanes]).any()
        resolve_silent = pending & pending_integrated & ~newly_any
        resolve_winner = self.learn & pending & pending_integrated & newly_any
        with m.If(resolve_silent):
            m.d.comb += step_closes.eq(1)
        with m.Elif(pending & pending_integrated & ~self.learn & ~emitting):
            m.d.comb += [close_pending.eq(1), step_closes.eq(1)]
            m.d.sync += [emit_vec.eq(newly_all), emit_any.eq(newly_any),
                         emit_time.eq(pending_time)]

        # WTA stages B (probe) and C (compare), outside the FSM so that no phase decode
        # sits in front of them (wta_cand_valid is 1 only during WTA).  The probe's
        # result is registered: the LUT RAM read, the slot and lane multiplexers and the
        # compare's carry chain in one cycle were the design's critical path.  The
        # probed value cannot go stale in that cycle: it is the potential at the end of
        # the pending step, which the snapshots preserve while the open step goes on.
        m.d.comb += [lane.probe_slot.eq(high(wta_cand)) for lane in lanes]
        m.d.sync += [
            wta_probe_valid.eq(wta_cand_valid),
            wta_probe_cand.eq(wta_cand),
            wta_probe_potential.eq(Array(lane.probe_potential for lane in lanes)[low(wta_cand)]),
        ]
        wta_better = wta_probe_valid & (~best_valid | (wta_probe_potential > best_potential))
        wta_chosen = Mux(wta_better, wta_probe_cand, best)
        with m.If(wta_better):
            m.d.sync += [best.eq(wta_probe_cand), best_potential.eq(wta_probe_potential),
                         best_valid.eq(1)]

        with m.FSM(name="phase") as phase:
            with m.State("RUN"):
                m.d.comb += self.access_cmd.ready.eq(~active & ~rsp_valid & ~acc_wr)
                with m.If(resolve_winner):
                    # learning: the pending step had crossings; fired |= them, and WTA
                    # picks the winner on the lanes' end-of-step potentials (snapshots
                    # where the open step has changed them since)
                    m.d.comb += [close_winner.eq(1), step_closes.eq(1)]
                    m.d.sync += [wta_vec.eq(newly_all), best_valid.eq(0),
                                 wta_cand_valid.eq(0),
                                 wta_single.eq(at_most_one_bit(newly_all))]
                    m.next = "WTA"
                # (a beat is still taken in that cycle: it belongs to the open step, whose
                # work WTA's decision flushes; testing resolve_winner here would put every
                # lane's state in front of `ready`)
                with m.If(self.events_in.valid & ~access_first & ~rsp_valid & ~acc_wr):
                    m.d.comb += [taking_beat.eq(1), self.events_in.ready.eq(ready_in_run)]
                    with m.If(step_wait):
                        pass
                    with m.Elif(beat.end & self.learn & hand_over):
                        # handed over (below), taken once nothing is pending
                        m.d.sync += dirty.eq(0)
                    with m.Elif(beat.end):
                        m.d.sync += dirty.eq(0)
                        with m.If(stdp_busy):
                            m.next = "STDP_WAIT"
                        with m.Else():
                            m.next = "END"
                    with m.Elif(valid_event):
                        with m.If(self.learn & won):
                            m.d.sync += cur_time.eq(beat.time)
                        with m.Else():
                            with m.If(space_ok):
                                m.d.sync += [cur_time.eq(beat.time), dirty.eq(1),
                                             f_valid.eq(1), f_index.eq(beat.index),
                                             f_epoch.eq(Mux(hand_over, epoch + 1, epoch))]
                                with m.If(self.learn):
                                    m.d.comb += mark_spiked.eq(1)
                                    m.d.comb += note_first_spike.eq(
                                        ~pre_spiked.bit_select(beat.index, 1)
                                        & ~mark_same_input)
                                if cfg.pruning:
                                    for k in range(n_lanes):
                                        m.d.sync += f_slice[k].eq(
                                            Array(rowmask_rd[k][b].data for b in range(n_banks))
                                            [low(beat.index)])
                    with m.Else():
                        m.d.comb += dropped_strobe.eq(1)

            with m.State("WTA"):
                # Three stages, so that no cycle holds the priority encoder, the
                # potential probe and the compare in series: stage A takes the next
                # candidate in ascending index, stage B reads its potential, stage C
                # compares it; only a strictly larger potential replaces the best (ties:
                # the lower index).  One cycle per candidate plus two; one cycle if there
                # is one candidate only (wta_single, registered when WTA starts): it
                # wins whatever its potential, so stage A decides.
                # (stages B and C are outside the FSM: see above)
                candidate, rest = lowest_set_bit(wta_vec)
                with m.If(wta_vec != 0):
                    m.d.sync += [wta_vec.eq(rest), wta_cand.eq(candidate)]
                m.d.sync += wta_cand_valid.eq(wta_vec != 0)

                def decide(chosen):
                    # the open step's work is void now: its entries are flushed (no
                    # beat is taken during WTA, so the F stage is empty) and its inputs
                    # count as after the winner
                    m.d.sync += [emit_winner.eq(1), emit_time.eq(pending_time), won.eq(1),
                                 winner.eq(chosen), dirty.eq(0)]
                    for k in range(n_lanes):
                        with m.If(low(chosen) == k):
                            m.d.sync += scan_col_slot[k].eq(high(chosen))
                    m.d.sync += [word.eq(0) for word in scan_col_word]
                    m.d.comb += [stdp_start.eq(1)] + [lane.flush.eq(1) for lane in lanes]
                    m.next = "RUN"
                with m.If(wta_single):
                    decide(candidate)
                    # (stages B and C stay empty)
                    m.d.sync += [wta_single.eq(0), wta_cand_valid.eq(0)]
                # the last candidate is in stage C (stage B's is then empty, and so is A)
                with m.Elif(wta_probe_valid & ~wta_cand_valid):
                    decide(wta_chosen)

            with m.State("STDP_WAIT"):
                with m.If(~stdp_busy):
                    m.next = "END"

            with m.State("END"):
                # after every spike beat: no step pending, the emitter idle
                with m.If(~pending & ~emitting):
                    m.d.comb += [
                        self.events_out.valid.eq(1),
                        out.end.eq(1),
                        out.cycles.eq(sample_cycles),
                    ]
                    with m.If(self.events_out.ready):
                        m.d.comb += [lane.clear.eq(1) for lane in lanes]
                        m.d.sync += [active.eq(0), cur_time.eq(0), dirty.eq(0), won.eq(0),
                                     sample_cycles.eq(0), epoch.eq(0), close_epoch.eq(0)]
                        m.d.comb += clear_spiked.eq(1)
                        m.next = "RUN"

        # The STDP engine runs beside the main control: it starts when WTA decides and
        # works while the rest of the sample's events are consumed (they no longer
        # integrate), so learning pays max(remaining events, STDP) rather than the sum.
        def column_word(bank, word):
            """Word ``word`` of the winner's column mask in ``bank``: read asynchronously
            from the winner's lane at the address set below the FSM, which must be
            ``word``'s; a constant with every row alive without pruning."""
            if cfg.pruning:
                return Array(colmask_rd[k][bank].data for k in range(n_lanes))[winner_lane]
            if isinstance(word, int):
                # (a prefetch past the last word: never scanned)
                word = min(word, n_words - 1)
            return Array(Const(column_word_valid(bank, w), word_bits)
                         for w in range(n_words))[word]

        with m.FSM(name="stdp") as stdp_engine:
            with m.State("IDLE"):
                with m.If(stdp_start):
                    m.next = "STDP_FETCH"

            # scan_reg is 0 once a bank is done; scan_last: no bit is left besides this
            # cycle's pick, so the word is used up after it.  It is a register, loaded
            # beside scan_reg, because the end-of-word decision (load the next word,
            # finish, leave the state) would otherwise wait for a 32-bit zero test.  Two
            # cycles of fetch: word 0 into next_word, then into the scan while next_word
            # reads word 1; from then on next_word holds the word after scan_word, and
            # scan_col_word addresses the one after that.
            with m.State("STDP_FETCH"):
                for b in range(n_banks):
                    m.d.sync += [scan_word[b].eq(0), scan_done[b].eq(0), scan_col_word[b].eq(1),
                                 next_word[b].eq(column_word(b, 0))]
                m.next = "STDP_LOAD"

            with m.State("STDP_LOAD"):
                for b in range(n_banks):
                    m.d.sync += [scan_col_word[b].eq(2), next_word[b].eq(column_word(b, 1)),
                                 *load_scan(b, next_word[b])]
                m.next = "STDP_SCAN"

            with m.State("STDP_SCAN"):
                finishing = []
                for b in range(n_banks):
                    last_word = scan_word[b] == n_words - 1
                    finishing.append(scan_done[b] | (scan_last[b] & last_word))
                    with m.If(~scan_done[b]):
                        with m.If(scan_last[b]):
                            with m.If(last_word):
                                m.d.sync += [scan_done[b].eq(1), scan_reg[b].eq(0)]
                            with m.Else():
                                # the next word is loaded in the cycle of the last pick
                                m.d.sync += [scan_word[b].eq(scan_word[b] + 1),
                                             scan_col_word[b].eq(scan_col_word[b] + 1),
                                             next_word[b].eq(column_word(b, scan_word[b] + 2)),
                                             *load_scan(b, next_word[b])]
                        with m.Else():
                            m.d.sync += load_scan(b, scan_reg[b])
                with m.If(Cat(*finishing).all()):
                    m.next = "IDLE"
        # The pick: its weight is read in the winner's lane (the address in every lane:
        # the other lanes are idle after WTA, and no lane or pick logic selects it).
        for b in range(n_banks):
            with m.If(p_valid[b]):
                m.d.comb += [weight_rd[k][b].addr.eq(mixed_radix(p_entry[b], winner_slot, slots))
                             for k in range(n_lanes)]
                for k in range(n_lanes):
                    with m.If(winner_lane == k):
                        m.d.comb += weight_rd[k][b].en.eq(1)
                m.d.sync += [w_valid[b].eq(1), w_entry[b].eq(p_entry[b])]
        if cfg.pruning:
            # The column-mask read address of the scan comes from registers of its own
            # (word 0 when fetching, else the word two after the current one, whether or
            # not next_word loads it this cycle): no priority encoder sits in front of the LUT RAM
            # (it did, through the multiplexer with the access port's address), and the
            # winner register, which fans out to every weight memory, stays off this path.
            for b in range(n_banks):
                with m.If(~stdp_engine.ongoing("IDLE")):
                    m.d.comb += [colmask_rd[k][b].addr.eq(
                        mixed_radix(scan_col_slot[k], scan_col_word[b], n_words))
                        for k in range(n_lanes)]
                if col_read_at_write_back:
                    # a write-back's own word (the scan's reads after STDP_LOAD, of words
                    # past the last, are never used: see "Mask write-back" above)
                    with m.If(stdp_units[b].out_valid):
                        m.d.comb += [colmask_rd[k][b].addr.eq(
                            col_addr(scan_col_slot[k], stdp_units[b].out_tag))
                            for k in range(n_lanes)]
        # busy until the last write-back is done, so a read-back never sees a stale weight
        m.d.comb += stdp_busy.eq(~stdp_engine.ongoing("IDLE") | Cat(*p_valid).any()
                                 | Cat(*w_valid).any()
                                 | Cat(*[unit.busy for unit in stdp_units]).any())
        m.d.comb += counting.eq(~phase.ongoing("END") | pending | emitting)
        # A learning beat's marks (its pre_spiked bit and, if it is the input's first
        # spike, its spike time) are registered and stored one cycle later, so that the
        # beat-acceptance logic drives three registers instead of the LUT RAM's write
        # enable and the 256 flip-flops' enables.  Their reader, the STDP walk, starts
        # after WTA, cycles after the last mark; a beat of the same input in the very
        # next cycle sees the registered mark through mark_same_input.
        mark_valid = Signal()
        mark_first = Signal()
        mark_index = Signal.like(beat.index)
        mark_time = Signal.like(beat.time)
        m.d.sync += [mark_valid.eq(mark_spiked), mark_first.eq(note_first_spike),
                     mark_index.eq(beat.index), mark_time.eq(beat.time)]
        m.d.comb += mark_same_input.eq(mark_valid & (mark_index == beat.index))
        for b in range(n_banks):
            m.d.comb += [spike_time_wr[b].addr.eq(high(mark_index)),
                         spike_time_wr[b].data.eq(mark_time),
                         spike_time_wr[b].en.eq(mark_first & (low(mark_index) == b))]
        m.d.comb += [lane.close.eq(close_winner | close_pending) for lane in lanes]
        # pre_spiked: one flip-flop per input, set when a learning beat of that input is
        # taken (one cycle later, above) and cleared when the sample ends.  Written as
        # explicit enables off a two-level decoder of the index (4 low bits, the rest) so
        # that each bit is one flip-flop with clock enable and synchronous reset and one
        # LUT for its enable; a bit_select assignment synthesizes into a multiplexer chain
        # per bit instead (557 more LUT4 and 444 more PFUMX on the default core, Yosys
        # synth_ecp5).
        idx_bits = len(beat.index)
        lo_bits = min(4, idx_bits)
        lo_hot = Cat(mark_index[:lo_bits] == v for v in range(1 << lo_bits))
        hi_hot = Cat(mark_index[lo_bits:] == v for v in range(1 << (idx_bits - lo_bits)))
        for i in range(cfg.n_inputs):
            with m.If(clear_spiked):
                m.d.sync += pre_spiked[i].eq(0)
            with m.Elif(mark_valid & lo_hot[i % (1 << lo_bits)] & hi_hot[i >> lo_bits]):
                m.d.sync += pre_spiked[i].eq(1)
        m.d.comb += [lane.snap_enable.eq(self.learn & (pending | phase.ongoing("WTA")))
                     for lane in lanes]
        # The pending steps: a boundary beat offered in RUN hands the open step over and
        # appends it (inference takes the beat in the same cycle; learning takes an end
        # beat only once nothing is pending); a close drops the oldest (the second moves
        # up).  Both may happen in one cycle.
        handing_over = taking_beat & hand_over
        m.d.sync += pending_count.eq(pending_count - step_closes + handing_over)
        with m.If(step_closes):
            m.d.sync += close_epoch.eq(close_epoch + 1)
            with m.If(pending_count == 2):
                m.d.sync += pending_time.eq(pending_time_next)
        with m.If(handing_over):
            m.d.sync += epoch.eq(epoch + 1)
            with m.If((pending_count == 0) | ((pending_count == 1) & step_closes)):
                m.d.sync += pending_time.eq(cur_time)
            with m.Else():
                m.d.sync += pending_time_next.eq(cur_time)


        # ---------------------------------------------------------------- counters
        end_taken = Signal()
        m.d.comb += end_taken.eq(out.end & self.events_out.valid & self.events_out.ready)
        # (enable, amount) per counter.  Strobes from the control logic (a dropped beat,
        # the end beat's handshake) are clock enables of a counter + constant, not an
        # addend: an addend enters the carry chain at bit 0 and the strobe's logic would
        # sit in front of the whole chain.  The sums come from registers.
        steps = {
            "cnt_cycles": (end_taken, sample_cycles),
            "cnt_syn_ops": (1, sum(lane.syn_op for lane in lanes)),
            "cnt_stdp_updates": (1, sum(unit.out_valid for unit in stdp_units)),
            "cnt_pruned": (1, sum(unit.out_valid & unit.pruned for unit in stdp_units)
                           if cfg.pruning else Const(0, 1)),
            "cnt_dropped": (dropped_strobe, 1),
            "cnt_samples": (end_taken, 1),
        }
        for name, counter in counters.items():
            enable, amount = steps[name]
            with m.If(self.counters_clear):
                m.d.sync += counter.eq(0)
            with m.Elif(enable):
                m.d.sync += counter.eq(counter + amount)
        return m
