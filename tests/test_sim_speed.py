"""The Verilator build set-up that makes the cocotb regression fast (docs/verification.md).

No simulator runs here (all fast): the chosen C++ optimisation levels and public mode and
their place in the build cache key, the control file that keeps the core's internals
private (it must name exactly the core's ports, or cocotb cannot reach one), and the
compiler wrapper that shares Verilator's runtime objects between builds (it must reuse
only design-independent objects).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from spikeforge.config import CoreConfig
from spikeforge.errors import UserError
from spikeforge.sim import runner

SMALL = CoreConfig(n_inputs=16, n_neurons=6, lanes=2)


def test_default_optimisation_levels(monkeypatch):
    monkeypatch.delenv("SPIKEFORGE_VERILATOR_OPT", raising=False)
    assert runner.verilator_cxx_opt() == {"OPT_FAST": "-O1", "OPT_SLOW": "-O0",
                                          "OPT_GLOBAL": "-O2"}


def test_one_level_for_everything_from_the_environment(monkeypatch):
    monkeypatch.setenv("SPIKEFORGE_VERILATOR_OPT", "-O2")
    assert set(runner.verilator_cxx_opt().values()) == {"-O2"}
    monkeypatch.setenv("SPIKEFORGE_VERILATOR_OPT", "-O9")
    with pytest.raises(UserError, match="SPIKEFORGE_VERILATOR_OPT='-O9': allowed -O0"):
        runner.verilator_cxx_opt()


def test_public_mode(monkeypatch):
    monkeypatch.delenv("SPIKEFORGE_VERILATOR_PUBLIC", raising=False)
    assert runner.verilator_public_mode() == "ports"
    monkeypatch.setenv("SPIKEFORGE_VERILATOR_PUBLIC", "everything")
    with pytest.raises(UserError, match="allowed ports, all"):
        runner.verilator_public_mode()


def test_build_key_follows_the_build_flags(monkeypatch):
    monkeypatch.delenv("SPIKEFORGE_VERILATOR_OPT", raising=False)
    monkeypatch.delenv("SPIKEFORGE_VERILATOR_PUBLIC", raising=False)
    default = runner._build_key(SMALL, "verilator", "plain")
    assert default["opt"] == runner.DEFAULT_CXX_OPT and default["public"] == "ports"
    monkeypatch.setenv("SPIKEFORGE_VERILATOR_OPT", "-O0")
    assert runner._build_key(SMALL, "verilator", "plain") != default
    monkeypatch.delenv("SPIKEFORGE_VERILATOR_OPT")
    monkeypatch.setenv("SPIKEFORGE_VERILATOR_PUBLIC", "all")
    assert runner._build_key(SMALL, "verilator", "plain") != default
    # Icarus builds do not depend on Verilator's flags
    icarus = runner._build_key(SMALL, "icarus", "plain")
    assert icarus["opt"] is None and icarus["public"] is None


def _core_port_names(cfg: CoreConfig) -> list[str]:
    """The Verilog port names of the core, from its Amaranth signature."""
    from spikeforge.hw.core import TTFSCore

    core = TTFSCore(cfg)
    core._MustUse__silence = True      # only its signature is wanted (Amaranth's idiom)
    names = ["__".join(str(part) for part in path)
             for path, _, _ in core.signature.flatten(core)]
    return names + ["clk", "rst"]


def test_control_file_names_exactly_the_core_ports(tmp_path):
    from spikeforge.hw.export import generate_verilog

    verilog = generate_verilog(SMALL, runner.TOP)
    ports = runner.top_ports(verilog, runner.TOP)
    assert sorted(ports) == sorted(_core_port_names(SMALL))
    # the ports the testbench drives and reads are among them
    for name in ("events_in__payload", "events_in__ready", "access_cmd__ready",
                 "access_rsp__payload", "decided", "cnt_cycles"):
        assert name in ports
    text = runner._public_ports_control_file(verilog, tmp_path / "p.vlt").read_text()
    assert text.startswith("`verilator_config\n")
    lines = [line for line in text.splitlines() if line.startswith("public_flat_rw")]
    assert sorted(lines) == sorted(f'public_flat_rw -module "{runner.TOP}" -var "{name}"'
                                   for name in ports)


def test_port_parser_rejects_a_header_that_disagrees_with_the_declarations():
    verilog = ("module top(a, b);\n  input a;\n  output [3:0] c;\nendmodule\n")
    with pytest.raises(ValueError, match="differ"):
        runner.top_ports(verilog, "top")
    with pytest.raises(ValueError, match="module other not found"):
        runner.top_ports(verilog, "other")
    good = "module top(a, b);\n  input a;\n  wire x;\n  output [3:0] b;\nendmodule\n"
    assert runner.top_ports(good, "top") == ["a", "b"]


# ------------------------------------------------------------------ the runtime object cache

FAKE_COMPILER = """#!/usr/bin/env python3
# Stands in for c++: counts its calls, writes the object and a dependency file.
import os, sys
args = sys.argv[1:]
out = args[args.index("-o") + 1]
source = args[-1]
with open(os.environ["FAKE_CXX_CALLS"], "a") as f:
    f.write(os.path.basename(source) + "\\n")
with open(out, "w") as f:
    f.write("object of " + source + " " + " ".join(a for a in args if a.startswith("-O")))
deps = [source] + os.environ.get("FAKE_CXX_DEPS", "").split()
with open(os.path.splitext(out)[0] + ".d", "w") as f:
    f.write(os.path.basename(out) + ": " + " \\\\\\n ".join(deps) + "\\n")
"""


@pytest.fixture
def fake_toolchain(tmp_path, monkeypatch):
    include = tmp_path / "verilator" / "include"
    include.mkdir(parents=True)
    (include / "verilated.h").write_text("// header\n")
    (include / "verilated.cpp").write_text("// runtime\n")
    compiler = tmp_path / "fake-cxx"
    compiler.write_text(FAKE_COMPILER)
    compiler.chmod(0o755)
    calls = tmp_path / "calls.txt"
    monkeypatch.setenv("FAKE_CXX_CALLS", str(calls))
    monkeypatch.delenv("FAKE_CXX_DEPS", raising=False)
    command = shlex.split(runner._runtime_objcache(tmp_path / "cache"))

    def compile_in(build_dir: Path, source: Path, opt: str = "-O2", deps: str = "") -> str:
        build_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, FAKE_CXX_DEPS=deps)
        argv = [str(compiler), opt, "-I.", "-MMD", "-c", "-o", "verilated.o", str(source)]
        subprocess.run(command + argv, cwd=build_dir, env=env, check=True)
        return (build_dir / "verilated.o").read_text()

    def calls_made() -> list[str]:
        return calls.read_text().split() if calls.exists() else []

    return include, compile_in, calls_made, tmp_path


def test_runtime_object_is_compiled_once_and_shared(fake_toolchain):
    include, compile_in, calls_made, root = fake_toolchain
    first = compile_in(root / "build1", include / "verilated.cpp")
    second = compile_in(root / "build2", include / "verilated.cpp")
    assert first == second == f"object of {include / 'verilated.cpp'} -O2"
    assert calls_made() == ["verilated.cpp"]            # the second build reused it
    assert (root / "build2" / "verilated.d").exists()
    log = (root / "build2" / "cxx_times.log").read_text()
    assert "cached" in log and "verilated.o" in log


def test_runtime_cache_key_includes_flags_and_sources(fake_toolchain):
    include, compile_in, calls_made, root = fake_toolchain
    compile_in(root / "a", include / "verilated.cpp", opt="-O2")
    compile_in(root / "b", include / "verilated.cpp", opt="-O0")   # other flags
    (include / "verilated.h").write_text("// a newer header\n")     # other runtime
    compile_in(root / "c", include / "verilated.cpp", opt="-O2")
    assert calls_made() == ["verilated.cpp"] * 3


def test_design_files_are_never_cached(fake_toolchain):
    include, compile_in, calls_made, root = fake_toolchain
    design = root / "design" / "Vtop.cpp"        # not in Verilator's include directory
    design.parent.mkdir()
    design.write_text("// model\n")
    compile_in(root / "a", design)
    compile_in(root / "b", design)
    # a runtime source that pulled in a header of the build directory
    compile_in(root / "c", include / "verilated.cpp", deps="Vtop__Syms.h")
    compile_in(root / "d", include / "verilated.cpp", deps="Vtop__Syms.h")
    assert calls_made() == ["Vtop.cpp", "Vtop.cpp", "verilated.cpp", "verilated.cpp"]
    assert not list((root / "cache").rglob("*.o"))


def test_failed_compile_is_reported_and_not_cached(fake_toolchain, tmp_path):
    include, _, _, root = fake_toolchain
    failing = root / "fail-cxx"
    failing.write_text("#!/bin/sh\nexit 3\n")
    failing.chmod(0o755)
    command = shlex.split(runner._runtime_objcache(root / "cache"))
    build = root / "build"
    build.mkdir()
    status = subprocess.run(command + [str(failing), "-c", "-o", "verilated.o",
                                       str(include / "verilated.cpp")], cwd=build).returncode
    assert status == 3
    assert not list((root / "cache").rglob("*.o"))


def test_build_environment_sets_and_restores_make_variables(monkeypatch, tmp_path):
    monkeypatch.delenv("SPIKEFORGE_VERILATOR_OPT", raising=False)
    monkeypatch.setenv("MAKEFLAGS", "-s")
    monkeypatch.delenv("OBJCACHE", raising=False)
    with runner._build_environment("verilator", tmp_path):
        flags = os.environ["MAKEFLAGS"].split()
        assert flags[0] == "-s"
        assert {"OPT_FAST=-O1", "OPT_SLOW=-O0", "OPT_GLOBAL=-O2",
                "CFG_CXXFLAGS_PCH_I=-include"} <= set(flags)
        wrapper = shlex.split(os.environ["OBJCACHE"])
        assert wrapper[0] == sys.executable and Path(wrapper[1]).exists()
    assert os.environ["MAKEFLAGS"] == "-s" and "OBJCACHE" not in os.environ
    with runner._build_environment("icarus", tmp_path):
        assert os.environ["MAKEFLAGS"] == "-s" and "OBJCACHE" not in os.environ


def test_simulator_start_up_rewrites_only_the_test_module(monkeypatch, tmp_path):
    """cocotb's default would have pytest rewrite (recompile) every module imported in
    the simulator; run_cocotb_test limits it to the test module."""
    seen = {}

    class FakeRunner:
        def test(self, **kwargs):
            seen.update(kwargs["extra_env"])
            Path(json.loads(Path(kwargs["extra_env"]["P"]).read_text())["result_path"]) \
                .write_text("{}")

    monkeypatch.delenv("COCOTB_REWRITE_ASSERTION_FILES", raising=False)
    monkeypatch.setattr(runner, "_get_runner", lambda sim: FakeRunner())
    result, _ = runner.run_cocotb_test(sim="verilator", build_dir=tmp_path, params={},
                                       test_module="spikeforge.sim.test_core",
                                       testcase="core_regression", toplevel=runner.TOP,
                                       params_env="P", work_dir=tmp_path / "run")
    assert result == {}
    assert seen["COCOTB_REWRITE_ASSERTION_FILES"] == "test_core.py"
