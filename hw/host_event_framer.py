"""Output beats of the core as EVENT frame bodies (streaming mode of the host link)."""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig
from ..host.protocol import EVENT, OUTPUT_RECORD_BYTES
from .host_frame_tx import FRAME_BYTE
from .layouts import output_event_layout

__all__ = ["HostEventFramer", "output_record_bytes"]


def output_record_bytes(beat) -> list[Value]:
    """The wire bytes of one output beat (``spikeforge.host.protocol`` output record):
    flags (bit 0: end), time, neuron (u16), cycles (u48), little endian.  ``beat`` is a
    view of :func:`~spikeforge.hw.layouts.output_event_layout`."""
    neuron = Value.cast(beat.neuron)
    cycles = Value.cast(beat.cycles)
    neuron16 = neuron if len(neuron) >= 16 else neuron.as_unsigned() | Const(0, 16)
    cycles48 = cycles[:48] if len(cycles) >= 48 else cycles.as_unsigned() | Const(0, 48)
    time = Value.cast(beat.time)
    time8 = time[:8] if len(time) >= 8 else time | Const(0, 8)
    record = [Value.cast(beat.end) | Const(0, 8), time8, neuron16[0:8], neuron16[8:16]]
    record += [cycles48[8 * k:8 * k + 8] for k in range(6)]
    assert len(record) == OUTPUT_RECORD_BYTES
    return record


class HostEventFramer(wiring.Component):
    """Wraps each output beat of the core into an EVENT frame body
    (``EVENT, 10, record``) for :class:`~spikeforge.hw.host_frame_tx.FrameTransmitter`.

    Ports:
        beats: In(stream of output_event_layout(cfg)).
        frames: Out(stream of FRAME_BYTE).
    """

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {type(cfg).__name__}")
        self.cfg = cfg
        super().__init__({
            "beats": In(stream.Signature(output_event_layout(cfg))),
            "frames": Out(stream.Signature(FRAME_BYTE)),
        })

    def elaborate(self, platform):
        m = Module()
        body = [Const(EVENT, 8), Const(OUTPUT_RECORD_BYTES, 8)] + \
            output_record_bytes(self.beats.payload)
        index = Signal(range(len(body)))
        last = index == len(body) - 1
        m.d.comb += [
            self.frames.valid.eq(self.beats.valid),
            self.frames.payload.data.eq(Array(body)[index]),
            self.frames.payload.last.eq(last),
            self.beats.ready.eq(self.frames.ready & last),
        ]
        with m.If(self.frames.valid & self.frames.ready):
            m.d.sync += index.eq(index + 1)
            with m.If(last):
                m.d.sync += index.eq(0)
        return m
