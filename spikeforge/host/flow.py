"""The learning/inference run of ``spikeforge run``, identical on a board and on the
simulated board top, checked against the golden core model.

:func:`make_run_workload` builds the inputs (digits encoded as latency spikes, initial
weights, registers) from the config and a seed; :func:`run_on_board` runs them through
a :class:`~spikeforge.host.driver.Board`; :func:`run_golden` runs them through
:class:`~spikeforge.golden.core_model.CoreModel`; :func:`compare_with_golden` says where
they differ.  Plain NumPy besides the driver: no cocotb, no Amaranth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..config import CoreConfig, CoreRegisters
from ..errors import UserError
from .driver import Board

__all__ = ["RunWorkload", "make_run_workload", "digits_samples", "run_on_board", "run_golden",
           "compare_with_golden", "REPORT_COUNTERS", "DATASETS"]

REPORT_COUNTERS = ("cycles", "syn_ops", "stdp_updates", "pruned", "dropped", "samples")
DATASETS = ("digits", "random")


@dataclass
class RunWorkload:
    """Everything a run needs, fully determined by (config, dataset, counts, seed)."""
    cfg: CoreConfig
    weights: np.ndarray          # int64 (n_inputs, n_neurons)
    mask: np.ndarray             # bool
    learn_regs: CoreRegisters
    infer_regs: CoreRegisters
    learn_samples: list          # (k, 2) int64 event arrays
    infer_samples: list
    description: str


def times_to_events(times: np.ndarray, time_steps: int) -> np.ndarray:
    """First-spike times of one sample (flat; ``time_steps`` = never) to ``(k, 2)``
    events sorted by time, then by input index."""
    times = np.asarray(times).reshape(-1)
    index = np.flatnonzero(times < time_steps)
    order = np.lexsort((index, times[index]))
    return np.stack([index[order], times[index][order]], axis=1).astype(np.int64).reshape(-1, 2)


def digits_samples(cfg: CoreConfig, count: int, *, seed: int, offset: int = 0) -> tuple[list, str]:
    """``count`` digits (sklearn) resized to the largest square that fits the core's
    inputs (two DoG channels), encoded by :func:`golden.encoding.encode_images`."""
    from ..golden.datasets import load_digits
    from ..golden.encoding import EncodingParams, encode_images

    size = min(28, math.isqrt(cfg.n_inputs // 2))
    if size < 2:
        raise UserError(f"n_inputs = {cfg.n_inputs} is too small for the digits data set "
                        f"(two channels of at least 2x2 pixels need 8 inputs): use "
                        f"--dataset random")
    data = load_digits(size=size, seed=seed)
    images = data.learn[offset:offset + count]
    if len(images) < count:
        raise UserError(f"the digits data set has {len(data.learn)} learning images; "
                        f"{offset + count} were asked for")
    params = EncodingParams(time_steps=cfg.time_steps,
                            kernel_size=min(7, size - 1 if size % 2 == 0 else size),
                            norm_radius=min(8, max(1, size // 4)))
    times = encode_images(images, params)
    samples = [times_to_events(t, cfg.time_steps) for t in times]
    return samples, f"digits {size}x{size}, 2 DoG channels ({2 * size * size} inputs)"


def make_run_workload(cfg: CoreConfig, *, dataset: str = "digits", n_learn: int = 20,
                      n_infer: int = 20, seed: int = 0,
                      threshold: int | None = None) -> RunWorkload:
    """Initial weights (N(0.8, 0.05), 10 % low), registers and samples of a run."""
    if dataset not in DATASETS:
        raise UserError(f"unknown dataset {dataset!r}: allowed {', '.join(DATASETS)}")
    for name, value in (("--learn", n_learn), ("--infer", n_infer)):
        if value < 0:
            raise UserError(f"{name} {value}: must be 0 or more")
    from ..sim.workload import random_sample, random_weights

    rng = np.random.default_rng(seed)
    weights = random_weights(cfg, rng)
    mask = np.ones(weights.shape, dtype=bool)
    if dataset == "digits":
        learn, description = digits_samples(cfg, n_learn, seed=seed)
        infer, _ = digits_samples(cfg, n_infer, seed=seed, offset=n_learn)
    else:
        learn = [random_sample(cfg, rng, 0.4) for _ in range(n_learn)]
        infer = [random_sample(cfg, rng, 0.4) for _ in range(n_infer)]
        description = "random samples, each input spikes with probability 0.4"
    if threshold is None:
        # fire part-way through a sample: about 40 % of the mean final potential
        spikes = np.mean([len(s) for s in learn + infer]) if learn + infer else 1.0
        threshold = int(0.4 * spikes * float(weights.mean()))
    threshold = int(min(max(threshold, 1), cfg.potential_max - 1))
    scale = 1 << cfg.rate_frac_bits
    learn_regs = CoreRegisters(threshold=threshold, theta_p=max(1, round(0.05 * cfg.w_max)),
                               a_plus=max(1, scale // 16), a_minus=max(1, 3 * scale // 64),
                               prune_enable=cfg.pruning, learn=True).validate(cfg)
    infer_regs = CoreRegisters(**{**learn_regs.__dict__, "learn": False}).validate(cfg)
    return RunWorkload(cfg, weights, mask, learn_regs, infer_regs, learn, infer, description)


def _phase_report(counters_before: dict, counters_after: dict, outputs, cfg) -> dict:
    wrap = 1 << cfg.counter_bits
    report = {name: (counters_after[name] - counters_before[name]) % wrap
              for name in REPORT_COUNTERS}
    report["output_spikes"] = int(sum(len(o.spikes) for o in outputs))
    return report


def run_on_board(board: Board, work: RunWorkload, *, batch: bool = True,
                 progress=None) -> dict:
    """Learning then inference on the board; returns the run's report (plain data).

    Report: per phase (``learn``, ``infer``) the counters (cycles, syn_ops,
    stdp_updates, pruned, dropped, samples), ``output_spikes``, the on-chip run cycles
    of batch mode and the transport seconds; the outputs per sample; the read-back
    weights and mask.
    """
    cfg = work.cfg
    say = progress or (lambda text: None)
    board.check_config(cfg)
    say(f"loading {cfg.n_inputs}x{cfg.n_neurons} weights")
    t0 = board.transport.now()
    board.write_weights(work.weights, work.mask)
    load_seconds = board.transport.now() - t0
    report = {"mode": "batch" if batch else "stream", "phases": {},
              "weight_load_seconds": load_seconds}
    for phase, regs, samples in (("learn", work.learn_regs, work.learn_samples),
                                 ("infer", work.infer_regs, work.infer_samples)):
        if not samples:
            continue
        say(f"{phase}: {len(samples)} samples ({'batch' if batch else 'streaming'} mode)")
        board.set_registers(regs)
        before = board.read_counters()
        t0 = board.transport.now()
        if batch:
            result = board.run_batch(samples, learn=regs.learn)
            outputs, run_cycles = result.samples, result.run_cycles
        else:
            outputs = [board.stream_sample(s) for s in samples]
            run_cycles = None
        seconds = board.transport.now() - t0
        after = board.read_counters()
        entry = _phase_report(before, after, outputs, cfg)
        entry["batch_run_cycles"] = run_cycles
        entry["link_seconds"] = seconds
        entry["input_events"] = int(sum(len(s) for s in samples))
        entry["outputs"] = [{"spikes": [list(map(int, s)) for s in o.spikes],
                             "cycles": int(o.cycles)} for o in outputs]
        report["phases"][phase] = entry
    say("reading back the weights")
    weights, mask = board.read_weights(cfg.n_inputs, cfg.n_neurons)
    report["weights"] = weights
    report["mask"] = mask
    report["link_errors"] = board.status()["link_errors"]
    return report


def run_golden(work: RunWorkload, *, skip_decided: bool = True) -> dict:
    """The same run through the cycle-exact golden model (same report shape).
    ``skip_decided``: as the batch runner, which skips the rest of a decided learning
    sample (streaming mode does not; its cycles are not compared)."""
    from ..golden.core_model import CoreModel

    cfg = work.cfg
    model = CoreModel(cfg, work.weights, work.mask)
    report = {"mode": "golden", "phases": {}}
    for phase, regs, samples in (("learn", work.learn_regs, work.learn_samples),
                                 ("infer", work.infer_regs, work.infer_samples)):
        if not samples:
            continue
        before = dict(model.counters)
        results = model.run(samples, regs, skip_decided=skip_decided)
        outputs = [type("Out", (), {"spikes": [(n, t) for n, t, _ in r.out_events],
                                    "cycles": r.cycles})() for r in results]
        entry = _phase_report(before, dict(model.counters), outputs, cfg)
        entry["outputs"] = [{"spikes": [[int(n), int(t)] for n, t, _ in r.out_events],
                             "cycles": int(r.cycles)} for r in results]
        report["phases"][phase] = entry
    report["weights"] = model.weights.copy()
    report["mask"] = model.mask.copy()
    return report


def compare_with_golden(board_report: dict, golden_report: dict, *, cycles: bool) -> list[str]:
    """Differences between a board run and the golden model (empty: identical).

    ``cycles``: also compare per-sample and total cycle counts (exact only in batch
    mode, where the core is fed at full speed as the model assumes).
    """
    problems = []
    if not np.array_equal(board_report["weights"], golden_report["weights"]):
        diff = np.argwhere(board_report["weights"] != golden_report["weights"])
        problems.append(f"read-back weights differ from the model at {len(diff)} synapses, "
                        f"first (input, neuron) = {tuple(diff[0])}")
    if not np.array_equal(board_report["mask"], golden_report["mask"]):
        problems.append("read-back masks differ from the model")
    for phase, expected in golden_report["phases"].items():
        got = board_report["phases"].get(phase)
        if got is None:
            problems.append(f"phase {phase} missing from the board run")
            continue
        for k, (o, e) in enumerate(zip(got["outputs"], expected["outputs"])):
            if o["spikes"] != e["spikes"]:
                problems.append(f"{phase} sample {k}: spikes {o['spikes']} != model {e['spikes']}")
                break
            if cycles and o["cycles"] != e["cycles"]:
                problems.append(f"{phase} sample {k}: {o['cycles']} cycles != model {e['cycles']}")
                break
        names = [n for n in REPORT_COUNTERS if cycles or n != "cycles"] + ["output_spikes"]
        for name in names:
            if got[name] != expected[name]:
                problems.append(f"{phase}: counter {name} = {got[name]} != model {expected[name]}")
    return problems
