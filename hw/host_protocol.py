"""Command engine of the host link: parses frames, checks them, drives the core.

The wire format is defined in :mod:`spikeforge.host.protocol` (constants imported from
there) and described in ``docs/host-link.md``.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig, CoreRegisters
from ..host.protocol import (
    Command, ERROR, ErrorCode, INFO_BYTES, MAX_OUTPUTS_PER_READ, MAX_REGS_PER_READ,
    MAX_SYNAPSES_PER_READ, OUTPUT_RECORD_BYTES, READABLE_REGS, REPLY_FLAG, Reg, SYNC,
    SYNAPSE_MASK_BIT, encode_info,
)
from .batch_runner import BATCH_CYCLE_BITS, MAX_BATCH_EVENTS, MAX_BATCH_OUTPUTS
from .host_crc import crc8_next
from .host_event_framer import output_record_bytes
from .host_frame_tx import FRAME_BYTE
from .layouts import (
    access_command_layout, access_response_layout, core_control_members, input_event_layout,
    output_event_layout,
)

__all__ = ["HostProtocol"]

_HEADER_BYTES = 5          # the first payload bytes are kept in registers
_MAX_RECORDS = 128         # record buffer depth (at most 127 records fit a frame)


class HostProtocol(wiring.Component):
    """Frame parser, checker and executor between the UART byte streams and the core.

    A command takes effect only after its whole frame has arrived with a good CRC and
    every check has passed: length, command, and each record's addresses and values are
    checked while the frame arrives (records are kept, decoded, in a small buffer), and
    the state checks (core busy, batch running) are made before anything is executed.
    Any failure answers with an ERROR frame and changes nothing.  A frame that stops
    arriving for ``frame_timeout`` cycles is dropped with a TIMEOUT error, so the
    parser always resynchronises.

    Args:
        cfg: the core configuration.
        batch_events, batch_outputs: batch memory depths (reported by PING).
        frame_timeout: inter-byte timeout in clock cycles (>= 16).

    Ports (core side named as in docs/core.md, directions flipped):
        rx: In(stream of bytes) from the UART receiver.
        reply: Out(stream of FRAME_BYTE) to the frame transmitter.
        events_in, access_cmd: Out streams; access_rsp: In stream.
        threshold, theta_p, a_plus, a_minus, prune_enable, learn, counters_clear: Out.
        cnt_*: In counters; busy: In.
        batch_*: control and status of :class:`~spikeforge.hw.batch_runner.BatchRunner`.
        link_errors: In(16), UART errors counted by the link.
    """

    def __init__(self, cfg: CoreConfig, *, batch_events: int, batch_outputs: int,
                 frame_timeout: int):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {type(cfg).__name__}")
        if isinstance(frame_timeout, bool) or not isinstance(frame_timeout, int) \
                or frame_timeout < 16:
            raise ValueError(f"frame_timeout = {frame_timeout!r} cycles is too short: at least 16")
        for name, value, high in (("batch_events", batch_events, MAX_BATCH_EVENTS),
                                  ("batch_outputs", batch_outputs, MAX_BATCH_OUTPUTS)):
            if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= high:
                raise ValueError(f"{name} = {value!r} is out of range: allowed 2 to {high}")
        if cfg.n_inputs > (1 << 15) or cfg.time_steps > 256:
            raise ValueError("the host link encodes input indices in 15 bits and times in 8")
        self.cfg = cfg
        self.batch_events = batch_events
        self.batch_outputs = batch_outputs
        self.frame_timeout = frame_timeout
        defaults = CoreRegisters()
        self.register_init = {
            "threshold": min(defaults.threshold, cfg.potential_max),
            "theta_p": min(defaults.theta_p, cfg.w_max),
            "a_plus": min(defaults.a_plus, (1 << cfg.rate_frac_bits) - 1),
            "a_minus": min(defaults.a_minus, (1 << cfg.rate_frac_bits) - 1),
            "prune_enable": int(defaults.prune_enable),
            "learn": int(defaults.learn),
        }
        init = self.register_init
        super().__init__({
            "rx": In(stream.Signature(8)),
            "reply": Out(stream.Signature(FRAME_BYTE)),
            "events_in": Out(stream.Signature(input_event_layout(cfg))),
            "access_cmd": Out(stream.Signature(access_command_layout(cfg))),
            "access_rsp": In(stream.Signature(access_response_layout(cfg))),
            **core_control_members(cfg, init),
            "batch_load": Out(stream.Signature(input_event_layout(cfg))),
            "batch_clear": Out(1),
            "batch_start": Out(1),
            "batch_running": In(1),
            "batch_loaded": In(range(batch_events + 1)),
            "batch_last_is_end": In(1),
            "batch_captured": In(range(batch_outputs + 1)),
            "batch_overflow": In(32),
            "batch_cycles": In(BATCH_CYCLE_BITS),
            "batch_read_addr": Out(range(batch_outputs)),
            "batch_read_data": In(output_event_layout(cfg)),
            "link_errors": In(16),
        })

    # ------------------------------------------------------------------ helpers
    def _register_value(self, m, reg_id, value):
        """Drive ``value`` (64 bits) with the readable register ``reg_id``."""
        status = Cat(self.busy, self.batch_running)
        sources = {
            Reg.THRESHOLD: self.threshold, Reg.THETA_P: self.theta_p, Reg.A_PLUS: self.a_plus,
            Reg.A_MINUS: self.a_minus, Reg.PRUNE_ENABLE: self.prune_enable,
            Reg.LEARN: self.learn, Reg.COUNTERS_CLEAR: Const(0, 1),
            Reg.CNT_CYCLES: self.cnt_cycles, Reg.CNT_SYN_OPS: self.cnt_syn_ops,
            Reg.CNT_STDP_UPDATES: self.cnt_stdp_updates, Reg.CNT_PRUNED: self.cnt_pruned,
            Reg.CNT_DROPPED: self.cnt_dropped, Reg.CNT_SAMPLES: self.cnt_samples,
            Reg.STATUS: status, Reg.BATCH_LOADED: self.batch_loaded,
            Reg.BATCH_OUTPUTS: self.batch_captured, Reg.BATCH_OVERFLOW: self.batch_overflow,
            Reg.BATCH_CYCLES: self.batch_cycles, Reg.LINK_ERRORS: self.link_errors,
        }
        assert set(sources) == set(READABLE_REGS)
        with m.Switch(reg_id):
            for key, source in sources.items():
                with m.Case(key):
                    m.d.comb += value.eq(source)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg

        # ---------------------------------------------------------------- state
        cmd = Signal(8)
        length = Signal(8)
        offset = Signal(8)                    # payload bytes received so far
        crc = Signal(8)
        header = Array(Signal(8, name=f"header{k}") for k in range(_HEADER_BYTES))
        record = Signal(24)                   # bytes of the record being assembled
        record_pos = Signal(2)
        n_records = Signal(range(_MAX_RECORDS + 1))
        error = Signal(8)                     # first error found in this frame (0: none)
        idle_cycles = Signal(range(self.frame_timeout + 1))

        m.submodules.records = records = Memory(shape=24, depth=_MAX_RECORDS, init=[])
        rec_write = records.write_port()
        rec_read = records.read_port()
        item = Signal(range(256))             # record / reply item being executed
        m.d.comb += rec_read.addr.eq(item)
        # The record read is registered once more before use: the block RAM's clock-to-
        # output time (5.6 ns on the ECP5-85F, nextpnr) followed by the register
        # multiplexer or the core's beat logic was the board top's critical path.  So a
        # record is read in two cycles (*_FETCH, *_WAIT) and used from `record_data`.
        record_data = Signal(24)
        m.d.sync += record_data.eq(rec_read.data)

        # header fields (valid once the bytes have arrived)
        input_index = Cat(header[0], header[1])
        neuron0 = Cat(header[2], header[3])
        count = header[4]
        reg_id = header[0]
        reg_value = Cat(header[1], header[2], header[3], header[4])
        out_start = Cat(header[0], header[1])
        out_count = header[2]

        # per-command shape: header bytes before the records, record size
        is_known = Signal()
        header_len = Signal(3)
        record_len = Signal(2)
        m.d.comb += is_known.eq(Cat(cmd == code for code in Command.ALL).any())
        with m.Switch(cmd):
            with m.Case(Command.READ_REGS):
                m.d.comb += [header_len.eq(0), record_len.eq(1)]
            with m.Case(Command.WRITE_SYNAPSES):
                m.d.comb += [header_len.eq(4), record_len.eq(2)]
            with m.Case(Command.STREAM_EVENTS, Command.BATCH_LOAD):
                m.d.comb += [header_len.eq(0), record_len.eq(3)]
            with m.Default():
                m.d.comb += [header_len.eq(_HEADER_BYTES), record_len.eq(0)]

        # ---------------------------------------------------------------- record checks
        byte = self.rx.payload
        full_record = Signal(24)
        m.d.comb += full_record.eq(record)
        with m.Switch(record_pos):
            for pos in range(3):
                with m.Case(pos):
                    m.d.comb += full_record[8 * pos:8 * pos + 8].eq(byte)
        record_error = Signal(8)
        with m.Switch(cmd):
            with m.Case(Command.READ_REGS):
                with m.If(~Cat(full_record[:8] == r for r in READABLE_REGS).any()):
                    m.d.comb += record_error.eq(ErrorCode.BAD_ADDRESS)
            with m.Case(Command.WRITE_SYNAPSES):
                with m.If(full_record[:SYNAPSE_MASK_BIT] > cfg.w_max):
                    m.d.comb += record_error.eq(ErrorCode.BAD_VALUE)
                with m.If(neuron0 + n_records >= cfg.n_neurons):
                    m.d.comb += record_error.eq(ErrorCode.BAD_ADDRESS)
            with m.Case(Command.STREAM_EVENTS, Command.BATCH_LOAD):
                with m.If(~full_record[15] & ((full_record[:15] >= cfg.n_inputs) |
                                              (full_record[16:24] >= cfg.time_steps))):
                    m.d.comb += record_error.eq(ErrorCode.BAD_ADDRESS)

        length_ok = Signal()
        with m.Switch(cmd):
            with m.Case(Command.PING, Command.BATCH_CLEAR, Command.BATCH_RUN):
                m.d.comb += length_ok.eq(length == 0)
            with m.Case(Command.WRITE_REG, Command.READ_SYNAPSES):
                m.d.comb += length_ok.eq(length == 5)
            with m.Case(Command.BATCH_READ):
                m.d.comb += length_ok.eq(length == 3)
            with m.Case(Command.READ_REGS):
                m.d.comb += length_ok.eq((length >= 1) & (length <= MAX_REGS_PER_READ))
            with m.Case(Command.WRITE_SYNAPSES):
                m.d.comb += length_ok.eq((length >= 6) & (record_pos == 0))
            with m.Case(Command.STREAM_EVENTS, Command.BATCH_LOAD):
                m.d.comb += length_ok.eq((length >= 3) & (record_pos == 0))

        # ---------------------------------------------------------------- reply output
        reply_type = Signal(8)
        reply_len = Signal(8)
        shift = Signal(8 * OUTPUT_RECORD_BYTES)   # bytes of the current reply item
        shift_left = Signal(range(OUTPUT_RECORD_BYTES + 1))
        items_left = Signal(range(256))           # reply items after the current one
        error_code = Signal(8)
        info = Array(Const(b, 8) for b in encode_info(cfg, self.batch_events,
                                                      self.batch_outputs))
        reg_read_value = Signal(64)
        self._register_value(m, record_data[:8], reg_read_value)

        # ---------------------------------------------------------------- register writes
        limits = {
            Reg.THRESHOLD: (self.threshold, cfg.potential_max),
            Reg.THETA_P: (self.theta_p, cfg.w_max),
            Reg.A_PLUS: (self.a_plus, (1 << cfg.rate_frac_bits) - 1),
            Reg.A_MINUS: (self.a_minus, (1 << cfg.rate_frac_bits) - 1),
            Reg.PRUNE_ENABLE: (self.prune_enable, 1),
            Reg.LEARN: (self.learn, 1),
        }
        reg_value_ok = Signal()
        with m.Switch(reg_id):
            for key, (_, high) in limits.items():
                with m.Case(key):
                    m.d.comb += reg_value_ok.eq(reg_value <= high)
            with m.Case(Reg.COUNTERS_CLEAR):
                m.d.comb += reg_value_ok.eq(1)

        m.d.sync += [self.counters_clear.eq(0), self.batch_clear.eq(0), self.batch_start.eq(0)]

        core_busy = self.busy | self.batch_running
        rsp_weight = self.access_rsp.payload.weight
        rsp_mask = self.access_rsp.payload.mask

        def start_reply(frame_type, payload_len, next_state):
            m.d.sync += [reply_type.eq(frame_type), reply_len.eq(payload_len)]
            m.next = "REPLY_TYPE"
            m.d.sync += reply_next.eq(next_state)

        # the state after REPLY_LEN (one of the body states, or END for an empty reply)
        body_states = ["END", "INFO", "REGS_FETCH", "SYN_CMD", "OUT_ADDR"]
        reply_next = Signal(range(len(body_states)))

        def fail(code):
            m.d.sync += error_code.eq(code)
            m.next = "ERROR_TYPE"

        # ---------------------------------------------------------------- the FSM
        with m.FSM():
            with m.State("SYNC"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(self.rx.valid & (byte == SYNC)):
                    m.d.sync += [crc.eq(0), idle_cycles.eq(0)]
                    m.next = "CMD"

            # frame bytes: the inter-byte timeout runs in these four states
            for state in ("CMD", "LEN", "PAYLOAD", "CRC"):
                with m.State(state):
                    m.d.comb += self.rx.ready.eq(1)
                    with m.If(self.rx.valid):
                        m.d.sync += [idle_cycles.eq(0), crc.eq(crc8_next(crc, byte))]
                    with m.Elif(idle_cycles == self.frame_timeout):
                        fail(ErrorCode.TIMEOUT)
                    with m.Else():
                        m.d.sync += idle_cycles.eq(idle_cycles + 1)

                    if state == "CMD":
                        with m.If(self.rx.valid):
                            m.d.sync += cmd.eq(byte)
                            m.next = "LEN"
                    elif state == "LEN":
                        with m.If(self.rx.valid):
                            m.d.sync += [length.eq(byte), offset.eq(0), record.eq(0),
                                         record_pos.eq(0), n_records.eq(0), error.eq(0)]
                            m.d.sync += [header[k].eq(0) for k in range(_HEADER_BYTES)]
                            with m.If(byte == 0):
                                m.next = "CRC"
                            with m.Else():
                                m.next = "PAYLOAD"
                    elif state == "PAYLOAD":
                        with m.If(self.rx.valid):
                            m.d.sync += offset.eq(offset + 1)
                            with m.If(offset < _HEADER_BYTES):
                                m.d.sync += header[offset[:3]].eq(byte)
                            with m.If((offset >= header_len) & (record_len != 0)):
                                with m.If(record_pos == record_len - 1):
                                    m.d.comb += [rec_write.addr.eq(n_records),
                                                 rec_write.data.eq(full_record),
                                                 rec_write.en.eq(n_records < _MAX_RECORDS)]
                                    m.d.sync += [n_records.eq(n_records + 1),
                                                 record_pos.eq(0), record.eq(0)]
                                    with m.If((error == 0) & (record_error != 0)):
                                        m.d.sync += error.eq(record_error)
                                with m.Else():
                                    m.d.sync += [record.eq(full_record),
                                                 record_pos.eq(record_pos + 1)]
                            with m.If(offset == length - 1):
                                m.next = "CRC"
                    else:  # CRC
                        with m.If(self.rx.valid):
                            with m.If(byte != crc):
                                fail(ErrorCode.BAD_CHECKSUM)
                            with m.Elif(~is_known):
                                fail(ErrorCode.UNKNOWN_COMMAND)
                            with m.Elif(~length_ok):
                                fail(ErrorCode.BAD_LENGTH)
                            with m.Elif(error != 0):
                                fail(error)
                            with m.Else():
                                m.next = "EXEC"

            with m.State("EXEC"):
                m.d.sync += item.eq(0)
                with m.Switch(cmd):
                    with m.Case(Command.PING):
                        start_reply(REPLY_FLAG | Command.PING, INFO_BYTES,
                                    body_states.index("INFO"))
                    with m.Case(Command.WRITE_REG):
                        with m.If(~Cat(reg_id == r for r in range(7)).any()):
                            fail(ErrorCode.BAD_ADDRESS)
                        with m.Elif(~reg_value_ok):
                            fail(ErrorCode.BAD_VALUE)
                        with m.Elif(core_busy):
                            fail(ErrorCode.BUSY)
                        with m.Else():
                            with m.Switch(reg_id):
                                for key, (target, _) in limits.items():
                                    with m.Case(key):
                                        m.d.sync += target.eq(reg_value)
                                with m.Case(Reg.COUNTERS_CLEAR):
                                    m.d.sync += self.counters_clear.eq(1)
                            start_reply(REPLY_FLAG | Command.WRITE_REG, 0, 0)
                    with m.Case(Command.READ_REGS):
                        start_reply(REPLY_FLAG | Command.READ_REGS, n_records * 8,
                                    body_states.index("REGS_FETCH"))
                        m.d.sync += items_left.eq(n_records - 1)
                    with m.Case(Command.WRITE_SYNAPSES):
                        with m.If(input_index >= cfg.n_inputs):
                            fail(ErrorCode.BAD_ADDRESS)
                        with m.Elif(core_busy):
                            fail(ErrorCode.BUSY)
                        with m.Else():
                            m.next = "WRITE_FETCH"
                    with m.Case(Command.READ_SYNAPSES):
                        with m.If((count == 0) | (count > MAX_SYNAPSES_PER_READ)):
                            fail(ErrorCode.BAD_VALUE)
                        with m.Elif((input_index >= cfg.n_inputs) |
                                    (neuron0 + count > cfg.n_neurons)):
                            fail(ErrorCode.BAD_ADDRESS)
                        with m.Elif(core_busy):
                            fail(ErrorCode.BUSY)
                        with m.Else():
                            start_reply(REPLY_FLAG | Command.READ_SYNAPSES, count * 2,
                                        body_states.index("SYN_CMD"))
                            m.d.sync += items_left.eq(count - 1)
                    with m.Case(Command.STREAM_EVENTS):
                        with m.If(self.batch_running):
                            fail(ErrorCode.BUSY)
                        with m.Else():
                            m.next = "EVENT_FETCH"
                    with m.Case(Command.BATCH_CLEAR):
                        with m.If(self.batch_running):
                            fail(ErrorCode.BUSY)
                        with m.Else():
                            m.d.sync += self.batch_clear.eq(1)
                            start_reply(REPLY_FLAG | Command.BATCH_CLEAR, 0, 0)
                    with m.Case(Command.BATCH_LOAD):
                        with m.If(self.batch_running):
                            fail(ErrorCode.BUSY)
                        with m.Elif(self.batch_loaded + n_records > self.batch_events):
                            fail(ErrorCode.BATCH_FULL)
                        with m.Else():
                            m.next = "LOAD_FETCH"
                    with m.Case(Command.BATCH_RUN):
                        with m.If(core_busy):
                            fail(ErrorCode.BUSY)
                        with m.Elif((self.batch_loaded == 0) | ~self.batch_last_is_end):
                            fail(ErrorCode.BAD_STATE)
                        with m.Else():
                            m.d.sync += self.batch_start.eq(1)
                            start_reply(REPLY_FLAG | Command.BATCH_RUN, 0, 0)
                    with m.Case(Command.BATCH_READ):
                        with m.If((out_count == 0) | (out_count > MAX_OUTPUTS_PER_READ)):
                            fail(ErrorCode.BAD_VALUE)
                        with m.Elif(out_start + out_count > self.batch_captured):
                            fail(ErrorCode.BAD_ADDRESS)
                        with m.Elif(self.batch_running):
                            fail(ErrorCode.BUSY)
                        with m.Else():
                            start_reply(REPLY_FLAG | Command.BATCH_READ,
                                        out_count * OUTPUT_RECORD_BYTES,
                                        body_states.index("OUT_ADDR"))
                            m.d.sync += items_left.eq(out_count - 1)

            # ---- records pushed into a stream: read the buffer (1 cycle), then push
            for name, port in (("WRITE", self.access_cmd), ("EVENT", self.events_in),
                               ("LOAD", self.batch_load)):
                code = {"WRITE": Command.WRITE_SYNAPSES, "EVENT": Command.STREAM_EVENTS,
                        "LOAD": Command.BATCH_LOAD}[name]
                with m.State(f"{name}_FETCH"):
                    m.next = f"{name}_WAIT"
                with m.State(f"{name}_WAIT"):
                    m.next = f"{name}_PUSH"
                with m.State(f"{name}_PUSH"):
                    data = record_data
                    if name == "WRITE":
                        m.d.comb += [port.payload.write.eq(1),
                                     port.payload.input.eq(input_index),
                                     port.payload.neuron.eq(neuron0 + item),
                                     port.payload.weight.eq(data[:cfg.weight_bits]),
                                     port.payload.mask.eq(data[SYNAPSE_MASK_BIT])]
                    else:
                        m.d.comb += [port.payload.index.eq(data[:15]),
                                     port.payload.time.eq(data[16:24]),
                                     port.payload.end.eq(data[15])]
                    m.d.comb += port.valid.eq(1)
                    with m.If(port.ready):
                        m.d.sync += item.eq(item + 1)
                        with m.If(item == n_records - 1):
                            start_reply(REPLY_FLAG | code, 0, 0)
                        with m.Else():
                            m.next = f"{name}_FETCH"

            # ---- replies: TYPE, LEN, then the body state chosen by start_reply
            with m.State("REPLY_TYPE"):
                m.d.comb += [self.reply.valid.eq(1), self.reply.payload.data.eq(reply_type)]
                with m.If(self.reply.ready):
                    m.next = "REPLY_LEN"
            with m.State("REPLY_LEN"):
                m.d.comb += [self.reply.valid.eq(1), self.reply.payload.data.eq(reply_len),
                             self.reply.payload.last.eq(reply_len == 0)]
                with m.If(self.reply.ready):
                    with m.Switch(reply_next):
                        for index, state in enumerate(body_states):
                            with m.Case(index):
                                m.next = "SYNC" if state == "END" else state

            with m.State("INFO"):
                m.d.comb += [self.reply.valid.eq(1), self.reply.payload.data.eq(info[item]),
                             self.reply.payload.last.eq(item == INFO_BYTES - 1)]
                with m.If(self.reply.ready):
                    m.d.sync += item.eq(item + 1)
                    with m.If(item == INFO_BYTES - 1):
                        m.next = "SYNC"

            with m.State("REGS_FETCH"):       # record buffer read of id ``item``
                m.next = "REGS_WAIT"
            with m.State("REGS_WAIT"):
                m.next = "REGS_LATCH"
            with m.State("REGS_LATCH"):
                m.d.sync += [shift.eq(reg_read_value), shift_left.eq(8)]
                m.next = "SEND_ITEM"

            with m.State("SYN_CMD"):
                m.d.comb += [self.access_cmd.valid.eq(1),
                             self.access_cmd.payload.write.eq(0),
                             self.access_cmd.payload.input.eq(input_index),
                             self.access_cmd.payload.neuron.eq(neuron0 + item)]
                with m.If(self.access_cmd.ready):
                    m.next = "SYN_RSP"
            with m.State("SYN_RSP"):
                m.d.comb += self.access_rsp.ready.eq(1)
                with m.If(self.access_rsp.valid):
                    entry = rsp_weight | (rsp_mask << SYNAPSE_MASK_BIT)
                    m.d.sync += [shift.eq(entry), shift_left.eq(2)]
                    m.next = "SEND_ITEM"

            with m.State("OUT_ADDR"):
                m.d.comb += self.batch_read_addr.eq(out_start + item)
                m.next = "OUT_LATCH"
            with m.State("OUT_LATCH"):
                m.d.sync += [shift.eq(Cat(*output_record_bytes(self.batch_read_data))),
                             shift_left.eq(OUTPUT_RECORD_BYTES)]
                m.next = "SEND_ITEM"

            with m.State("SEND_ITEM"):
                final = (shift_left == 1) & (items_left == 0)
                m.d.comb += [self.reply.valid.eq(1), self.reply.payload.data.eq(shift[:8]),
                             self.reply.payload.last.eq(final)]
                with m.If(self.reply.ready):
                    m.d.sync += [shift.eq(shift >> 8), shift_left.eq(shift_left - 1)]
                    with m.If(shift_left == 1):
                        with m.If(items_left == 0):
                            m.next = "SYNC"
                        with m.Else():
                            m.d.sync += [items_left.eq(items_left - 1), item.eq(item + 1)]
                            with m.Switch(cmd):
                                with m.Case(Command.READ_REGS):
                                    m.next = "REGS_FETCH"
                                with m.Case(Command.READ_SYNAPSES):
                                    m.next = "SYN_CMD"
                                with m.Default():
                                    m.next = "OUT_ADDR"

            # ---- error reply: ERROR, 2, code, command
            with m.State("ERROR_TYPE"):
                m.d.comb += [self.reply.valid.eq(1), self.reply.payload.data.eq(ERROR)]
                with m.If(self.reply.ready):
                    m.next = "ERROR_LEN"
            with m.State("ERROR_LEN"):
                m.d.comb += [self.reply.valid.eq(1), self.reply.payload.data.eq(2)]
                with m.If(self.reply.ready):
                    m.next = "ERROR_CODE"
            with m.State("ERROR_CODE"):
                m.d.comb += [self.reply.valid.eq(1), self.reply.payload.data.eq(error_code)]
                with m.If(self.reply.ready):
                    m.next = "ERROR_CMD"
            with m.State("ERROR_CMD"):
                m.d.comb += [self.reply.valid.eq(1), self.reply.payload.data.eq(cmd),
                             self.reply.payload.last.eq(1)]
                with m.If(self.reply.ready):
                    m.next = "SYNC"
        return m
