"""Byte transports of the host link: a serial port, or the simulated board in cocotb.

A transport moves bytes and keeps time; it knows nothing of frames.  The driver
(:mod:`spikeforge.host.driver`) computes every deadline from :attr:`Transport.byte_time`
and :attr:`Transport.latency` and measures it with :meth:`Transport.now`, so the same
protocol code works in wall-clock time on a board and in simulated time in cocotb.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

from ..errors import UserError

__all__ = ["Transport", "SerialTransport", "LinkError", "LinkTimeoutError"]


class LinkError(UserError):
    """The link failed: the board answered with an error, or garbage."""


class LinkTimeoutError(LinkError):
    """The board did not answer in time (never raised for a hang: every wait has a
    deadline)."""


class Transport(ABC):
    """Moves bytes to and from the board.

    Attributes:
        byte_time: seconds one byte takes on the wire (10 bits at the baud rate).
        latency: seconds of fixed allowance for a round trip (USB packets, the board's
            processing); deadlines are ``latency + bytes * byte_time * margin``.
        name: what the error messages call this link.
    """

    byte_time: float = 0.0
    latency: float = 0.0
    name: str = "link"

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Send ``data`` (returns once it is on its way)."""

    @abstractmethod
    def read_some(self, timeout: float) -> bytes:
        """Bytes received so far, waiting at most ``timeout`` seconds for the first
        one; ``b""`` if none came."""

    @abstractmethod
    def now(self) -> float:
        """The transport's clock in seconds (wall clock, or simulated time)."""

    def close(self) -> None:
        """Release the link."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SerialTransport(Transport):
    """A serial port (pyserial), e.g. the FTDI USB UART of a ULX3S or ECPIX-5.

    Args:
        port: device name (``/dev/ttyUSB0``, ``COM3``) or a pyserial URL (``loop://``).
        baud: the baud rate the bitstream was generated for.
        latency: round-trip allowance in seconds (USB-serial adapters buffer for up to
            16 ms; the default leaves room for that).
    """

    def __init__(self, port: str, baud: int, *, latency: float = 0.25):
        try:
            import serial
        except ImportError:   # pragma: no cover - pyserial is a dependency
            raise UserError("the serial transport needs pyserial (pip install pyserial)") from None
        if isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0:
            raise UserError(f"baud rate must be a positive integer, not {baud!r}")
        self._serial_module = serial
        try:
            self._port = serial.serial_for_url(port, baudrate=baud, timeout=0.0,
                                               write_timeout=5.0)
        except (serial.SerialException, ValueError, OSError) as exc:
            raise UserError(f"cannot open serial port {port!r}: {exc}") from None
        self.byte_time = 10.0 / baud
        self.latency = latency
        self.name = f"serial port {port} at {baud} baud"

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except self._serial_module.SerialTimeoutException:
            raise LinkTimeoutError(f"{self.name}: writing {len(data)} bytes timed out "
                                   f"(is the port held by another program?)") from None
        except (self._serial_module.SerialException, OSError) as exc:
            raise LinkError(f"{self.name}: write failed: {exc}") from None

    def read_some(self, timeout: float) -> bytes:
        try:
            self._port.timeout = max(0.0, timeout)
            first = self._port.read(1)
            if not first:
                return b""
            self._port.timeout = 0.0
            return first + self._port.read(self._port.in_waiting or 0)
        except (self._serial_module.SerialException, OSError) as exc:
            raise LinkError(f"{self.name}: read failed: {exc}") from None

    def now(self) -> float:
        return time.monotonic()

    def close(self) -> None:
        self._port.close()
