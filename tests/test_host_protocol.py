"""The host link's command engine (hw/host_protocol.py and the rest of hw/host_link.py)
in amaranth.sim, through its UART pins, with a stand-in core that has the core's ports.

The stand-in core echoes every input spike ``(i, t)`` as output spike
``(i % n_neurons, t)``, answers an end marker with an end beat carrying the sample's
spike count, and keeps weights in a plain memory: simple enough to predict exactly,
so the tests check the link, not the core (tests/test_board_top.py runs the real core).
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from spikeforge.config import CoreConfig
from spikeforge.host import protocol as P
from spikeforge.hw.host_link import HostLink
from spikeforge.hw.layouts import (
    access_command_layout, access_response_layout, input_event_layout, output_event_layout,
)

CFG = CoreConfig(n_inputs=20, n_neurons=6, weight_bits=6, potential_bits=10, time_steps=8,
                 lanes=2, rate_frac_bits=8, counter_bits=16)
DIVISOR = 4
BATCH_EVENTS = 24
BATCH_OUTPUTS = 12
FRAME_TIMEOUT = 400


class StandInCore(wiring.Component):
    """The ports of TTFSCore (docs/core.md) with trivial, predictable behaviour."""

    def __init__(self, cfg):
        self.cfg = cfg
        cb = cfg.counter_bits
        super().__init__({
            "events_in": In(stream.Signature(input_event_layout(cfg))),
            "events_out": Out(stream.Signature(output_event_layout(cfg))),
            "access_cmd": In(stream.Signature(access_command_layout(cfg))),
            "access_rsp": Out(stream.Signature(access_response_layout(cfg))),
            "threshold": In(cfg.potential_bits), "theta_p": In(cfg.weight_bits),
            "a_plus": In(cfg.rate_frac_bits), "a_minus": In(cfg.rate_frac_bits),
            "prune_enable": In(1), "learn": In(1), "counters_clear": In(1),
            "cnt_cycles": Out(cb), "cnt_syn_ops": Out(cb), "cnt_stdp_updates": Out(cb),
            "cnt_pruned": Out(cb), "cnt_dropped": Out(cb), "cnt_samples": Out(cb),
            "busy": Out(1), "decided": Out(1),        # never decides: no learning here
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.mem = mem = Memory(shape=cfg.weight_bits + 1,
                                        depth=cfg.n_inputs * cfg.n_neurons, init=[])
        wr, rd = mem.write_port(), mem.read_port()
        cmd = self.access_cmd.payload
        take_cmd = self.access_cmd.valid & self.access_cmd.ready
        m.d.comb += [
            self.access_cmd.ready.eq(~self.busy & ~self.access_rsp.valid),
            wr.addr.eq(cmd.input * cfg.n_neurons + cmd.neuron), rd.addr.eq(wr.addr),
            wr.data.eq(Cat(Mux(cmd.mask, cmd.weight, 0), cmd.mask)),
            wr.en.eq(take_cmd & cmd.write),
        ]
        pending = Signal()
        m.d.sync += pending.eq(take_cmd & ~cmd.write)
        with m.If(pending):
            m.d.sync += [self.access_rsp.valid.eq(1),
                         self.access_rsp.payload.weight.eq(rd.data[:cfg.weight_bits]),
                         self.access_rsp.payload.mask.eq(rd.data[cfg.weight_bits])]
        with m.Elif(self.access_rsp.ready):
            m.d.sync += self.access_rsp.valid.eq(0)

        spikes = Signal(cfg.counter_bits)
        out = self.events_out.payload
        ev = self.events_in.payload
        m.d.comb += self.events_in.ready.eq(~self.events_out.valid | self.events_out.ready)
        with m.If(self.events_out.ready):
            m.d.sync += self.events_out.valid.eq(0)
        with m.If(self.events_in.valid & self.events_in.ready):
            m.d.sync += self.events_out.valid.eq(1)
            with m.If(ev.end):
                m.d.sync += [out.end.eq(1), out.cycles.eq(spikes), out.neuron.eq(0),
                             out.time.eq(0), spikes.eq(0), self.busy.eq(0),
                             self.cnt_samples.eq(self.cnt_samples + 1),
                             self.cnt_cycles.eq(self.cnt_cycles + spikes)]
            with m.Else():
                m.d.sync += [out.end.eq(0), out.cycles.eq(0),
                             out.neuron.eq(ev.index % cfg.n_neurons), out.time.eq(ev.time),
                             spikes.eq(spikes + 1), self.busy.eq(1),
                             self.cnt_syn_ops.eq(self.cnt_syn_ops + 1)]
        with m.If(self.counters_clear):
            m.d.sync += [self.cnt_samples.eq(0), self.cnt_cycles.eq(0), self.cnt_syn_ops.eq(0)]
        return m


class LinkTop(wiring.Component):
    def __init__(self):
        self.link = HostLink(CFG, clk_freq=DIVISOR * 1_000_000, baud=1_000_000,
                             batch_events=BATCH_EVENTS, batch_outputs=BATCH_OUTPUTS,
                             frame_timeout=FRAME_TIMEOUT)
        self.core = StandInCore(CFG)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.link, m.submodules.core = self.link, self.core
        self.link.connect_core(m, self.core)
        m.d.comb += [self.link.rx.eq(self.rx), self.tx.eq(self.link.tx)]
        return m


class Host:
    """Bit-level UART host for the amaranth testbench: sends bytes on ``rx`` and
    decodes the frames that come back on ``tx`` (a background process)."""

    def __init__(self, dut):
        self.dut = dut
        self.decoder = P.FrameDecoder()
        self.frames: list[P.Frame] = []

    async def line_monitor(self, ctx):
        samples = []
        async for _, _, tx in ctx.tick().sample(self.dut.tx):
            samples.append(tx)
            # a byte is complete 10 bit periods after its start bit's falling edge
            if len(samples) >= 10 * DIVISOR + 1 and samples[0] == 1 and samples[1] == 0:
                bits = [samples[1 + DIVISOR * j + DIVISOR // 2] for j in range(10)]
                assert bits[0] == 0 and bits[9] == 1, "framing error on tx"
                byte = sum(b << j for j, b in enumerate(bits[1:9]))
                self.frames += self.decoder.feed(bytes([byte]))
                del samples[:10 * DIVISOR]
            elif len(samples) > 1 and not (samples[0] == 1 and samples[1] == 0):
                del samples[0]

    async def send(self, ctx, data: bytes):
        for byte in data:
            for bit in [0] + [(byte >> k) & 1 for k in range(8)] + [1]:
                ctx.set(self.dut.rx, bit)
                await ctx.tick().repeat(DIVISOR)

    async def wait_frames(self, ctx, count: int, limit: int = 20000):
        for _ in range(limit):
            if len(self.frames) >= count:
                return
            await ctx.tick()
        raise AssertionError(f"timed out waiting for {count} frames, got {self.frames}")

    async def call(self, ctx, command: int, payload: bytes = b"", *, expect_events: int = 0):
        """Send one command, return (reply, event frames that arrived before it)."""
        start = len(self.frames)
        await self.send(ctx, P.encode_frame(command, payload))
        await self.wait_frames(ctx, start + 1 + expect_events)
        got = self.frames[start:]
        replies = [f for f in got if f.type != P.EVENT]
        events = [f for f in got if f.type == P.EVENT]
        assert len(replies) == 1, got
        return replies[0], events


def ok(reply, command):
    assert reply.type == P.REPLY_FLAG | command, \
        f"expected OK for {P.Command.NAMES[command]}, got {reply}"
    return reply.payload


def err(reply, code, command):
    assert reply.type == P.ERROR, f"expected error {code}, got {reply}"
    assert tuple(reply.payload) == (code, command), reply.payload


def run(testbench, budget_us=4000):
    dut = LinkTop()
    host = Host(dut)
    sim = Simulator(dut)
    sim.add_clock(1e-6 / DIVISOR)
    sim.add_process(host.line_monitor)
    done = []

    async def wrapped(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(4)
        await testbench(ctx, host)
        done.append(True)

    sim.add_testbench(wrapped)
    sim.run_until(budget_us * 1e-6)
    assert done, "testbench did not finish in its simulated time budget"


def regs_payload(*ids):
    return bytes(ids)


def u64s(payload):
    return list(struct.unpack(f"<{len(payload) // 8}Q", payload))


def test_ping_registers_and_counters():
    async def tb(ctx, host):
        reply, _ = await host.call(ctx, P.Command.PING)
        info = P.decode_info(ok(reply, P.Command.PING))
        assert info["n_inputs"] == CFG.n_inputs and info["n_neurons"] == CFG.n_neurons
        assert info["batch_events"] == BATCH_EVENTS and info["version"] == P.PROTOCOL_VERSION
        assert ok(reply, P.Command.PING) == P.encode_info(CFG, BATCH_EVENTS, BATCH_OUTPUTS)

        writes = {P.Reg.THRESHOLD: 1000, P.Reg.THETA_P: 17, P.Reg.A_PLUS: 200,
                  P.Reg.A_MINUS: 3, P.Reg.PRUNE_ENABLE: 0, P.Reg.LEARN: 1}
        for reg, value in writes.items():
            reply, _ = await host.call(ctx, P.Command.WRITE_REG, struct.pack("<BI", reg, value))
            ok(reply, P.Command.WRITE_REG)
        reply, _ = await host.call(ctx, P.Command.READ_REGS, regs_payload(*writes))
        assert u64s(ok(reply, P.Command.READ_REGS)) == list(writes.values())
        # the core's ports carry the values
        assert ctx.get(host.dut.core.threshold) == 1000
        assert ctx.get(host.dut.core.learn) == 1
    run(tb)


def test_synapse_write_and_read_back():
    rng = np.random.default_rng(5)
    weights = rng.integers(0, CFG.w_max + 1, (CFG.n_inputs, CFG.n_neurons))
    mask = rng.random((CFG.n_inputs, CFG.n_neurons)) < 0.7

    async def tb(ctx, host):
        for i in (0, 7, CFG.n_inputs - 1):
            entries = P.encode_synapse_entries(weights[i], mask[i])
            reply, _ = await host.call(ctx, P.Command.WRITE_SYNAPSES,
                                       struct.pack("<HH", i, 0) + entries)
            ok(reply, P.Command.WRITE_SYNAPSES)
        for i in (0, 7, CFG.n_inputs - 1):
            reply, _ = await host.call(ctx, P.Command.READ_SYNAPSES,
                                       struct.pack("<HHB", i, 0, CFG.n_neurons))
            w, k = P.decode_synapse_entries(ok(reply, P.Command.READ_SYNAPSES))
            np.testing.assert_array_equal(w, np.where(mask[i], weights[i], 0))
            np.testing.assert_array_equal(k, mask[i])
        # a partial row, starting at neuron 2
        reply, _ = await host.call(ctx, P.Command.READ_SYNAPSES, struct.pack("<HHB", 7, 2, 3))
        w, _ = P.decode_synapse_entries(ok(reply, P.Command.READ_SYNAPSES))
        np.testing.assert_array_equal(w, np.where(mask[7], weights[7], 0)[2:5])
    run(tb)


def test_streamed_events_come_back_as_event_frames():
    events = [(3, 0), (9, 1), (13, 4), None, (1, 2), None]

    async def tb(ctx, host):
        reply, frames = await host.call(ctx, P.Command.STREAM_EVENTS, P.encode_events(events),
                                        expect_events=6)
        ok(reply, P.Command.STREAM_EVENTS)
        await host.wait_frames(ctx, 7)
        beats = [b for f in host.frames if f.type == P.EVENT
                 for b in P.decode_output_records(f.payload)]
        assert [(b.neuron, b.time, b.end, b.cycles) for b in beats] == [
            (3, 0, False, 0), (3, 1, False, 0), (1, 4, False, 0), (0, 0, True, 3),
            (1, 2, False, 0), (0, 0, True, 1)]
        reply, _ = await host.call(ctx, P.Command.READ_REGS,
                                   regs_payload(P.Reg.CNT_SAMPLES, P.Reg.CNT_CYCLES,
                                                P.Reg.CNT_SYN_OPS, P.Reg.STATUS))
        assert u64s(ok(reply, P.Command.READ_REGS)) == [2, 4, 4, 0]
        reply, _ = await host.call(ctx, P.Command.WRITE_REG,
                                   struct.pack("<BI", P.Reg.COUNTERS_CLEAR, 1))
        ok(reply, P.Command.WRITE_REG)
        reply, _ = await host.call(ctx, P.Command.READ_REGS, regs_payload(P.Reg.CNT_SAMPLES))
        assert u64s(ok(reply, P.Command.READ_REGS)) == [0]
    run(tb)


def test_bad_frames_get_errors_and_change_nothing():
    C, E = P.Command, P.ErrorCode

    async def tb(ctx, host):
        entries = P.encode_synapse_entries([5] * CFG.n_neurons, [1] * CFG.n_neurons)
        reply, _ = await host.call(ctx, C.WRITE_SYNAPSES, struct.pack("<HH", 4, 0) + entries)
        ok(reply, C.WRITE_SYNAPSES)
        reply, _ = await host.call(ctx, C.WRITE_REG, struct.pack("<BI", P.Reg.THRESHOLD, 77))
        ok(reply, C.WRITE_REG)

        # bad checksum: a valid synapse write with the CRC flipped
        frame = bytearray(P.encode_frame(C.WRITE_SYNAPSES, struct.pack("<HH", 4, 0) +
                                         P.encode_synapse_entries([9] * 6, [1] * 6)))
        frame[-1] ^= 0x5A
        start = len(host.frames)
        await host.send(ctx, bytes(frame))
        await host.wait_frames(ctx, start + 1)
        err(host.frames[-1], E.BAD_CHECKSUM, C.WRITE_SYNAPSES)

        cases = [
            (0x42, b"", E.UNKNOWN_COMMAND),
            (C.WRITE_REG, struct.pack("<BH", P.Reg.THRESHOLD, 5), E.BAD_LENGTH),
            (C.PING, b"\x00", E.BAD_LENGTH),
            (C.STREAM_EVENTS, b"\x01\x00", E.BAD_LENGTH),
            (C.WRITE_SYNAPSES, struct.pack("<HH", 4, 0) + b"\x05", E.BAD_LENGTH),
            (C.WRITE_REG, struct.pack("<BI", 9, 1), E.BAD_ADDRESS),
            (C.WRITE_REG, struct.pack("<BI", P.Reg.THRESHOLD, CFG.potential_max + 1),
             E.BAD_VALUE),
            (C.WRITE_REG, struct.pack("<BI", P.Reg.LEARN, 2), E.BAD_VALUE),
            (C.READ_REGS, bytes([P.Reg.THRESHOLD, 15]), E.BAD_ADDRESS),
            (C.WRITE_SYNAPSES, struct.pack("<HH", CFG.n_inputs, 0) + entries, E.BAD_ADDRESS),
            (C.WRITE_SYNAPSES, struct.pack("<HH", 4, 1) + entries, E.BAD_ADDRESS),
            (C.WRITE_SYNAPSES, struct.pack("<HH", 4, 0) +
             P.encode_synapse_entries([CFG.w_max + 1], [1]), E.BAD_VALUE),
            (C.READ_SYNAPSES, struct.pack("<HHB", 4, 3, 4), E.BAD_ADDRESS),
            (C.READ_SYNAPSES, struct.pack("<HHB", 4, 0, 0), E.BAD_VALUE),
            (C.STREAM_EVENTS, P.encode_events([(1, 0), (CFG.n_inputs, 1), None]),
             E.BAD_ADDRESS),
            (C.STREAM_EVENTS, P.encode_events([(1, CFG.time_steps), None]), E.BAD_ADDRESS),
            (C.BATCH_RUN, b"", E.BAD_STATE),
            (C.BATCH_READ, struct.pack("<HB", 0, 1), E.BAD_ADDRESS),
        ]
        for command, payload, code in cases:
            reply, _ = await host.call(ctx, command, payload)
            err(reply, code, command)

        # a frame that stops arriving: TIMEOUT, then the link works again
        start = len(host.frames)
        await host.send(ctx, P.encode_frame(C.WRITE_REG,
                                            struct.pack("<BI", P.Reg.THRESHOLD, 1))[:4])
        await host.wait_frames(ctx, start + 1)
        err(host.frames[-1], E.TIMEOUT, C.WRITE_REG)

        # nothing changed: weights, threshold, no event reached the core
        reply, _ = await host.call(ctx, C.READ_SYNAPSES, struct.pack("<HHB", 4, 0, 6))
        assert P.decode_synapse_entries(ok(reply, C.READ_SYNAPSES))[0] == [5] * 6
        reply, _ = await host.call(ctx, C.READ_REGS,
                                   bytes([P.Reg.THRESHOLD, P.Reg.CNT_SYN_OPS, P.Reg.STATUS]))
        assert u64s(ok(reply, C.READ_REGS)) == [77, 0, 0]
        assert not [f for f in host.frames if f.type == P.EVENT]

        # a sample left open makes the core busy: synapse access and registers refuse
        reply, _ = await host.call(ctx, C.STREAM_EVENTS, P.encode_events([(2, 1)]),
                                   expect_events=1)
        ok(reply, C.STREAM_EVENTS)
        reply, _ = await host.call(ctx, C.WRITE_SYNAPSES, struct.pack("<HH", 4, 0) + entries)
        err(reply, E.BUSY, C.WRITE_SYNAPSES)
        reply, _ = await host.call(ctx, C.WRITE_REG, struct.pack("<BI", P.Reg.LEARN, 1))
        err(reply, E.BUSY, C.WRITE_REG)
    run(tb, budget_us=8000)


def test_batch_mode_runs_samples_and_buffers_outputs():
    samples = [[(3, 0), (8, 2)], [(13, 1)], [], [(19, 7), (0, 7), (6, 7)]]
    stream_events = [e for s in samples for e in s + [None]]
    C, E = P.Command, P.ErrorCode

    async def tb(ctx, host):
        reply, _ = await host.call(ctx, C.BATCH_CLEAR)
        ok(reply, C.BATCH_CLEAR)
        # load in two frames, the first ends mid-sample: BATCH_RUN refuses
        reply, _ = await host.call(ctx, C.BATCH_LOAD, P.encode_events(stream_events[:4]))
        ok(reply, C.BATCH_LOAD)
        reply, _ = await host.call(ctx, C.BATCH_RUN)
        err(reply, E.BAD_STATE, C.BATCH_RUN)
        reply, _ = await host.call(ctx, C.BATCH_LOAD, P.encode_events(stream_events[4:]))
        ok(reply, C.BATCH_LOAD)
        # more than the memory holds: refused, the batch is unchanged
        reply, _ = await host.call(ctx, C.BATCH_LOAD, P.encode_events([(1, 1)] * 16))
        err(reply, E.BATCH_FULL, C.BATCH_LOAD)
        reply, _ = await host.call(ctx, C.READ_REGS, bytes([P.Reg.BATCH_LOADED]))
        assert u64s(ok(reply, C.READ_REGS)) == [len(stream_events)]

        reply, _ = await host.call(ctx, C.BATCH_RUN)
        ok(reply, C.BATCH_RUN)
        while True:
            reply, _ = await host.call(ctx, C.READ_REGS,
                                       bytes([P.Reg.STATUS, P.Reg.BATCH_OUTPUTS,
                                              P.Reg.BATCH_OVERFLOW, P.Reg.BATCH_CYCLES]))
            status, n_out, overflow, cycles = u64s(ok(reply, C.READ_REGS))
            if not status & 2:
                break
        expected = [(e[0] % CFG.n_neurons, e[1], False, 0) for e in samples[0]] + \
            [(0, 0, True, 2)] + [(1, 1, False, 0), (0, 0, True, 1), (0, 0, True, 0)] + \
            [(1, 7, False, 0), (0, 7, False, 0), (0, 7, False, 0), (0, 0, True, 3)]
        assert n_out == len(expected) and overflow == 0
        # every beat is taken in the cycle it is offered: the run is one cycle per beat
        # of the stand-in core plus the pipeline
        assert len(stream_events) <= cycles <= len(stream_events) + 4
        beats = []
        for start in range(0, n_out, 5):
            n = min(5, n_out - start)
            reply, _ = await host.call(ctx, C.BATCH_READ, struct.pack("<HB", start, n))
            beats += P.decode_output_records(ok(reply, C.BATCH_READ))
        assert [(b.neuron, b.time, b.end, b.cycles) for b in beats] == expected
        reply, _ = await host.call(ctx, C.BATCH_READ, struct.pack("<HB", n_out - 1, 2))
        err(reply, E.BAD_ADDRESS, C.BATCH_READ)
        assert not [f for f in host.frames if f.type == P.EVENT], \
            "batch outputs must stay on chip"
        # run the same batch again: overflow is counted when outputs exceed the memory
        reply, _ = await host.call(ctx, C.READ_REGS, bytes([P.Reg.CNT_SAMPLES]))
        assert u64s(ok(reply, C.READ_REGS)) == [4]
    run(tb, budget_us=8000)
