"""The one configuration object of spikeforge.

:class:`CoreConfig` is the single source of widths, depths and rates for ``hw/``,
``golden/``, ``sim/`` and ``boards/``.  It holds *generation* parameters only: values
that change the generated hardware.  Values that can change at run time (firing
threshold, pruning threshold, STDP rates, prune enable, mode) are registers and live
in :class:`CoreRegisters`.

Configs come from TOML files (a ``[core]`` table, or top-level keys) and can be
overridden on every command with ``--set key=value``.  Every check raises
:class:`ConfigError` with a message that says what is wrong and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable

from .errors import UserError

__all__ = [
    "ConfigError", "CoreConfig", "CoreRegisters", "load_config", "apply_overrides",
    "DEFAULT_CONFIG_PATH",
]

DEFAULT_CONFIG_PATH = Path(__file__).with_name("configs") / "default.toml"


class ConfigError(UserError, ValueError):
    """A configuration value is invalid; the message says what is allowed."""


def _bits_for(count: int) -> int:
    """Bits needed to hold the values 0 .. count-1 (at least 1)."""
    return max(1, (count - 1).bit_length())


_LIMITS = {
    # name: (lowest, highest) inclusive
    "n_inputs": (1, 4096),
    "n_neurons": (1, 1024),
    "weight_bits": (2, 12),
    "potential_bits": (4, 32),
    "time_steps": (2, 256),
    "rate_frac_bits": (4, 16),
    "fifo_depth": (2, 64),
    "counter_bits": (16, 48),
}
_ALLOWED_LANES = (1, 2, 4, 8, 16)

# Micro-architecture constants shared by the core (hw/) and its cycle-exact model
# (golden/core_model.py); docs/core.md, "Steps overlap".
#: time steps that may wait to be closed behind the front end: inference closes them in
#: order and only emits their spikes; learning finds a winner on end-of-step
#: potentials, for which the lanes keep a snapshot of one step only
PENDING_STEPS_INFER = 2
PENDING_STEPS_LEARN = 1
#: lane entries carry their step's epoch, counted modulo this (2 bits): the open step
#: and up to two pending ones must be told apart
STEP_EPOCHS = 4


@dataclass(frozen=True)
class CoreConfig:
    """Generation parameters of the TTFS layer core (a fully connected layer).

    Attributes:
        n_inputs: number of input lines (pre-synaptic neurons).
        n_neurons: number of integrate-and-fire neurons.
        weight_bits: weight width; weights are unsigned integers in [0, w_max],
            w_max = 2**weight_bits - 1, standing for the real interval [0, 1].
        potential_bits: membrane-potential width; potentials saturate at
            2**potential_bits - 1.
        time_steps: number of time steps T of the latency code (event times 0..T-1).
        lanes: synapses processed per cycle; neuron j belongs to lane j % lanes.
        pruning: generate the pruning unit (masks, skip logic, prune compare).  With
            False the pruning hardware is left out entirely.
        rate_frac_bits: fractional bits of the STDP rate registers a+ and a-.
        fifo_depth: depth of each lane's event queue (power of two).
        counter_bits: width of the statistics counters (they wrap).
    """

    n_inputs: int = 256
    n_neurons: int = 32
    weight_bits: int = 8
    potential_bits: int = 16
    time_steps: int = 16
    lanes: int = 4
    pruning: bool = True
    rate_frac_bits: int = 12
    fifo_depth: int = 8
    counter_bits: int = 32

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("bool", bool):
                if not isinstance(value, bool):
                    raise ConfigError(f"{f.name} must be true or false, not {value!r}")
            elif not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"{f.name} must be an integer, not {value!r}")
        for name, (lo, hi) in _LIMITS.items():
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise ConfigError(f"{name} = {value} is out of range: allowed {lo} to {hi}")
        if self.lanes not in _ALLOWED_LANES:
            raise ConfigError(f"lanes = {self.lanes} is not allowed: use one of "
                              f"{', '.join(map(str, _ALLOWED_LANES))}")
        if self.lanes > self.n_neurons:
            raise ConfigError(f"lanes = {self.lanes} exceeds n_neurons = {self.n_neurons}: "
                              f"each lane owns neurons j with j % lanes == lane, so lanes must "
                              f"be at most n_neurons")
        if self.fifo_depth & (self.fifo_depth - 1):
            raise ConfigError(f"fifo_depth = {self.fifo_depth} must be a power of two")
        if self.potential_bits <= self.weight_bits:
            raise ConfigError(f"potential_bits = {self.potential_bits} must exceed weight_bits = "
                              f"{self.weight_bits} (a potential must hold at least one full weight "
                              f"plus one bit)")

    # ---- derived quantities (the hardware and every model use these) ----
    @property
    def w_max(self) -> int:
        """Largest weight value, standing for 1.0."""
        return (1 << self.weight_bits) - 1

    @property
    def potential_max(self) -> int:
        """Saturation value of a membrane potential."""
        return (1 << self.potential_bits) - 1

    @property
    def input_index_bits(self) -> int:
        return _bits_for(self.n_inputs)

    @property
    def neuron_index_bits(self) -> int:
        return _bits_for(self.n_neurons)

    @property
    def time_bits(self) -> int:
        return _bits_for(self.time_steps)

    @property
    def slots_per_lane(self) -> int:
        """Neuron slots per lane: lane k holds neurons k, k+lanes, k+2*lanes, ..."""
        return math.ceil(self.n_neurons / self.lanes)

    @property
    def rows_per_bank(self) -> int:
        """Input rows per row bank: each lane splits its synapses into ``lanes`` banks by
        ``input % lanes`` so that STDP can update ``lanes`` synapses of one neuron per
        cycle (row ``i`` is entry ``i // lanes`` of bank ``i % lanes``)."""
        return math.ceil(self.n_inputs / self.lanes)

    @property
    def colmask_word_bits(self) -> int:
        """Width of a column-mask word (STDP scans one word per bank at a time)."""
        return min(32, self.rows_per_bank)

    @property
    def colmask_words(self) -> int:
        """Column-mask words per neuron and bank."""
        return math.ceil(self.rows_per_bank / self.colmask_word_bits)

    @property
    def rate_max(self) -> float:
        return ((1 << self.rate_frac_bits) - 1) / (1 << self.rate_frac_bits)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        lines = ["[core]"]
        for key, value in self.to_dict().items():
            lines.append(f"{key} = {str(value).lower() if isinstance(value, bool) else value}")
        return "\n".join(lines) + "\n"

    def replace(self, **changes) -> "CoreConfig":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class CoreRegisters:
    """Run-time registers of the core (not generation parameters).

    All values are integers in the hardware's units:
        threshold: a neuron fires when its potential is strictly greater.
        theta_p: pruning threshold in weight units; after an STDP write-back a weight
            below theta_p is set to 0 and its mask bit cleared (0 disables pruning).
        a_plus, a_minus: STDP rate magnitudes with ``rate_frac_bits`` fractional bits
            (a- is applied as a depression: the sign is fixed by the hardware).
        prune_enable: apply the pruning rule (only meaningful with pruning=True).
        learn: 0 = inference, 1 = learning (winner-take-all + STDP).
    """

    threshold: int = 200
    theta_p: int = 13
    a_plus: int = 16
    a_minus: int = 12
    prune_enable: bool = True
    learn: bool = False

    def validate(self, cfg: CoreConfig) -> "CoreRegisters":
        checks = [
            ("threshold", 0, cfg.potential_max),
            ("theta_p", 0, cfg.w_max),
            ("a_plus", 0, (1 << cfg.rate_frac_bits) - 1),
            ("a_minus", 0, (1 << cfg.rate_frac_bits) - 1),
        ]
        for name, lo, hi in checks:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                raise ConfigError(f"register {name} = {value!r} is out of range: allowed "
                                  f"{lo} to {hi} for this config")
        return self

    @classmethod
    def from_floats(cls, cfg: CoreConfig, *, threshold: int, theta_p: float, a_plus: float,
                    a_minus: float, prune_enable: bool = True, learn: bool = False):
        """Registers from real-valued pruning threshold (fraction of w_max) and rates."""
        for name, value in (("theta_p", theta_p), ("a_plus", a_plus), ("a_minus", a_minus)):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} = {value} is out of range: allowed 0.0 to 1.0")
        scale = 1 << cfg.rate_frac_bits
        return cls(threshold=threshold, theta_p=round(theta_p * cfg.w_max),
                   a_plus=min(scale - 1, round(a_plus * scale)),
                   a_minus=min(scale - 1, round(abs(a_minus) * scale)),
                   prune_enable=prune_enable, learn=learn).validate(cfg)


def _parse_value(key: str, text: str, target_type) -> Any:
    text = text.strip()
    if target_type in ("bool", bool):
        low = text.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"--set {key}={text}: expected true or false")
    try:
        return int(text, 0)
    except ValueError:
        raise ConfigError(f"--set {key}={text}: expected an integer") from None


def apply_overrides(cfg: CoreConfig, overrides: Iterable[str]) -> CoreConfig:
    """Apply ``key=value`` strings (from ``--set``) to a config."""
    types = {f.name: f.type for f in fields(CoreConfig)}
    changes = {}
    for item in overrides or ():
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, text = item.split("=", 1)
        key = key.strip()
        if key.startswith("core."):
            key = key[5:]
        if key not in types:
            raise ConfigError(f"--set {key}: unknown key; allowed keys: {', '.join(types)}")
        changes[key] = _parse_value(key, text, types[key])
    return dataclasses.replace(cfg, **changes)


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> CoreConfig:
    """Load a config from TOML (``None``: the embedded default) and apply overrides."""
    path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    table = data.get("core", data)
    if not isinstance(table, dict):
        raise ConfigError(f"config file {str(path)!r}: [core] must be a table")
    known = {f.name for f in fields(CoreConfig)}
    unknown = sorted(k for k in table if k not in known and not isinstance(table[k], dict))
    if unknown:
        raise ConfigError(f"config file {str(path)!r}: unknown key(s) {', '.join(unknown)}; "
                          f"allowed keys: {', '.join(sorted(known))}")
    cfg = CoreConfig(**{k: v for k, v in table.items() if k in known})
    return apply_overrides(cfg, overrides)
