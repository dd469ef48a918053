"""Every CLI entry point rejects bad input with exit status 2 and a clear message on
stderr, never a traceback (run in-process through ``spikeforge.cli.main``: an uncaught
exception would fail the test with its traceback).

Errors raised by spikeforge (``UserError``) print exactly one line; argparse's own
errors (unknown choice, missing argument) print the usage and then one error line.
"""

import re

import pytest

from spikeforge import cli


def _files(tmp_path):
    (tmp_path / "bad.toml").write_text("not = [valid toml\n")
    (tmp_path / "range.toml").write_text("[core]\nn_inputs = 0\n")
    (tmp_path / "unknown.toml").write_text("[core]\nfoo = 1\n")
    (tmp_path / "gen_out").mkdir()
    (tmp_path / "gen_out" / "ttfs_core.v").write_text("// user file\n")
    (tmp_path / "a_file").write_text("x")


# (argv, regular expression the error line must match); paths are relative to tmp_path
CASES = [
    ("generate -o g --config nonexistent.toml", r"config file .* does not exist"),
    ("generate -o g --config bad.toml", r"is not valid TOML"),
    ("generate -o g --config range.toml", r"n_inputs = 0 is out of range: allowed 1 to 4096"),
    ("generate -o g --config unknown.toml", r"unknown key\(s\) foo; allowed keys"),
    ("generate -o g --set lanes=3", r"lanes = 3 is not allowed: use one of 1, 2, 4, 8, 16"),
    ("generate -o g --set lanes=8 --set n_neurons=4", r"lanes = 8 exceeds n_neurons = 4"),
    ("generate -o g --set fifo_depth=6", r"fifo_depth = 6 must be a power of two"),
    ("generate -o g --set potential_bits=8 --set weight_bits=8", r"must exceed weight_bits"),
    ("generate -o g --set nosuch=1", r"--set nosuch: unknown key; allowed keys"),
    ("generate -o g --set lanes", r"expected key=value"),
    ("generate -o g --set pruning=maybe", r"expected true or false"),
    ("generate -o g --set n_inputs=abc", r"expected an integer"),
    ("generate -o gen_out", r"refusing to overwrite .*ttfs_core\.v: use --force"),
    ("generate -o g --name 9bad-name", r"not a valid Verilog identifier"),
    ("generate", r"the following arguments are required: -o/--output"),
    ("verify --sim modelsim", r"invalid choice: 'modelsim'"),
    ("verify --mode bogus", r"invalid choice: 'bogus'"),
    ("verify --samples 0", r"--samples must be at least 1"),
    ("verify --prune-fraction 1.5", r"prune_fraction = 1.5: allowed 0.0 <= f < 1.0"),
    ("verify --seed notanumber", r"expected a non-negative integer, got 'notanumber'"),
    ("verify --set time_steps=1", r"time_steps = 1 is out of range: allowed 2 to 256"),
    ("fuzz --configs 0", r"--configs 0: must be at least 1"),
    ("fuzz --seeds -1", r"--seeds -1: must be at least 1"),
    ("fuzz --sim modelsim", r"unknown simulator; allowed amaranth, verilator, icarus"),
    ("fuzz --configs many", r"argument --configs: invalid int value"),
    ("bench --samples 0", r"--samples 0: must be at least 1"),
    ("build --board nosuch", r"unknown board 'nosuch': choose one of"),
    ("power --build nonexistent", r"build directory .* does not exist"),
    ("run --sim --learn -1", r"--learn -1: must be 0 or more"),
    ("train --dataset nosuch", r"unknown dataset 'nosuch': allowed digits, mnist, caltech"),
    ("train --prune-threshold 1.5", r"--prune-threshold 1.5: allowed 0.0 <= theta_p < 1.0"),
    ("train --dataset mnist --data-dir nonexistent", r"data directory .* does not exist"),
    ("compare --samples-learn 0 --no-build", r"--samples-learn = 0: must be an integer from 1"),
    ("compare --board nosuch --no-build", r"unknown board 'nosuch'"),
    ("demo -o a_file", r"output .*a_file.* exists and is not a directory"),
    ("nosuchcommand", r"invalid choice: 'nosuchcommand'"),
]


@pytest.mark.parametrize("argv,pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_clear_line(argv, pattern, tmp_path, monkeypatch, capsys):
    _files(tmp_path)
    monkeypatch.chdir(tmp_path)
    try:
        status = cli.main(argv.split())
    except SystemExit as exc:          # argparse's own errors
        status = exc.code
    out, err = capsys.readouterr()
    assert status == 2, f"exit status {status}; stderr: {err}"
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "an error message on stderr"
    error_lines = [line for line in lines if re.search(r"\berror: ", line)]
    assert len(error_lines) == 1, f"exactly one error line, got: {lines}"
    assert re.search(pattern, error_lines[0]), error_lines[0]
    usage = [line for line in lines if line is not error_lines[0]]
    assert all(line.startswith(("usage:", " ")) for line in usage), \
        f"only argparse's usage may accompany the error line: {lines}"
    # nothing written where the user did not ask (and their file left alone)
    assert (tmp_path / "gen_out" / "ttfs_core.v").read_text() == "// user file\n"


def test_every_command_has_a_bad_input_case():
    """A new command must come with at least one case here."""
    commands = set(cli.build_parser()._subparsers._group_actions[0].choices)
    covered = {argv.split()[0] for argv, _ in CASES}
    missing = sorted(commands - covered)
    assert not missing, f"commands without a bad-input case: {missing}"
