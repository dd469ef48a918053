"""The simulated board as a transport: a UART model on the pins of the board top in
cocotb, driven from the host driver running in a :func:`cocotb.task.bridge` thread.

The driver is ordinary blocking code (the same that talks to a serial port); each
transport call blocks its thread with :func:`cocotb.task.resume` while the simulator runs
the UART model, so simulated time advances exactly as the wire would.  Import this module
only inside a cocotb test.
"""

from __future__ import annotations

import math

from cocotb import start_soon
from cocotb.simtime import get_sim_time
from cocotb.task import resume
from cocotb.triggers import Event, FallingEdge, First, Timer

from .transport import Transport

__all__ = ["CocotbUartTransport"]


class CocotbUartTransport(Transport):
    """8N1 UART model on ``rx`` (driven) and ``tx`` (sampled) of the simulated top.

    Args:
        rx, tx: the top's serial pins (cocotb handles).
        bit_time_ps: one bit period in picoseconds (``divisor * clock period``).
        latency: round-trip allowance in simulated seconds.

    Call :meth:`start` from the cocotb test before the bridge thread uses it.
    """

    def __init__(self, rx, tx, *, bit_time_ps: int, latency: float = 50e-6):
        self.rx, self.tx = rx, tx
        self.bit_time_ps = int(bit_time_ps)
        self.byte_time = 10 * self.bit_time_ps * 1e-12
        self.latency = latency
        self.name = "simulated board (cocotb)"
        self._received = bytearray()
        self._arrived = Event()
        self.bytes_sent = 0
        self.bytes_received = 0
        self.rx.value = 1

    def start(self):
        """Start the receiving side (a cocotb task sampling ``tx``)."""
        start_soon(self._receive_forever())

    async def _receive_forever(self):
        while True:
            await FallingEdge(self.tx)
            await Timer(self.bit_time_ps * 3 // 2, unit="ps")      # middle of data bit 0
            value = 0
            for k in range(8):
                value |= (int(self.tx.value) & 1) << k
                await Timer(self.bit_time_ps, unit="ps")
            # now in the middle of the stop bit
            if int(self.tx.value) != 1:
                raise AssertionError("framing error on the board's tx line")
            self._received.append(value)
            self.bytes_received += 1
            self._arrived.set()

    async def _send(self, data: bytes):
        for byte in data:
            for level in [0] + [(byte >> k) & 1 for k in range(8)] + [1]:
                self.rx.value = level
                await Timer(self.bit_time_ps, unit="ps")
        self.bytes_sent += len(data)

    async def _wait_bytes(self, timeout_ps: int) -> bytes:
        if not self._received and timeout_ps > 0:
            self._arrived.clear()
            await First(self._arrived.wait(), Timer(timeout_ps, unit="ps"))
        data = bytes(self._received)
        self._received.clear()
        return data

    def write(self, data: bytes) -> None:
        resume(self._send)(bytes(data))

    def read_some(self, timeout: float) -> bytes:
        # round up: an empty answer then means the deadline has really passed
        return resume(self._wait_bytes)(max(1, math.ceil(timeout * 1e12)))

    def now(self) -> float:
        return get_sim_time("ps") * 1e-12
