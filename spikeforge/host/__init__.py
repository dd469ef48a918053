"""Host side of the board link: wire format, transports and the board driver.

``spikeforge.host.protocol`` (frames, codes) is shared with the hardware
(``hw/host_protocol.py``); ``transport`` has the serial port and the transport base;
``sim_transport`` the cocotb UART model (import it only inside cocotb); ``driver`` the
:class:`~spikeforge.host.driver.Board` API; ``flow`` the learning/inference run of
``spikeforge run``; ``sim_board`` builds and runs the simulated board top.
"""

from .driver import BatchResult, Board, BoardError, SampleOutput
from .transport import LinkError, LinkTimeoutError, SerialTransport, Transport

__all__ = ["Board", "BoardError", "BatchResult", "SampleOutput", "Transport",
           "SerialTransport", "LinkError", "LinkTimeoutError"]
