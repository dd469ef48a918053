"""The digits workload of the core: images -> input events, registers, initial weights.

``spikeforge compare`` and ``spikeforge demo`` run this workload on the unpruned and the
pruned core.  Everything is drawn from one seed, so the RTL simulation (in the cocotb
process) and the golden model on the host see the very same samples.

Encoding (documented choice)
----------------------------
scikit-learn's bundled 8x8 digits are upscaled to ``s x s`` and encoded with the
network's encoder (:func:`spikeforge.golden.encoding.encode_images`: 7x7 DoG, sigma 1/2,
threshold, local normalisation, rank-order latency code over ``cfg.time_steps`` steps).
The encoded image must fill the core's ``n_inputs`` exactly:

* ``n_inputs == 2*s*s``: both the on-centre and the off-centre map of an ``s x s``
  image (input ``c*s*s + y*s + x``);
* otherwise ``n_inputs == s*s``: the on-centre map only (the digits are bright strokes on
  a dark ground, so on-centre cells carry the strokes).  The default core
  (``n_inputs = 256``) gets the on-centre map of a 16 x 16 image: ~100 events per sample.

Any other ``n_inputs`` is refused with a message listing the sizes that fit.

Sets (from the seed's stratified split of :func:`golden.datasets.load_digits`):
``learn`` = the first ``n_learn`` images of the training split (unsupervised STDP);
``train`` = the first ``n_train`` images of the training split (readout training);
``test`` = the first ``n_test`` images of the test split (readout evaluation; the
inference samples run in RTL are the first ``samples_infer`` of these).

Registers (documented choice, see docs/compare.md)
---------------------------------------------------
A short learning run must converge far enough for pruning to bite, so the STDP rates are
large compared with the paper's start (0.004, for runs of thousands of images) and the
initial weights start at ``N(w_init_mean, 0.05)``.  ``threshold`` is a fraction of the
potential a typical sample brings (mean events x mean initial weight) so that the winner
fires part-way through the sample; ``theta_p`` is a fraction of ``w_max``; pruning starts
after ``prune_start`` learning samples (``prune_enable`` is 0 before).

:data:`DEFAULT_SCHEDULE` was chosen on a validation split of the training pool (never on
the test images) with the cycle-exact golden model; docs/compare.md ("The learning
schedule") has the search, the figures and the command.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .config import CoreConfig, CoreRegisters
from .errors import UserError

__all__ = ["LearningSchedule", "DigitsWorkload", "make_digits_workload", "image_side",
           "times_to_events", "load_workload", "DEFAULT_SCHEDULE", "schedule_figures",
           "output_latency_features"]


def _check_fraction(name: str, value, alternative: str = "") -> None:
    """A schedule fraction must be a real number in [0, 1] (NaN and bool refused)."""
    if (not isinstance(value, (int, float)) or isinstance(value, bool)
            or not 0.0 <= value <= 1.0):   # NaN fails the comparison too
        raise UserError(f"schedule {name} = {value!r}: allowed 0.0 to 1.0{alternative}")


@dataclass(frozen=True)
class LearningSchedule:
    """How the registers are chosen for the workload (all fractions are of full scale).

    Attributes:
        threshold_fraction: firing threshold as a fraction of the mean final potential
            of a sample with the initial weights (mean events x mean initial weight).
        infer_threshold_fraction: the same for inference (None: same register value).
        theta_p: pruning threshold as a fraction of ``w_max``.
        a_plus, a_minus: STDP rate magnitudes (fractions; quantized to rate_frac_bits).
        rate_double_every: double a+ and a- every this many learning samples (0: never),
            capped at ``a_plus_max`` / ``a_minus_max``: the paper's schedule shape.
        a_plus_max, a_minus_max: caps of the schedule.
        prune_start: learning samples before ``prune_enable`` is set.
        w_init_mean, w_init_std: initial weights ~ N(mean, std) (fractions of w_max).
    """

    # Defaults: chosen on the validation split (docs/compare.md, "The learning schedule").
    # A lower threshold (0.25 instead of 0.3) decides the winner earlier in each sample:
    # fewer events integrated at 8 cycles each by the unpruned core, while its fixed
    # 64-cycle STDP walk stays, so the ratio grows; a gentler a+ (0.3 instead of 0.5)
    # potentiates less, so the kept patterns are sparser; initial weights at 0.4 instead
    # of 0.5 gained speed and accuracy on validation.  Larger theta_p, a lower
    # threshold or a delayed pruning start (prune_start > 0) cost pruned accuracy there.
    threshold_fraction: float = 0.25
    infer_threshold_fraction: float | None = None
    theta_p: float = 0.35
    a_plus: float = 0.3
    a_minus: float = 0.95
    rate_double_every: int = 0
    a_plus_max: float = 0.99
    a_minus_max: float = 0.99
    prune_start: int = 0
    w_init_mean: float = 0.4
    w_init_std: float = 0.05

    def __post_init__(self):
        for name in ("threshold_fraction", "theta_p", "a_plus", "a_minus", "a_plus_max",
                     "a_minus_max", "w_init_mean", "w_init_std"):
            _check_fraction(name, getattr(self, name))
        if self.infer_threshold_fraction is not None:
            _check_fraction("infer_threshold_fraction", self.infer_threshold_fraction,
                            " or None")
        for name in ("rate_double_every", "prune_start"):
            value = getattr(self, name)
            # bool is an int subclass: True would silently mean 1
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise UserError(f"schedule {name} = {value!r}: must be an integer >= 0")

    def rates(self, k: int) -> tuple[float, float]:
        """(a+, a-) for learning sample ``k``."""
        if not self.rate_double_every:
            return self.a_plus, self.a_minus
        factor = 2 ** (k // self.rate_double_every)
        return (min(self.a_plus_max, self.a_plus * factor),
                min(self.a_minus_max, self.a_minus * factor))


DEFAULT_SCHEDULE = LearningSchedule()


def image_side(cfg: CoreConfig) -> tuple[int, int]:
    """``(side, channels)`` of the encoded image that fills ``cfg.n_inputs``."""
    n = cfg.n_inputs
    half = n // 2
    s2 = math.isqrt(half) if n % 2 == 0 else 0
    if s2 >= 4 and 2 * s2 * s2 == n:
        return s2, 2
    s1 = math.isqrt(n)
    if s1 >= 4 and s1 * s1 == n:
        return s1, 1
    fits = sorted({s * s for s in range(4, 65)} | {2 * s * s for s in range(4, 46)})
    fits = [f for f in fits if f <= 4096]
    raise UserError(f"the digits workload needs n_inputs = s*s (on-centre map of an s x s "
                    f"image) or 2*s*s (on- and off-centre maps) with s >= 4; n_inputs = {n} "
                    f"is neither (e.g. {', '.join(map(str, fits[:12]))}, ...)")


def times_to_events(times: np.ndarray, time_steps: int) -> np.ndarray:
    """First-spike times of one sample (flat, ``time_steps`` = never) -> ``(k, 2)`` int64
    events ``(input, time)`` sorted by time, then input (each input at most once)."""
    times = np.asarray(times).reshape(-1)
    idx = np.flatnonzero(times < time_steps)
    order = np.lexsort((idx, times[idx]))
    idx = idx[order]
    return np.stack([idx, times[idx]], axis=1).astype(np.int64).reshape(-1, 2)


@dataclass
class DigitsWorkload:
    """One compare workload: initial weights, register schedule and three sample sets.

    Samples are ``(k, 2)`` int64 arrays of ``(input, time)`` in presentation order.
    """

    cfg: CoreConfig
    seed: int
    schedule: LearningSchedule
    threshold: int
    infer_threshold: int
    theta_p: int
    weights: np.ndarray
    learn: list
    train: list
    train_labels: np.ndarray
    test: list
    test_labels: np.ndarray
    description: dict = field(default_factory=dict)

    # ---------------------------------------------------------------- registers
    def learn_registers(self, k: int, pruning: bool) -> CoreRegisters:
        """Registers of learning sample ``k`` (``pruning``: the pruned core's run)."""
        a_plus, a_minus = self.schedule.rates(k)
        scale = 1 << self.cfg.rate_frac_bits
        return CoreRegisters(
            threshold=self.threshold, theta_p=self.theta_p,
            a_plus=min(scale - 1, round(a_plus * scale)),
            a_minus=min(scale - 1, round(a_minus * scale)),
            prune_enable=bool(pruning and k >= self.schedule.prune_start), learn=True,
        ).validate(self.cfg)

    def infer_registers(self, pruning: bool) -> CoreRegisters:
        regs = self.learn_registers(0, pruning)
        return CoreRegisters(**{**regs.__dict__, "threshold": self.infer_threshold,
                                "prune_enable": bool(pruning), "learn": False})

    def learn_register_table(self, n: int, pruning: bool) -> list[dict]:
        """Per learning sample, the register values (what the host writes before it)."""
        return [dict(self.learn_registers(k, pruning).__dict__) for k in range(n)]

    def summary(self) -> dict:
        return dict(self.description, seed=self.seed, schedule=asdict(self.schedule),
                    threshold=self.threshold, infer_threshold=self.infer_threshold,
                    theta_p=self.theta_p, learn=len(self.learn), train=len(self.train),
                    test=len(self.test),
                    mean_events_per_sample=float(np.mean([len(s) for s in self.learn]))
                    if self.learn else 0.0)


def _check_count(name: str, value, available: int, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise UserError(f"{name} = {value!r}: must be an integer >= {minimum}")
    if value > available:
        raise UserError(f"{name} = {value}: the digits workload has only {available} images "
                        f"for it")
    return value


def make_digits_workload(cfg: CoreConfig, *, n_learn: int, n_train: int, n_test: int,
                         seed: int = 0, schedule: LearningSchedule = DEFAULT_SCHEDULE
                         ) -> DigitsWorkload:
    """Encode the bundled digits for ``cfg`` and choose the initial weights and registers.

    Raises :class:`UserError` if ``cfg.n_inputs`` does not fit an encoded image or a set
    size is out of range (1,347 training and 450 test images exist).
    """
    from .golden import fixedpoint as fx
    from .golden.datasets import load_digits
    from .golden.encoding import EncodingParams, encode_images

    side, channels = image_side(cfg)
    data = load_digits(size=side, seed=seed)
    n_learn = _check_count("learning samples", n_learn, len(data.train))
    n_train = _check_count("readout-training samples", n_train, len(data.train))
    n_test = _check_count("test samples", n_test, len(data.test))
    params = EncodingParams(time_steps=cfg.time_steps)
    need = max(n_learn, n_train)

    def encode(images):
        times = encode_images(images, params)[:, :channels]
        return [times_to_events(t, cfg.time_steps) for t in times]

    learn_train = encode(data.train[:need]) if need else []
    test = encode(data.test[:n_test]) if n_test else []
    rng = np.random.default_rng(seed)
    w_real = rng.normal(schedule.w_init_mean, schedule.w_init_std,
                        size=(cfg.n_inputs, cfg.n_neurons))
    weights = fx.quantize_weights(w_real, cfg.weight_bits)
    mean_events = float(np.mean([len(s) for s in learn_train])) if learn_train else \
        cfg.n_inputs / 2
    expected = mean_events * float(weights.mean())

    def threshold_of(fraction):
        return int(min(max(0, round(fraction * expected)), cfg.potential_max - 1))

    threshold = threshold_of(schedule.threshold_fraction)
    infer_fraction = schedule.infer_threshold_fraction
    infer_threshold = threshold if infer_fraction is None else threshold_of(infer_fraction)
    theta_p = int(round(schedule.theta_p * cfg.w_max))
    description = {
        "dataset": "sklearn digits (bundled), stratified split from the seed",
        "image": f"8x8 upscaled to {side}x{side}",
        "encoding": ("on- and off-centre DoG maps" if channels == 2 else "on-centre DoG map")
                    + f" (7x7, sigma 1/2, threshold {params.threshold}, local normalisation"
                      f" r={params.norm_radius}), rank-order latency code over "
                      f"{cfg.time_steps} steps",
        "channels": channels, "side": side,
    }
    return DigitsWorkload(
        cfg=cfg, seed=seed, schedule=schedule, threshold=threshold,
        infer_threshold=infer_threshold, theta_p=theta_p,
        weights=weights.astype(np.int64), learn=learn_train[:n_learn],
        train=learn_train[:n_train], train_labels=data.train_labels[:n_train].copy(),
        test=test, test_labels=data.test_labels[:n_test].copy(), description=description)


# ------------------------------------------------------------------------- files

def pack_samples(samples) -> tuple[np.ndarray, np.ndarray]:
    """Ragged samples -> (events ``(K, 2)`` int64, offsets ``(n+1,)`` int64)."""
    lengths = [len(s) for s in samples]
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    events = (np.concatenate([np.asarray(s, dtype=np.int64).reshape(-1, 2) for s in samples])
              if samples else np.zeros((0, 2), dtype=np.int64))
    return events.reshape(-1, 2), offsets


def unpack_samples(events: np.ndarray, offsets: np.ndarray) -> list:
    return [events[offsets[k]:offsets[k + 1]] for k in range(len(offsets) - 1)]


def save_run_file(path, cfg: CoreConfig, *, weights, mask, samples, registers: list[dict],
                  phase: str, **extra) -> Path:
    """Write what one RTL run needs (the file :mod:`spikeforge.sim.test_workload` reads):
    ``path`` (.npz: weights, mask, events, offsets) and ``path.json`` (config, registers
    per sample, phase, extras)."""
    path = Path(path)
    events, offsets = pack_samples(samples)
    np.savez(path.with_suffix(".npz"), weights=np.asarray(weights, dtype=np.int64),
             mask=np.asarray(mask, dtype=bool), events=events, offsets=offsets)
    meta = {"config": cfg.to_dict(), "registers": registers, "phase": phase,
            "arrays": str(path.with_suffix(".npz").resolve()), **extra}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    return path.with_suffix(".json")


def load_workload(json_path) -> dict:
    """Read a run file written by :func:`save_run_file`."""
    json_path = Path(json_path)
    try:
        meta = json.loads(json_path.read_text())
        arrays = np.load(meta["arrays"])
    except (OSError, KeyError, json.JSONDecodeError, ValueError) as exc:
        raise UserError(f"cannot read workload file {str(json_path)!r}: {exc}") from None
    meta["cfg"] = CoreConfig(**meta["config"])
    meta["weights"] = arrays["weights"]
    meta["mask"] = arrays["mask"]
    meta["samples"] = unpack_samples(arrays["events"], arrays["offsets"])
    return meta


# ------------------------------------------------------------------------- readout features

def output_latency_features(cfg: CoreConfig, spikes_per_sample) -> np.ndarray:
    """The readout's features of the core's output: per sample and neuron the latency
    feature ``(T - t) / T`` of its first spike (0 if it never fired), from the
    ``(neuron, time)`` spike lists of each sample."""
    from .golden.readout import spike_features

    times = np.full((len(spikes_per_sample), cfg.n_neurons), cfg.time_steps, dtype=np.int64)
    for k, spikes in enumerate(spikes_per_sample):
        for neuron, t in spikes:
            times[k, neuron] = min(times[k, neuron], t)
    return spike_features(times, cfg.time_steps, "latency")


# ------------------------------------------------------------------------- schedule figures

def schedule_figures(cfg: CoreConfig, schedule: LearningSchedule = DEFAULT_SCHEDULE, *,
                     seed: int = 0, n_learn: int = 300, n_readout: int = 1000,
                     n_infer: int = 100) -> dict:
    """Golden-model figures of a schedule on the digits workload, pruned vs unpruned.

    What ``spikeforge demo`` measures in RTL, from the cycle-exact :class:`CoreModel`
    (its cycles and spikes are the core's): learning on the first ``n_learn`` training
    images with the demo's producer (``skip_decided``), a LinearSVC readout on the
    latency features of the first ``n_readout`` training images, then inference.  Two
    evaluation sets: ``validation`` = the training images after ``n_readout`` (used
    neither for learning nor for readout training: choose schedules on this one) and
    ``test`` = the first ``n_infer`` test images (the demo's).  Inference cycles are
    measured on the first ``n_infer`` images of each set.

    Returns ``{"learning": {...}, "validation": {...}, "test": {...}}`` with cycles per
    sample, speed-ups, connectivity and accuracies.  Raises :class:`UserError` if the
    counts leave no validation images or exceed the data set.  Takes ~10 s per seed for
    the demo sizes on one core.
    """
    from .compare import MAX_TRAIN
    from .golden.core_model import CoreModel
    from .golden.fc_layer import infer_fc_layer_fixed
    from .golden.readout import accuracy, train_readout

    n_pool = MAX_TRAIN   # the digits' training split: learning, readout training, validation
    # at least one image must be left over for validation
    _check_count("readout-training samples", n_readout, n_pool - 1, minimum=2)
    wl = make_digits_workload(cfg, n_learn=n_learn, n_train=n_pool, n_test=n_infer,
                              seed=seed, schedule=schedule)
    sets = {"validation": (wl.train[n_readout:], wl.train_labels[n_readout:]),
            "test": (wl.test, wl.test_labels)}
    out: dict = {"learning": {}, "validation": {}, "test": {}}
    for pruning in (False, True):
        name = "pruned" if pruning else "unpruned"
        vcfg = cfg.replace(pruning=pruning)
        model = CoreModel(vcfg, wl.weights)
        cycles = [model.run_sample(s, wl.learn_registers(k, pruning), skip_decided=True).cycles
                  for k, s in enumerate(wl.learn)]
        out["learning"][f"{name}_cycles_per_sample"] = float(np.mean(cycles)) if cycles else 0.0
        out["learning"][f"{name}_connectivity"] = float(model.mask.mean())
        regs = wl.infer_registers(pruning)

        def features(samples):
            return output_latency_features(
                vcfg, infer_fc_layer_fixed(vcfg, regs, model.weights, model.mask, samples).spikes)

        readout = train_readout(features(wl.train[:n_readout]), wl.train_labels[:n_readout])
        for label, (samples, labels) in sets.items():
            infer = CoreModel(vcfg, model.weights, model.mask)
            icycles = [infer.run_sample(s, regs).cycles for s in samples[:n_infer]]
            out[label][f"{name}_accuracy"] = accuracy(readout, features(samples), labels)
            out[label][f"{name}_infer_cycles_per_sample"] = float(np.mean(icycles))
            out[label]["images"] = len(samples)
    learning = out["learning"]
    learning["speedup"] = (learning["unpruned_cycles_per_sample"]
                           / max(1e-9, learning["pruned_cycles_per_sample"]))
    for label in sets:
        figures = out[label]
        figures["infer_speedup"] = (figures["unpruned_infer_cycles_per_sample"]
                                    / max(1e-9, figures["pruned_infer_cycles_per_sample"]))
        figures["accuracy_change"] = figures["pruned_accuracy"] - figures["unpruned_accuracy"]
    return out
