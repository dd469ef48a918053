"""Batch mode of the host link: samples from on-chip memory, outputs into on-chip memory."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig
from .block_ram import BlockRAMReadPort
from .layouts import input_event_layout, output_event_layout

__all__ = ["BatchRunner", "MAX_BATCH_EVENTS", "MAX_BATCH_OUTPUTS", "BATCH_CYCLE_BITS"]

MAX_BATCH_EVENTS = 1 << 20
MAX_BATCH_OUTPUTS = 1 << 16      # BATCH_READ addresses outputs with a u16
BATCH_CYCLE_BITS = 48


class BatchRunner(wiring.Component):
    """Holds a batch of input beats and runs them through the core at full clock speed.

    The host appends input beats (spikes and end markers of several samples) through
    ``load``; ``start`` then replays them on ``events_in`` with no bubble: a beat is
    offered in every cycle until the core takes it, so each sample sees the same input
    timing as in the cycle-exact model (a run begins with one cycle that loads the
    first beat).  Every output beat of the core is taken in the
    cycle it is offered (``events_out.ready`` is always 1, so the core is never stalled)
    and stored in the output memory; beats beyond its depth are counted in ``overflow``.
    The run ends when every input beat has been taken and as many end beats have come
    back as end markers were loaded; ``cycles`` is the run's length in clock cycles.

    Skipping: the address of every loaded end marker is kept, and after a beat taken
    while the core's ``decided`` is 1 the runner goes on with the sample's end marker
    (docs/core.md, skipping the rest of a decided sample), as the cocotb driver does.

    Streaming: while no batch runs, beats from ``stream_in`` (the host's event stream)
    pass to ``events_in`` through the same head register, so that the core's input
    payload comes straight from one flip-flop in both modes (no multiplexer in front of
    the core's ``ready`` logic).  A stream beat in the head counts in ``holding``, and a
    batch does not start while it is held.

    Args:
        cfg: the core configuration (layouts).
        batch_events: depth of the input memory (beats, end markers included).
        batch_outputs: depth of the output memory (beats, end beats included).

    Ports:
        load: In(stream of input_event_layout); refused (ready=0) while running, in the
            cycle a run starts, or full.
        clear: In(1), empties the batch (input memory and last outputs).
        start: In(1), starts a run (ignored while running).
        stream_in: In(stream of input_event_layout), the host's beats, passed on while
            no batch runs; holding: Out(1), a stream beat waits in the head.
        events_in: Out(stream of input_event_layout), to the core.
        events_out: In(stream of output_event_layout), from the core.
        decided: In(1), the core's ``decided``.
        running: Out(1).
        loaded: Out, input beats loaded; ends: Out, end markers among them;
        last_is_end: Out(1), the last loaded beat is an end marker.
        outputs: Out, output beats stored by the last run; overflow: Out, beats lost.
        cycles: Out(48), clock cycles of the last (or current) run.
        read_addr: In, read_data: Out(output_event_layout): read port of the output
            memory, data one cycle after the address.
    """

    def __init__(self, cfg: CoreConfig, *, batch_events: int, batch_outputs: int):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {type(cfg).__name__}")
        for name, value, high in (("batch_events", batch_events, MAX_BATCH_EVENTS),
                                  ("batch_outputs", batch_outputs, MAX_BATCH_OUTPUTS)):
            if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= high:
                raise ValueError(f"{name} = {value!r} is out of range: allowed 2 to {high}")
        self.cfg = cfg
        self.batch_events = batch_events
        self.batch_outputs = batch_outputs
        in_layout = input_event_layout(cfg)
        out_layout = output_event_layout(cfg)
        super().__init__({
            "load": In(stream.Signature(in_layout)),
            "clear": In(1),
            "start": In(1),
            "stream_in": In(stream.Signature(in_layout)),
            "holding": Out(1),
            "events_in": Out(stream.Signature(in_layout)),
            "events_out": In(stream.Signature(out_layout)),
            "decided": In(1),
            "running": Out(1),
            "loaded": Out(range(batch_events + 1)),
            "ends": Out(range(batch_events + 1)),
            "last_is_end": Out(1),
            "outputs": Out(range(batch_outputs + 1)),
            "overflow": Out(32),
            "cycles": Out(BATCH_CYCLE_BITS),
            "read_addr": In(range(batch_outputs)),
            "read_data": Out(out_layout),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        in_layout = input_event_layout(cfg)
        out_layout = output_event_layout(cfg)
        # No memory here is read in a cycle that writes the read address and then uses
        # the data: loading (the only writes of `inputs` and `sample_ends`) waits while
        # a batch runs or starts, and `outputs` is written only while a batch runs and
        # read back only while none does.  So they are marked no_rw_check and read
        # through BlockRAMReadPort, which leaves out Yosys's read-first emulation (a
        # delayed write and an address compare on the read path, where the core's
        # `ready` reached it through the replay's read address).
        m.submodules.inputs = inputs = Memory(shape=in_layout, depth=self.batch_events, init=[],
                                              attrs={"no_rw_check": 1})
        m.submodules.outputs = outputs = Memory(shape=out_layout, depth=self.batch_outputs,
                                                init=[], attrs={"no_rw_check": 1})
        # address of each sample's end marker, for skipping to it
        m.submodules.sample_ends = sample_ends = Memory(
            shape=range(self.batch_events), depth=self.batch_events, init=[],
            attrs={"no_rw_check": 1})
        in_write = inputs.write_port()
        in_read = BlockRAMReadPort(m, inputs, name="inputs_rd")
        ends_write = sample_ends.write_port()
        ends_read = BlockRAMReadPort(m, sample_ends, name="sample_ends_rd")
        out_write = outputs.write_port()
        out_read = BlockRAMReadPort(m, outputs, name="outputs_rd")
        start_now = self.start & ~self.running & ~self.holding

        # ---- loading
        m.d.comb += [
            self.load.ready.eq(~self.running & ~start_now & (self.loaded < self.batch_events)),
            in_write.addr.eq(self.loaded),
            in_write.data.eq(self.load.payload),
            in_write.en.eq(self.load.valid & self.load.ready),
            ends_write.addr.eq(self.ends),
            ends_write.data.eq(self.loaded),
            ends_write.en.eq(self.load.valid & self.load.ready & self.load.payload.end),
        ]
        with m.If(self.clear & ~self.running):
            m.d.sync += [self.loaded.eq(0), self.ends.eq(0), self.last_is_end.eq(0),
                         self.outputs.eq(0), self.overflow.eq(0)]
        with m.Elif(self.load.valid & self.load.ready):
            m.d.sync += [self.loaded.eq(self.loaded + 1),
                         self.last_is_end.eq(self.load.payload.end)]
            with m.If(self.load.payload.end):
                m.d.sync += self.ends.eq(self.ends + 1)

        # ---- replay.  The beat offered to the core is a register (``head``, beat
        # ``sent``), so the core's ``ready`` logic starts at a flip-flop rather than at
        # the block RAM's slow data output; the RAM meanwhile holds the beat after it
        # (``sent + 1``) on its read port.  When the core takes the head, the head loads
        # the RAM's beat and the RAM reads ``sent + 2``.  ``ready`` arrives late in the
        # cycle (it depends on the beat), so it only selects between values computed from
        # registers beforehand: ``sent + 1..3``, ``sample + 1``, and the address of the
        # sample's end marker and the three after it are registers of their own (Yosys
        # would otherwise share two adders feeding one multiplexer behind it, putting
        # ``ready`` in front of a carry chain), and the read address never depends on a
        # skip.  On a skip the head becomes an end marker (the core looks only at ``end``
        # in one) and the RAM reads the beat after the sample's stored end marker in the
        # next cycle; if the core takes the end marker in that cycle, the head is
        # reloaded from the RAM one cycle later.  The core never notices that cycle: after
        # taking an end marker it spends at least one cycle closing the sample (END)
        # before it takes another beat.  A run starts with one cycle that loads the first
        # head.
        sent = Signal(range(self.batch_events + 1))
        sent_inc = Signal(range(self.batch_events + 2), init=1)      # always sent + 1
        sent_inc2 = Signal(range(self.batch_events + 3), init=2)     # always sent + 2
        sent_inc3 = Signal(range(self.batch_events + 4), init=3)     # always sent + 3
        head = Signal(in_layout)
        head_loaded = Signal()
        ends_left = Signal(range(self.batch_events + 1))      # end beats still to come
        # sent < loaded, as a register: ``valid`` (and so the core's ``ready`` and the
        # next-beat logic behind it) then starts at flip-flops, not at a compare.  Its
        # next value is compared beside the counter's (``loaded`` does not change while a
        # batch runs: loading waits for it; a skip lands on a stored end marker, so before
        # ``loaded``).
        beats_left = Signal()
        stream_held = self.holding
        taken = self.events_in.valid & self.events_in.ready
        # the sample being replayed; the end-address port reads its end marker's address
        # (from the register), which is registered again with its successors.  They are
        # current from the third cycle of a sample on (``ends_age``); a core decides
        # several cycles after a sample's first beat (a step must close and WTA run), so
        # the guard never holds back one of its skips (a producer may always go on
        # without skipping: the rest of a decided sample changes nothing).
        sample = Signal(range(self.batch_events + 1))
        sample_inc = Signal(range(self.batch_events + 2), init=1)    # always sample + 1
        sample_step = taken & head.end
        ends_age = Signal(range(3))
        with m.If(start_now | sample_step):
            m.d.sync += ends_age.eq(0)
        with m.Elif(ends_age != 2):
            m.d.sync += ends_age.eq(ends_age + 1)
        with m.If(start_now):
            m.d.sync += [sample.eq(0), sample_inc.eq(1)]
        with m.Elif(sample_step):
            m.d.sync += [sample.eq(sample_inc), sample_inc.eq(sample_inc + 1)]
        end_addr = Signal(range(self.batch_events))
        after_end = [Signal(range(self.batch_events + 1 + i), name=f"after_end{i + 1}")
                     for i in range(3)]                       # end_addr + 1, + 2, + 3
        m.d.sync += end_addr.eq(ends_read.data)
        m.d.sync += [reg.eq(ends_read.data + i + 1) for i, reg in enumerate(after_end)]
        skip = (self.running & taken & self.decided & ~head.end & (ends_age == 2)
                & (sample < self.ends))           # a sample without end marker: no skip
        # the last cycle skipped: the RAM's data is not the successor of the end marker
        skipped = Signal()
        m.d.sync += skipped.eq(skip)
        m.d.comb += [
            ends_read.addr.eq(sample),
            in_read.addr.eq(Mux(start_now, 0, Mux(taken & ~skipped, sent_inc2, sent_inc))),
            self.events_in.payload.eq(head),
            self.events_in.valid.eq(Mux(self.running, head_loaded & beats_left,
                                        stream_held)),
        ]
        with m.If(start_now):
            m.d.sync += [sent.eq(0), sent_inc.eq(1), sent_inc2.eq(2), sent_inc3.eq(3),
                         head_loaded.eq(0), beats_left.eq(self.loaded != 0)]
        with m.Elif(self.running & ~head_loaded):
            m.d.sync += [head.eq(in_read.data), head_loaded.eq(1)]
        with m.Elif(skip):
            m.d.sync += [head.eq(in_layout.const({"end": 1})), sent.eq(end_addr),
                         sent_inc.eq(after_end[0]), sent_inc2.eq(after_end[1]),
                         sent_inc3.eq(after_end[2]), beats_left.eq(end_addr < self.loaded)]
        with m.Elif(self.running & taken):
            m.d.sync += [sent.eq(sent_inc), sent_inc.eq(sent_inc2),
                         sent_inc2.eq(sent_inc3), sent_inc3.eq(sent_inc3 + 1),
                         beats_left.eq(sent_inc < self.loaded)]
            with m.If(skipped):
                m.d.sync += head_loaded.eq(0)      # the RAM reads the new head now
            with m.Else():
                m.d.sync += head.eq(in_read.data)

        # ---- streaming: the host's beats through the head while no batch runs
        with m.If(~self.running):
            m.d.comb += self.stream_in.ready.eq(~stream_held | taken)
            with m.If(self.stream_in.valid & self.stream_in.ready):
                m.d.sync += [head.eq(self.stream_in.payload), stream_held.eq(1)]
            with m.Elif(taken):
                m.d.sync += stream_held.eq(0)

        # ---- capture
        captured = self.running & self.events_out.valid
        m.d.comb += [
            self.events_out.ready.eq(1),
            out_write.addr.eq(self.outputs),
            out_write.data.eq(self.events_out.payload),
            out_write.en.eq(captured & (self.outputs < self.batch_outputs)),
            out_read.addr.eq(self.read_addr),
            self.read_data.eq(out_read.data),
        ]
        end_back = captured & self.events_out.payload.end
        # Every end beat is back, counting this cycle's: from a down counter of the end
        # beats still to come, the core's `valid` (a path through its emitter) only
        # selects between compares of a register with constants, and reaches no adder
        # or counter compare (it did, as the critical path of the board build, through
        # ``ends_back + 1 == ends``).
        all_back_now = (ends_left == 0) | (end_back & (ends_left == 1))
        with m.If(start_now):
            m.d.sync += [self.running.eq(1), self.outputs.eq(0), self.overflow.eq(0),
                         ends_left.eq(self.ends), self.cycles.eq(0)]
        with m.Elif(self.running):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(end_back):
                m.d.sync += ends_left.eq(ends_left - 1)
            with m.If(captured):
                with m.If(self.outputs < self.batch_outputs):
                    m.d.sync += self.outputs.eq(self.outputs + 1)
                with m.Else():
                    m.d.sync += self.overflow.eq(self.overflow + 1)
            # done when every beat has been taken (the last end beat comes back at
            # least a cycle after the last end marker is taken) and every end beat is
            # back
            with m.If((sent == self.loaded) & all_back_now):
                m.d.sync += self.running.eq(0)
        return m
