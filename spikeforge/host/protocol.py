"""The host-link wire format: one definition shared by the hardware and the host driver.

``hw/host_protocol.py`` imports the constants below, so the board and the driver cannot
disagree on a code.  Everything here is plain Python (no Amaranth, no cocotb, no serial
port): it encodes and decodes frames and payloads.  ``docs/host-link.md`` is the prose
version of this module.

Frame (both directions)::

    SYNC(0xA5)  TYPE  LEN  PAYLOAD[LEN]  CRC

``CRC`` is CRC-8 with polynomial 0x07 (x^8 + x^2 + x + 1), initial value 0, no bit
reflection, no final XOR (CRC-8/SMBUS), computed over ``TYPE, LEN, PAYLOAD``.
Multi-byte fields are little endian.  ``LEN`` is at most 255.

Host -> board ``TYPE`` is a command; board -> host ``TYPE`` is ``0x80 | command`` for a
successful reply, :data:`ERROR` (payload ``code, command``) or :data:`EVENT` (one output
beat of the core, sent whenever the core emits one in streaming mode).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "SYNC", "PROTOCOL_VERSION", "MAX_PAYLOAD", "Command", "ErrorCode", "Reg", "REPLY_FLAG",
    "ERROR", "EVENT", "crc8", "encode_frame", "FrameDecoder", "Frame",
    "EVENT_RECORD_BYTES", "OUTPUT_RECORD_BYTES", "MAX_EVENTS_PER_FRAME",
    "MAX_SYNAPSES_PER_WRITE", "MAX_SYNAPSES_PER_READ", "MAX_REGS_PER_READ",
    "MAX_OUTPUTS_PER_READ", "INFO_FORMAT", "INFO_BYTES", "WRITABLE_REGS", "READABLE_REGS",
    "encode_events", "encode_synapse_entries", "decode_synapse_entries",
    "decode_output_records", "OutputBeat", "decode_info", "encode_info",
    "SYNAPSE_MASK_BIT",
]

SYNC = 0xA5
PROTOCOL_VERSION = 1
MAX_PAYLOAD = 255


class Command:
    """Command codes (host -> board)."""
    PING = 0x01             # ()                                  -> INFO (board's config)
    WRITE_REG = 0x02        # (id u8, value u32)                  -> ()
    READ_REGS = 0x03        # (id u8) * n, 1 <= n <= 31           -> (value u64) * n
    WRITE_SYNAPSES = 0x04   # (input u16, neuron0 u16, entry u16 * n), 1 <= n <= 125
    READ_SYNAPSES = 0x05    # (input u16, neuron0 u16, count u8)  -> entry u16 * count
    STREAM_EVENTS = 0x06    # (event u24) * n, 1 <= n <= 85      -> () after the core took them
    BATCH_CLEAR = 0x07      # ()                                  -> ()
    BATCH_LOAD = 0x08       # (event u24) * n                     -> ()
    BATCH_RUN = 0x09        # ()                                  -> () (poll Reg.STATUS)
    BATCH_READ = 0x0A       # (start u16, count u8), 1..25        -> (output record) * count

    ALL = (PING, WRITE_REG, READ_REGS, WRITE_SYNAPSES, READ_SYNAPSES, STREAM_EVENTS,
           BATCH_CLEAR, BATCH_LOAD, BATCH_RUN, BATCH_READ)
    NAMES = {PING: "PING", WRITE_REG: "WRITE_REG", READ_REGS: "READ_REGS",
             WRITE_SYNAPSES: "WRITE_SYNAPSES", READ_SYNAPSES: "READ_SYNAPSES",
             STREAM_EVENTS: "STREAM_EVENTS", BATCH_CLEAR: "BATCH_CLEAR",
             BATCH_LOAD: "BATCH_LOAD", BATCH_RUN: "BATCH_RUN", BATCH_READ: "BATCH_READ"}


REPLY_FLAG = 0x80
ERROR = 0xEE
EVENT = 0xB0


class ErrorCode:
    """Codes of the ERROR reply.  A frame that gets an error had no effect at all."""
    BAD_CHECKSUM = 1     # CRC mismatch
    UNKNOWN_COMMAND = 2  # TYPE is not a command
    BAD_LENGTH = 3       # LEN does not fit the command (malformed frame)
    BAD_ADDRESS = 4      # register id, synapse index, event index/time or batch range out of range
    BAD_VALUE = 5        # register value or weight out of range, bad count
    BUSY = 6             # a sample is active in the core, or a batch is running
    TIMEOUT = 7          # the frame stopped arriving before its CRC (inter-byte timeout)
    BATCH_FULL = 8       # BATCH_LOAD would overflow the batch memory
    BAD_STATE = 9        # BATCH_RUN with an empty batch or one not closed by an end marker

    NAMES = {1: "bad checksum", 2: "unknown command", 3: "bad length (malformed frame)",
             4: "address out of range", 5: "value out of range", 6: "busy",
             7: "frame timeout (incomplete frame)", 8: "batch memory full",
             9: "bad state (batch empty or not ended by an end marker)"}


class Reg:
    """Register ids of WRITE_REG / READ_REGS.  Values are read back as u64."""
    THRESHOLD = 0
    THETA_P = 1
    A_PLUS = 2
    A_MINUS = 3
    PRUNE_ENABLE = 4
    LEARN = 5
    COUNTERS_CLEAR = 6      # write-only: any write clears every core counter (reads 0)
    CNT_CYCLES = 16
    CNT_SYN_OPS = 17
    CNT_STDP_UPDATES = 18
    CNT_PRUNED = 19
    CNT_DROPPED = 20
    CNT_SAMPLES = 21
    STATUS = 32             # bit 0: a sample is active in the core; bit 1: a batch is running
    BATCH_LOADED = 33       # input beats in the batch memory
    BATCH_OUTPUTS = 34      # output beats captured by the last batch run
    BATCH_OVERFLOW = 35     # output beats lost because the output memory was full
    BATCH_CYCLES = 36       # clock cycles of the last batch run (start to last end beat)
    LINK_ERRORS = 37        # UART framing errors + receive overruns since reset

    COUNTERS = {"cycles": CNT_CYCLES, "syn_ops": CNT_SYN_OPS,
                "stdp_updates": CNT_STDP_UPDATES, "pruned": CNT_PRUNED,
                "dropped": CNT_DROPPED, "samples": CNT_SAMPLES}
    REGISTERS = {"threshold": THRESHOLD, "theta_p": THETA_P, "a_plus": A_PLUS,
                 "a_minus": A_MINUS, "prune_enable": PRUNE_ENABLE, "learn": LEARN}


WRITABLE_REGS = tuple(range(0, 7))
READABLE_REGS = tuple(range(0, 7)) + tuple(range(16, 22)) + tuple(range(32, 38))

EVENT_RECORD_BYTES = 3      # u16 index (bit 15: end marker), u8 time
OUTPUT_RECORD_BYTES = 10    # u8 flags (bit 0: end), u8 time, u16 neuron, u48 cycles
SYNAPSE_MASK_BIT = 15       # synapse entry u16: bits 0..14 weight, bit 15 mask (1 = alive)
MAX_EVENTS_PER_FRAME = MAX_PAYLOAD // EVENT_RECORD_BYTES          # 85
MAX_SYNAPSES_PER_WRITE = (MAX_PAYLOAD - 4) // 2                   # 125
MAX_SYNAPSES_PER_READ = MAX_PAYLOAD // 2                          # 127
MAX_REGS_PER_READ = MAX_PAYLOAD // 8                              # 31
MAX_OUTPUTS_PER_READ = MAX_PAYLOAD // OUTPUT_RECORD_BYTES         # 25

# PING reply: version, n_inputs, n_neurons, weight_bits, potential_bits, time_steps,
# lanes, pruning, rate_frac_bits, fifo_depth, counter_bits, batch_events, batch_outputs
INFO_FORMAT = "<BHHBBHBBBBBII"
INFO_BYTES = struct.calcsize(INFO_FORMAT)


def _crc_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc8(data: bytes, crc: int = 0) -> int:
    """CRC-8/SMBUS (poly 0x07, init 0, no reflection, no final XOR) of ``data``."""
    for byte in data:
        crc = _CRC_TABLE[crc ^ byte]
    return crc


def encode_frame(frame_type: int, payload: bytes = b"") -> bytes:
    """The bytes of one frame."""
    payload = bytes(payload)
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes is too long: at most {MAX_PAYLOAD}")
    if not 0 <= frame_type <= 0xFF:
        raise ValueError(f"frame type {frame_type} is not a byte")
    body = bytes([frame_type, len(payload)]) + payload
    return bytes([SYNC]) + body + bytes([crc8(body)])


@dataclass(frozen=True)
class Frame:
    """A decoded frame: ``type`` and ``payload``."""
    type: int
    payload: bytes


class FrameDecoder:
    """Incremental frame parser: feed bytes, collect complete frames.

    Bytes before a SYNC are skipped (counted in ``skipped``); a frame whose CRC does
    not match raises ``ValueError`` from :meth:`feed` after resynchronising on the next
    SYNC byte, so a corrupted link is reported instead of silently misread.
    """

    def __init__(self):
        self._buffer = bytearray()
        self.skipped = 0

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer.extend(data)
        frames = []
        while True:
            start = self._buffer.find(bytes([SYNC]))
            if start < 0:
                self.skipped += len(self._buffer)
                self._buffer.clear()
                return frames
            if start:
                self.skipped += start
                del self._buffer[:start]
            if len(self._buffer) < 3:
                return frames
            length = self._buffer[2]
            if len(self._buffer) < 4 + length:
                return frames
            body = bytes(self._buffer[1:3 + length])
            crc = self._buffer[3 + length]
            if crc8(body) != crc:
                del self._buffer[:1]
                raise ValueError(f"frame from the board has a bad checksum (type 0x{body[0]:02x}, "
                                 f"length {length}): the link is corrupted")
            del self._buffer[:4 + length]
            frames.append(Frame(body[0], body[2:]))

    @property
    def pending(self) -> int:
        """Bytes held that do not yet form a frame."""
        return len(self._buffer)


def encode_events(events) -> bytes:
    """Event records for STREAM_EVENTS / BATCH_LOAD.

    ``events`` is an iterable of ``(index, time)`` pairs or ``None`` for an end marker.
    """
    out = bytearray()
    for event in events:
        if event is None:
            out += struct.pack("<HB", 1 << 15, 0)
        else:
            index, time = int(event[0]), int(event[1])
            if not 0 <= index < (1 << 15) or not 0 <= time < 256:
                raise ValueError(f"event ({index}, {time}) cannot be encoded: index must be "
                                 f"0..32767 and time 0..255")
            out += struct.pack("<HB", index, time)
    return bytes(out)


def encode_synapse_entries(weights, masks) -> bytes:
    """u16 entries for WRITE_SYNAPSES: weight in bits 0..14, mask in bit 15."""
    out = bytearray()
    for weight, mask in zip(weights, masks):
        weight = int(weight)
        if not 0 <= weight < (1 << SYNAPSE_MASK_BIT):
            raise ValueError(f"weight {weight} cannot be encoded (0..32767)")
        out += struct.pack("<H", weight | (int(bool(mask)) << SYNAPSE_MASK_BIT))
    return bytes(out)


def decode_synapse_entries(payload: bytes):
    """``(weights, masks)`` lists from a READ_SYNAPSES reply."""
    values = struct.unpack(f"<{len(payload) // 2}H", payload)
    mask = (1 << SYNAPSE_MASK_BIT) - 1
    return [v & mask for v in values], [bool(v >> SYNAPSE_MASK_BIT) for v in values]


@dataclass(frozen=True)
class OutputBeat:
    """One output beat of the core: a spike ``(neuron, time)`` or (``end``) the sample's
    cycle count in ``cycles``."""
    neuron: int
    time: int
    end: bool
    cycles: int


def decode_output_records(payload: bytes) -> list[OutputBeat]:
    """Output records (EVENT frames, BATCH_READ replies)."""
    if len(payload) % OUTPUT_RECORD_BYTES:
        raise ValueError(f"output records must be {OUTPUT_RECORD_BYTES} bytes each, "
                         f"got {len(payload)} bytes")
    beats = []
    for k in range(0, len(payload), OUTPUT_RECORD_BYTES):
        flags, time, neuron = struct.unpack_from("<BBH", payload, k)
        cycles = int.from_bytes(payload[k + 4:k + 10], "little")
        beats.append(OutputBeat(neuron=neuron, time=time, end=bool(flags & 1), cycles=cycles))
    return beats


def encode_info(cfg, batch_events: int, batch_outputs: int) -> bytes:
    """The PING reply for a config (what the hardware sends, as bytes)."""
    return struct.pack(INFO_FORMAT, PROTOCOL_VERSION, cfg.n_inputs, cfg.n_neurons,
                       cfg.weight_bits, cfg.potential_bits, cfg.time_steps, cfg.lanes,
                       int(cfg.pruning), cfg.rate_frac_bits, cfg.fifo_depth, cfg.counter_bits,
                       batch_events, batch_outputs)


def decode_info(payload: bytes) -> dict:
    """The PING reply as a dict (config keys plus ``version``, ``batch_events``,
    ``batch_outputs``)."""
    if len(payload) != INFO_BYTES:
        raise ValueError(f"PING reply must be {INFO_BYTES} bytes, got {len(payload)}")
    keys = ("version", "n_inputs", "n_neurons", "weight_bits", "potential_bits",
            "time_steps", "lanes", "pruning", "rate_frac_bits", "fifo_depth", "counter_bits",
            "batch_events", "batch_outputs")
    info = dict(zip(keys, struct.unpack(INFO_FORMAT, payload)))
    info["pruning"] = bool(info["pruning"])
    return info
