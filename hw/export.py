"""Verilog export of the TTFS layer core.

:func:`generate_verilog` turns a :class:`~spikeforge.config.CoreConfig` into one Verilog
module (through Amaranth's Yosys back end); :func:`write_generated` writes it next to the
``config.toml`` it was generated from, so a generated design always says how it was made.
"""

from __future__ import annotations

import threading
from pathlib import Path

from amaranth.back import verilog

from ..config import CoreConfig
from ..errors import UserError
from ..fileio import atomic_write_text

__all__ = ["generate_verilog", "write_generated", "DEFAULT_TOP_NAME"]

DEFAULT_TOP_NAME = "ttfs_core"


def _check_name(name: str) -> None:
    if not name or not (name[0].isalpha() or name[0] == "_") or \
            not all(c.isalnum() or c == "_" for c in name):
        raise UserError(f"module name {name!r} is not a valid Verilog identifier: use letters, "
                        f"digits and '_', starting with a letter or '_'")


#: Held while an Amaranth design is elaborated or converted.  Amaranth does not promise
#: thread safety, and ``spikeforge compare`` elaborates in several threads (the RTL
#: simulations' Verilog, the FPGA builds); the slow parts after elaboration (Verilator,
#: Yosys, nextpnr) run outside it, in parallel.
ELABORATION_LOCK = threading.RLock()


def generate_verilog(cfg: CoreConfig, name: str = DEFAULT_TOP_NAME) -> str:
    """Verilog text of :class:`~spikeforge.hw.core.TTFSCore` for ``cfg``, top module ``name``.

    The ports are those of the core's signature (docs/core.md), with Amaranth's names:
    ``<stream>__payload/__valid/__ready``, ``clk`` and the synchronous reset ``rst``.
    """
    _check_name(name)
    # Imported here so that ``spikeforge generate --help`` and config errors stay fast.
    from .core import TTFSCore

    with ELABORATION_LOCK:
        core = TTFSCore(cfg)
        return verilog.convert(core, name=name, emit_src=False)


def write_generated(cfg: CoreConfig, out_dir, force: bool = False,
                    name: str = DEFAULT_TOP_NAME) -> dict[str, Path]:
    """Write ``<name>.v`` and ``config.toml`` into ``out_dir`` (created if missing).

    Existing files are never overwritten unless ``force`` is true (then a
    :class:`~spikeforge.errors.UserError` names them).  Returns the paths written, keyed
    ``"verilog"`` and ``"config"``.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"output {str(out_dir)!r} exists and is not a directory")
    paths = {"verilog": out_dir / f"{name}.v", "config": out_dir / "config.toml"}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not force:
        raise UserError(f"refusing to overwrite {', '.join(existing)}: use --force to replace "
                        f"them, or choose another output directory")
    # Generate before touching the disk: a failure leaves no half-written output.
    text = generate_verilog(cfg, name)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(paths["verilog"], text, force=True)      # temp file + rename
    atomic_write_text(paths["config"], cfg.to_toml(), force=True)
    return paths
