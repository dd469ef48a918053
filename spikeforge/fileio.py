"""Safe file output and weight/mask checkpoints.

* :func:`atomic_write_bytes` / :func:`atomic_write_text` write to a temporary file in
  the destination's directory and ``os.replace`` it over the destination, so a reader
  (or a crash, a full disk, Ctrl-C) never leaves a half-written file behind: either the
  old file (or none) or the complete new one exists.  An existing file is never
  replaced without ``force=True``.
* Checkpoints (:func:`save_checkpoint` / :func:`load_checkpoint`) are ``.npz`` files
  holding the weights, the masks and the :class:`~spikeforge.config.CoreConfig` they
  belong to; loading one under a different config is refused with the differing keys.

Every bad input raises :class:`~spikeforge.errors.UserError` (the CLI prints it as one
line and exits 2).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .config import CoreConfig
from .errors import UserError

__all__ = ["atomic_write_bytes", "atomic_write_text", "save_checkpoint", "load_checkpoint",
           "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "spikeforge-checkpoint-1"


def _check_destination(path: Path, force: bool) -> None:
    if path.is_dir():
        raise UserError(f"{str(path)!r} is a directory, not a file")
    if path.exists() and not force:
        raise UserError(f"{str(path)!r} already exists: use --force to overwrite it")
    parent = path.parent
    if not parent.is_dir():
        raise UserError(f"cannot write {str(path)!r}: directory {str(parent)!r} does not exist")


def atomic_write_bytes(path, data: bytes, force: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, fsync,
    ``os.replace``).  Refuses to replace an existing file unless ``force``.  On any
    failure the temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    _check_destination(path, force)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise UserError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists() and not force:   # appeared while we were writing
            raise UserError(f"{str(path)!r} already exists: use --force to overwrite it")
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise UserError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
        raise
    return path


def atomic_write_text(path, text: str, force: bool = False, encoding: str = "utf-8") -> Path:
    """:func:`atomic_write_bytes` for text."""
    return atomic_write_bytes(path, text.encode(encoding), force=force)


def save_checkpoint(path, cfg: CoreConfig, weights, mask, force: bool = False) -> Path:
    """Save weights and masks with the config they belong to (``.npz``, atomically).

    ``weights``: integers in ``[0, w_max]`` of shape ``(n_inputs, n_neurons)``; ``mask``:
    booleans of the same shape (pruned synapses must hold weight 0).
    """
    weights, mask = _validated(cfg, weights, mask, what="checkpoint to save")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, format=np.array(CHECKPOINT_FORMAT),
                        config=np.array(json.dumps(cfg.to_dict(), sort_keys=True)),
                        weights=weights.astype(np.int64), mask=mask.astype(bool))
    return atomic_write_bytes(path, buffer.getvalue(), force=force)


def load_checkpoint(path, cfg: CoreConfig):
    """Load ``(weights, mask)`` from a checkpoint written for ``cfg``.

    Refused (UserError) if the file is missing or malformed, or if it was written for a
    different config (the message lists the differing keys).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            missing = {"format", "config", "weights", "mask"} - keys
            if missing:
                raise UserError(f"checkpoint {str(path)!r} is not a spikeforge checkpoint "
                                f"(missing {', '.join(sorted(missing))})")
            fmt = str(data["format"])
            stored_text = str(data["config"])
            weights, mask = data["weights"], data["mask"]
    except UserError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise UserError(f"checkpoint {str(path)!r} is not a readable .npz file: {exc}") from None
    if fmt != CHECKPOINT_FORMAT:
        raise UserError(f"checkpoint {str(path)!r} has format {fmt!r}; this version reads "
                        f"{CHECKPOINT_FORMAT!r}")
    try:
        stored = json.loads(stored_text)
        if not isinstance(stored, dict):
            raise ValueError("not a table")
    except ValueError:
        raise UserError(f"checkpoint {str(path)!r}: its recorded config is unreadable") from None
    current = cfg.to_dict()
    differing = sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))
    if differing:
        detail = ", ".join(f"{k}: checkpoint {stored.get(k)!r} vs config {current.get(k)!r}"
                           for k in differing)
        raise UserError(f"checkpoint {str(path)!r} was written for a different config ({detail})")
    return _validated(cfg, weights, mask, what=f"checkpoint {str(path)!r}")


def _validated(cfg: CoreConfig, weights, mask, *, what: str):
    shape = (cfg.n_inputs, cfg.n_neurons)
    weights, mask = np.asarray(weights), np.asarray(mask)
    if weights.shape != shape or mask.shape != shape:
        raise UserError(f"{what}: weights {weights.shape} and mask {mask.shape} must both have "
                        f"shape {shape} (n_inputs, n_neurons)")
    if weights.dtype.kind not in "iu":
        raise UserError(f"{what}: weights must be integers, not {weights.dtype}")
    if mask.dtype != np.bool_:
        if mask.dtype.kind not in "iu" or not np.isin(mask, (0, 1)).all():
            raise UserError(f"{what}: mask must hold only 0/1 (booleans)")
        mask = mask.astype(bool)
    if weights.size and (weights.min() < 0 or weights.max() > cfg.w_max):
        raise UserError(f"{what}: weights must lie in [0, {cfg.w_max}] for weight_bits = "
                        f"{cfg.weight_bits}, found [{weights.min()}, {weights.max()}]")
    if (weights[~mask] != 0).any():
        raise UserError(f"{what}: pruned synapses (mask 0) must hold weight 0")
    return weights.astype(np.int64), mask
