"""Host driver of the board: the protocol of :mod:`spikeforge.host.protocol` over any
:class:`~spikeforge.host.transport.Transport`.

The same code runs against a board (serial port) and against the simulated board top
(cocotb, :mod:`spikeforge.host.sim_transport`).  Every wait has a deadline computed
from the transport's byte time, so a dead link raises
:class:`~spikeforge.host.transport.LinkTimeoutError` instead of hanging.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from ..config import CoreConfig, CoreRegisters
from ..errors import UserError
from . import protocol as P
from .transport import LinkError, LinkTimeoutError, Transport

__all__ = ["Board", "BoardError", "SampleOutput", "BatchResult", "COUNTER_NAMES"]

COUNTER_NAMES = tuple(P.Reg.COUNTERS)
_MARGIN = 3.0        # deadlines allow this many times the wire time


class BoardError(LinkError):
    """The board refused a command with an ERROR reply (``code``, ``command``)."""

    def __init__(self, code: int, command: int):
        self.code, self.command = code, command
        name = P.Command.NAMES.get(command, f"0x{command:02x}")
        reason = P.ErrorCode.NAMES.get(code, f"error {code}")
        super().__init__(f"the board refused {name}: {reason}")


@dataclass
class SampleOutput:
    """What the core answered to one sample: its spikes ``(neuron, time)`` in order and
    the end beat's cycle count."""
    spikes: list = field(default_factory=list)
    cycles: int = 0


@dataclass
class BatchResult:
    """Outputs of the samples of one or more batch runs and the on-chip run time."""
    samples: list = field(default_factory=list)      # SampleOutput per sample
    run_cycles: int = 0                              # sum of Reg.BATCH_CYCLES over the runs
    runs: int = 0
    link_seconds: float = 0.0                        # transport time spent in the call


class Board:
    """A board (or simulated board) running the spikeforge core with its host link.

    Args:
        transport: the byte link.
    """

    def __init__(self, transport: Transport):
        self.transport = transport
        self._decoder = P.FrameDecoder()
        self._frames: list[P.Frame] = []
        self.events: list[P.OutputBeat] = []          # EVENT frames not yet consumed
        self.info: dict | None = None
        self._last_timeout = 0.0

    # ------------------------------------------------------------------ framing
    def _deadline(self, wire_bytes: int) -> float:
        t = self.transport
        self._last_timeout = t.latency + _MARGIN * wire_bytes * t.byte_time
        return t.now() + self._last_timeout

    def _next_frame(self, deadline: float, waiting_for: str) -> P.Frame:
        while not self._frames:
            remaining = deadline - self.transport.now()
            chunk = self.transport.read_some(remaining) if remaining > 0 else b""
            if not chunk:
                # a read that returns nothing has waited until the deadline (a transport
                # may return early; the 1 us slack absorbs clock rounding)
                if self.transport.now() >= deadline - 1e-6:
                    raise LinkTimeoutError(
                        f"no {waiting_for} from the {self.transport.name} within "
                        f"{self._last_timeout * 1e3:.3g} ms: check that the board is programmed "
                        f"with a spikeforge host-link bitstream for this config, and the port "
                        f"and baud rate")
                continue
            try:
                self._frames += self._decoder.feed(chunk)
            except ValueError as exc:
                raise LinkError(f"{self.transport.name}: {exc}") from None
        return self._frames.pop(0)

    def command(self, command: int, payload: bytes = b"", reply_bytes: int = 0,
                extra_bytes: int = 0) -> bytes:
        """Send one command and return the payload of its OK reply.

        ``reply_bytes`` (expected reply payload) and ``extra_bytes`` (EVENT frames that
        may arrive first) size the deadline.  Raises :class:`BoardError` on an ERROR
        reply and :class:`LinkTimeoutError` when no reply comes.
        """
        frame = P.encode_frame(command, payload)
        deadline = self._deadline(len(frame) + reply_bytes + 4 + extra_bytes)
        self.transport.write(frame)
        name = P.Command.NAMES.get(command, f"command 0x{command:02x}")
        while True:
            reply = self._next_frame(deadline, f"reply to {name}")
            if reply.type == P.EVENT:
                self.events += P.decode_output_records(reply.payload)
                continue
            if reply.type == P.ERROR:
                code, cmd = (tuple(reply.payload) + (0, 0))[:2]
                raise BoardError(code, cmd)
            if reply.type != (P.REPLY_FLAG | command):
                raise LinkError(f"{self.transport.name}: expected the reply to {name}, got "
                                f"frame type 0x{reply.type:02x}")
            return reply.payload

    def raw_exchange(self, data: bytes, wire_bytes: int = 16) -> P.Frame:
        """Send arbitrary bytes (tests of malformed frames) and return the next
        non-EVENT frame."""
        deadline = self._deadline(len(data) + wire_bytes)
        self.transport.write(data)
        while True:
            frame = self._next_frame(deadline, "reply")
            if frame.type != P.EVENT:
                return frame
            self.events += P.decode_output_records(frame.payload)

    # ------------------------------------------------------------------ basics
    def ping(self) -> dict:
        """The board's generation parameters (:func:`protocol.decode_info`)."""
        self.info = P.decode_info(self.command(P.Command.PING, reply_bytes=P.INFO_BYTES))
        return self.info

    def check_config(self, cfg: CoreConfig) -> dict:
        """PING and check that the board was generated for ``cfg``."""
        info = self.ping()
        if info["version"] != P.PROTOCOL_VERSION:
            raise UserError(f"the board speaks host-link protocol {info['version']}, this "
                            f"driver {P.PROTOCOL_VERSION}: rebuild the bitstream")
        wrong = [f"{key}: board {info[key]}, config {getattr(cfg, key)}"
                 for key in ("n_inputs", "n_neurons", "weight_bits", "potential_bits",
                             "time_steps", "lanes", "pruning", "rate_frac_bits",
                             "fifo_depth", "counter_bits")
                 if info[key] != getattr(cfg, key)]
        if wrong:
            raise UserError("the board was built for another config (" + "; ".join(wrong) +
                            "): use the same --config/--set as for the build")
        return info

    def write_register(self, reg: int, value: int) -> None:
        self.command(P.Command.WRITE_REG, struct.pack("<BI", reg, int(value)))

    def read_registers(self, regs) -> list[int]:
        regs = list(regs)
        values = []
        for k in range(0, len(regs), P.MAX_REGS_PER_READ):
            part = regs[k:k + P.MAX_REGS_PER_READ]
            payload = self.command(P.Command.READ_REGS, bytes(part), reply_bytes=8 * len(part))
            values += struct.unpack(f"<{len(part)}Q", payload)
        return values

    def set_registers(self, regs: CoreRegisters) -> None:
        for name, reg in P.Reg.REGISTERS.items():
            self.write_register(reg, int(getattr(regs, name)))

    def read_counters(self) -> dict:
        values = self.read_registers(P.Reg.COUNTERS.values())
        return dict(zip(P.Reg.COUNTERS, values))

    def clear_counters(self) -> None:
        self.write_register(P.Reg.COUNTERS_CLEAR, 1)

    def status(self) -> dict:
        status, loaded, outputs, overflow, cycles, errors = self.read_registers(
            [P.Reg.STATUS, P.Reg.BATCH_LOADED, P.Reg.BATCH_OUTPUTS, P.Reg.BATCH_OVERFLOW,
             P.Reg.BATCH_CYCLES, P.Reg.LINK_ERRORS])
        return {"core_busy": bool(status & 1), "batch_running": bool(status & 2),
                "batch_loaded": loaded, "batch_outputs": outputs, "batch_overflow": overflow,
                "batch_cycles": cycles, "link_errors": errors}

    # ------------------------------------------------------------------ synapses
    def write_weights(self, weights, mask=None) -> None:
        """Load the whole weight matrix ``(n_inputs, n_neurons)`` and its mask."""
        weights = np.asarray(weights)
        mask = np.ones(weights.shape, dtype=bool) if mask is None else np.asarray(mask, bool)
        for i in range(weights.shape[0]):
            for j0 in range(0, weights.shape[1], P.MAX_SYNAPSES_PER_WRITE):
                j1 = min(weights.shape[1], j0 + P.MAX_SYNAPSES_PER_WRITE)
                entries = P.encode_synapse_entries(weights[i, j0:j1], mask[i, j0:j1])
                self.command(P.Command.WRITE_SYNAPSES, struct.pack("<HH", i, j0) + entries)

    def read_weights(self, n_inputs: int, n_neurons: int):
        """Read back ``(weights int64, mask bool)`` of shape ``(n_inputs, n_neurons)``."""
        weights = np.zeros((n_inputs, n_neurons), dtype=np.int64)
        mask = np.zeros((n_inputs, n_neurons), dtype=bool)
        for i in range(n_inputs):
            for j0 in range(0, n_neurons, P.MAX_SYNAPSES_PER_READ):
                count = min(n_neurons - j0, P.MAX_SYNAPSES_PER_READ)
                payload = self.command(P.Command.READ_SYNAPSES,
                                       struct.pack("<HHB", i, j0, count), reply_bytes=2 * count)
                w, k = P.decode_synapse_entries(payload)
                weights[i, j0:j0 + count] = w
                mask[i, j0:j0 + count] = k
        return weights, mask

    # ------------------------------------------------------------------ streaming mode
    def stream_sample(self, events) -> SampleOutput:
        """Send one sample's events (``(k, 2)`` of ``(index, time)``) and its end marker
        over the link and collect the output beats as they come back (EVENT frames)."""
        beats = [tuple(map(int, e)) for e in np.asarray(events).reshape(-1, 2)] + [None]
        for k in range(0, len(beats), P.MAX_EVENTS_PER_FRAME):
            part = beats[k:k + P.MAX_EVENTS_PER_FRAME]
            self.command(P.Command.STREAM_EVENTS, P.encode_events(part),
                         extra_bytes=(len(part) + 1) * (P.OUTPUT_RECORD_BYTES + 4))
        n_neurons = self.info["n_neurons"] if self.info else 1024
        deadline = self._deadline((n_neurons + 1) * (P.OUTPUT_RECORD_BYTES + 4))
        output = SampleOutput()
        while True:
            while self.events:
                beat = self.events.pop(0)
                if beat.end:
                    output.cycles = beat.cycles
                    return output
                output.spikes.append((beat.neuron, beat.time))
            frame = self._next_frame(deadline, "end beat of the streamed sample")
            if frame.type != P.EVENT:
                raise LinkError(f"{self.transport.name}: unexpected frame 0x{frame.type:02x} "
                                f"while waiting for output events")
            self.events += P.decode_output_records(frame.payload)

    # ------------------------------------------------------------------ batch mode
    def run_batch(self, samples, *, learn: bool, timeout: float | None = None) -> BatchResult:
        """Run ``samples`` (list of ``(k, 2)`` event arrays) on chip in batch mode.

        Samples are packed into as few runs as the batch memories allow (input beats
        including end markers; output beats counted for the worst case: every neuron
        fires in inference, one winner in learning).  ``timeout`` bounds each run in the
        transport's seconds (default: the transport's ``batch_timeout`` or 10 s).
        """
        info = self.info or self.ping()
        capacity_in, capacity_out = info["batch_events"], info["batch_outputs"]
        worst_out = 2 if learn else info["n_neurons"] + 1
        if worst_out > capacity_out:
            raise UserError(f"the board's batch output memory ({capacity_out} beats) cannot "
                            f"hold one inference sample ({worst_out} beats): rebuild with a "
                            f"larger batch_outputs")
        if timeout is None:
            timeout = getattr(self.transport, "batch_timeout", 10.0)
        result = BatchResult()
        started = self.transport.now()
        chunk: list = []
        used_in = used_out = 0
        samples = [np.asarray(s, dtype=np.int64).reshape(-1, 2) for s in samples]
        for sample in samples:
            need_in = len(sample) + 1
            if need_in > capacity_in:
                raise UserError(f"a sample of {len(sample)} events does not fit the board's "
                                f"batch memory ({capacity_in} beats)")
            if used_in + need_in > capacity_in or used_out + worst_out > capacity_out:
                self._run_chunk(chunk, timeout, result)
                chunk, used_in, used_out = [], 0, 0
            chunk.append(sample)
            used_in += need_in
            used_out += worst_out
        if chunk:
            self._run_chunk(chunk, timeout, result)
        result.link_seconds = self.transport.now() - started
        return result

    def _run_chunk(self, samples, timeout: float, result: BatchResult) -> None:
        self.command(P.Command.BATCH_CLEAR)
        beats = [b for s in samples for b in [tuple(e) for e in s.tolist()] + [None]]
        for k in range(0, len(beats), P.MAX_EVENTS_PER_FRAME):
            self.command(P.Command.BATCH_LOAD, P.encode_events(beats[k:k + P.MAX_EVENTS_PER_FRAME]))
        self.command(P.Command.BATCH_RUN)
        deadline = self.transport.now() + timeout
        while True:
            status = self.status()
            if not status["batch_running"]:
                break
            if self.transport.now() > deadline:
                raise LinkTimeoutError(f"the batch run did not finish within {timeout:g} s on "
                                       f"the {self.transport.name}")
        if status["batch_overflow"]:
            raise LinkError(f"the batch output memory overflowed ({status['batch_overflow']} "
                            f"beats lost)")
        beats_out: list[P.OutputBeat] = []
        total = status["batch_outputs"]
        for start in range(0, total, P.MAX_OUTPUTS_PER_READ):
            count = min(P.MAX_OUTPUTS_PER_READ, total - start)
            payload = self.command(P.Command.BATCH_READ, struct.pack("<HB", start, count),
                                   reply_bytes=count * P.OUTPUT_RECORD_BYTES)
            beats_out += P.decode_output_records(payload)
        current = SampleOutput()
        outputs = []
        for beat in beats_out:
            if beat.end:
                current.cycles = beat.cycles
                outputs.append(current)
                current = SampleOutput()
            else:
                current.spikes.append((beat.neuron, beat.time))
        if len(outputs) != len(samples):
            raise LinkError(f"the batch run returned {len(outputs)} end beats for "
                            f"{len(samples)} samples")
        result.samples += outputs
        result.run_cycles += status["batch_cycles"]
        result.runs += 1
