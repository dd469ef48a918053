"""UART transmitter and receiver (hw/uart_tx.py, hw/uart_rx.py) against a reference
bit serialiser, in amaranth.sim."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from spikeforge.hw.uart_rx import UARTReceiver
from spikeforge.hw.uart_tx import MIN_DIVISOR, UARTTransmitter, baud_divisor


def reference_bits(byte: int) -> list[int]:
    """8N1 line levels of one byte, one entry per bit period: start, LSB..MSB, stop."""
    return [0] + [(byte >> k) & 1 for k in range(8)] + [1]


def test_baud_divisor_accepts_and_rejects():
    assert baud_divisor(48_000_000, 3_000_000) == 16
    assert baud_divisor(25_000_000, 115_200) == 217          # 0.03 % off
    with pytest.raises(ValueError, match="too high.*at least 4"):
        baud_divisor(10_000_000, 3_000_000)
    with pytest.raises(ValueError, match="% off"):
        baud_divisor(25_000_000, 3_000_000)                  # 8.33 cycles: 4 % off
    with pytest.raises(ValueError, match="positive"):
        baud_divisor(25_000_000, 0)
    with pytest.raises(ValueError, match="too high"):
        UARTTransmitter(clk_freq=1_000_000, baud=500_000)


@pytest.mark.parametrize("divisor", [MIN_DIVISOR, 7])
def test_transmitter_matches_reference(divisor):
    rng = np.random.default_rng(divisor)
    payload = [int(b) for b in rng.integers(0, 256, 12)] + [0x00, 0xFF, 0xA5]
    dut = UARTTransmitter(clk_freq=divisor * 1_000_000, baud=1_000_000)
    assert dut.divisor == divisor
    line = []

    async def feed(ctx):
        for k, byte in enumerate(payload):
            if k == 5:                       # a pause between bytes: the line idles high
                await ctx.tick().repeat(3 * divisor)
            ctx.set(dut.data.payload, byte)
            ctx.set(dut.data.valid, 1)
            await ctx.tick().until(dut.data.ready)
            ctx.set(dut.data.valid, 0)

    async def watch(ctx):
        async for _, _, tx in ctx.tick().sample(dut.tx):
            line.append(tx)

    sim = Simulator(dut)
    sim.add_clock(1e-6 / divisor)
    sim.add_testbench(feed)
    sim.add_process(watch)
    sim.run_until(1e-6 * (len(payload) * 10 + 10))

    # decode the recorded line with the reference framing: every bit exactly `divisor`
    # cycles long, bytes back to back except after the pause
    decoded, k = [], 0
    while k < len(line):
        if line[k] == 0:
            bits = [line[k + divisor * j + divisor // 2] for j in range(10)]
            assert bits[0] == 0 and bits[9] == 1, f"bad frame at cycle {k}"
            # each bit is held for exactly `divisor` cycles
            for j in range(10):
                segment = line[k + divisor * j:k + divisor * (j + 1)]
                assert len(set(segment)) == 1, f"bit {j} of the frame at {k} is not stable"
            byte = sum(b << j for j, b in enumerate(bits[1:9]))
            assert bits == reference_bits(byte)
            decoded.append(byte)
            k += 10 * divisor
        else:
            k += 1
    assert decoded == payload
    # back-to-back bytes take exactly 10 bit periods: the first 5 frames are contiguous
    first = line.index(0)
    assert line[first + 10 * divisor] == 0


@pytest.mark.parametrize("divisor,skew", [(4, 0), (8, 0), (16, 0), (32, +1), (32, -1)])
def test_receiver_decodes_reference(divisor, skew):
    """The far end's bit period may be a cycle off (3 % at divisor 32)."""
    rng = np.random.default_rng(100 + divisor)
    payload = [int(b) for b in rng.integers(0, 256, 10)] + [0x00, 0xFF]
    dut = UARTReceiver(clk_freq=divisor * 1_000_000, baud=1_000_000)
    received, errors = [], []

    async def drive(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(5)
        for byte in payload:
            for bit in reference_bits(byte):
                ctx.set(dut.rx, bit)
                await ctx.tick().repeat(divisor + skew)
        # a frame whose stop bit is 0: framing error, no byte
        for bit in reference_bits(0x55)[:-1] + [0]:
            ctx.set(dut.rx, bit)
            await ctx.tick().repeat(divisor)
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(4 * divisor)

    async def collect(ctx):
        ctx.set(dut.data.ready, 1)
        async for _, _, valid, data, ferr in ctx.tick().sample(
                dut.data.valid, dut.data.payload, dut.framing_error):
            if valid:
                received.append(data)
            if ferr:
                errors.append(1)

    sim = Simulator(dut)
    sim.add_clock(1e-6 / divisor)
    sim.add_testbench(drive)
    sim.add_process(collect)
    sim.run_until(1e-6 * (len(payload) + 3) * 12)
    assert received == payload
    assert errors == [1]


def test_receiver_reports_overrun_and_ignores_glitch():
    divisor = 8
    dut = UARTReceiver(clk_freq=8_000_000, baud=1_000_000)
    received, overruns = [], []

    async def drive(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(4)
        ctx.set(dut.rx, 0)                     # a glitch of 2 cycles: not a start bit
        await ctx.tick().repeat(2)
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(2 * divisor)
        for byte in (0x12, 0x34):              # nobody reads: the second byte is lost
            for bit in reference_bits(byte):
                ctx.set(dut.rx, bit)
                await ctx.tick().repeat(divisor)
        await ctx.tick().repeat(2 * divisor)

    async def collect(ctx):
        async for _, _, valid, data, overrun in ctx.tick().sample(
                dut.data.valid, dut.data.payload, dut.overrun):
            if overrun:
                overruns.append(1)
            received.append((valid, data))

    sim = Simulator(dut)
    sim.add_clock(1e-6 / divisor)
    sim.add_testbench(drive)
    sim.add_process(collect)
    sim.run_until(1e-6 * 26)
    assert overruns == [1]
    valid_data = {d for v, d in received if v}
    assert valid_data == {0x12, 0x34}         # the held byte was replaced by the newer one
