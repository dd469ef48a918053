"""The ``spikeforge`` command line: thin.

Each command lives in its own module under :mod:`spikeforge.commands` and exposes
``register(subparsers)``, which adds a sub-parser whose ``func`` default takes the parsed
arguments and returns an exit status.  This module only parses, dispatches and turns
:class:`~spikeforge.errors.UserError` (bad input) into a one-line message and exit
status 2 - never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__
from . import commands as _commands
from .errors import UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors also exit with 2, with usage
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="spikeforge", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.description = ("Generate, verify, train, build and compare TTFS spiking neural "
                          "network hardware with on-chip STDP and in-learning pruning.")
    parser.add_argument("--version", action="version", version=f"spikeforge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for info in sorted(pkgutil.iter_modules(_commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{_commands.__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.func(args)
    except UserError as exc:
        print(f"spikeforge {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"spikeforge {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
