"""Data layouts of the core's stream payloads, defined once from the config.

Amaranth packs a struct with the first field in the low bits; testbenches and the host
link pack and unpack with these same layouts (never with hand-written bit offsets).
"""

from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from ..config import CoreConfig

__all__ = ["input_event_layout", "output_event_layout", "access_command_layout",
           "access_response_layout", "core_control_members"]


def input_event_layout(cfg: CoreConfig) -> data.StructLayout:
    """An input spike ``(index, time)``; ``end=1`` marks the end of the sample."""
    return data.StructLayout({
        "index": cfg.input_index_bits,
        "time": cfg.time_bits,
        "end": 1,
    })


def output_event_layout(cfg: CoreConfig) -> data.StructLayout:
    """An output spike ``(neuron, time)``, or (``end=1``) the sample's cycle count."""
    return data.StructLayout({
        "neuron": cfg.neuron_index_bits,
        "time": cfg.time_bits,
        "end": 1,
        "cycles": cfg.counter_bits,
    })


def access_command_layout(cfg: CoreConfig) -> data.StructLayout:
    """Load (``write=1``) or read back one synapse (``input``, ``neuron``)."""
    return data.StructLayout({
        "write": 1,
        "input": cfg.input_index_bits,
        "neuron": cfg.neuron_index_bits,
        "weight": cfg.weight_bits,
        "mask": 1,
    })


def access_response_layout(cfg: CoreConfig) -> data.StructLayout:
    """The answer to a read command."""
    return data.StructLayout({
        "weight": cfg.weight_bits,
        "mask": 1,
    })


def core_control_members(cfg: CoreConfig, init: dict) -> dict:
    """The core's register and status ports as a controller (the host link) sees them:
    registers it drives (``Out``, reset to ``init[name]``), counters and ``busy`` it
    reads (``In``).  One definition for every component that controls a core."""
    counter = cfg.counter_bits
    return {
        "threshold": Out(cfg.potential_bits, init=init["threshold"]),
        "theta_p": Out(cfg.weight_bits, init=init["theta_p"]),
        "a_plus": Out(cfg.rate_frac_bits, init=init["a_plus"]),
        "a_minus": Out(cfg.rate_frac_bits, init=init["a_minus"]),
        "prune_enable": Out(1, init=init["prune_enable"]),
        "learn": Out(1, init=init["learn"]),
        "counters_clear": Out(1),
        "cnt_cycles": In(counter), "cnt_syn_ops": In(counter),
        "cnt_stdp_updates": In(counter), "cnt_pruned": In(counter),
        "cnt_dropped": In(counter), "cnt_samples": In(counter),
        "busy": In(1),
    }
