"""Bitstreams of the default core for every supported board (issue 5), through the
command a user runs.  Each takes 5-20 minutes of place and route, so they are marked
slow and run in `make bench`, not in the default suite (which builds the tiny core and
the stand-in design, tests/test_build_flow.py)."""

from __future__ import annotations

import json

import pytest

from spikeforge.boards.platforms import board_names
from spikeforge.boards.report import BUILD_SCHEMA, validate
from spikeforge.cli import main as cli_main


@pytest.mark.slow
@pytest.mark.parametrize("board", board_names())
def test_default_core_bitstream_builds(board, tmp_path):
    out = tmp_path / board
    assert cli_main(["build", "--board", board, "-o", str(out)]) == 0
    data = json.loads((out / "build.json").read_text())
    assert validate(data, BUILD_SCHEMA) == []
    assert data["bitstream"] == "top.bit" and (out / "top.bit").stat().st_size > 100_000
    core = data["utilization"]["modules"]["top.system.core"]["total"]
    assert core["LUT4"] > 1000 and core["EBR"] > 0       # the core was not optimized away
    assert data["fmax"]["clk"]["achieved_mhz"] > 0
