"""spikeforge.fileio: atomic writes, no silent overwrite, checkpoints bound to configs."""

import json
import os

import numpy as np
import pytest

from spikeforge import fileio
from spikeforge.config import CoreConfig
from spikeforge.errors import UserError

CFG = CoreConfig(n_inputs=6, n_neurons=3, lanes=1, weight_bits=4, potential_bits=8)


def _state(seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.random((CFG.n_inputs, CFG.n_neurons)) > 0.3
    weights = np.where(mask, rng.integers(0, CFG.w_max + 1, mask.shape), 0)
    return weights, mask


def test_atomic_write_creates_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "report.json"
    fileio.atomic_write_text(target, "first\n")
    assert target.read_text() == "first\n"
    with pytest.raises(UserError, match="already exists: use --force"):
        fileio.atomic_write_text(target, "second\n")
    assert target.read_text() == "first\n"
    fileio.atomic_write_text(target, "second\n", force=True)
    assert target.read_text() == "second\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]   # no temp left


def test_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch):
    """A failure in the middle of the write (simulated: fsync raises, as on a full disk)
    leaves neither the destination nor a temporary file, and an existing file intact."""
    target = tmp_path / "ckpt.npz"

    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(UserError, match="No space left on device"):
        fileio.atomic_write_bytes(target, b"x" * 100_000)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    fileio.atomic_write_bytes(target, b"old")
    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(UserError):
        fileio.atomic_write_bytes(target, b"new" * 1000, force=True)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]


def test_keyboard_interrupt_mid_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    real_fdopen = os.fdopen

    class Interrupting:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(data[: len(data) // 2])    # half of it reached the disk
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: Interrupting(real_fdopen(fd, mode)))
    with pytest.raises(KeyboardInterrupt):
        fileio.atomic_write_text(target, "complete line\n" * 100)
    assert list(tmp_path.iterdir()) == []


def test_write_errors_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        fileio.atomic_write_text(tmp_path / "missing" / "x.txt", "x")
    with pytest.raises(UserError, match="is a directory"):
        fileio.atomic_write_text(tmp_path, "x", force=True)


def test_checkpoint_round_trip_is_exact(tmp_path):
    weights, mask = _state()
    path = fileio.save_checkpoint(tmp_path / "c.npz", CFG, weights, mask)
    w, m = fileio.load_checkpoint(path, CFG)
    np.testing.assert_array_equal(w, weights)
    np.testing.assert_array_equal(m, mask)
    assert w.dtype == np.int64 and m.dtype == bool
    with pytest.raises(UserError, match="already exists"):
        fileio.save_checkpoint(path, CFG, weights, mask)


def test_checkpoint_refused_by_a_different_config(tmp_path):
    weights, mask = _state()
    path = fileio.save_checkpoint(tmp_path / "c.npz", CFG, weights, mask)
    other = CFG.replace(lanes=2)
    with pytest.raises(UserError, match=r"different config \(lanes: checkpoint 1 vs config 2\)"):
        fileio.load_checkpoint(path, other)


@pytest.mark.parametrize("problem", ["not_zip", "empty", "missing_key", "bad_format",
                                     "bad_config", "wrong_shape", "weight_range",
                                     "pruned_nonzero", "float_weights", "missing_file"])
def test_malformed_checkpoints_are_refused(tmp_path, problem):
    path = tmp_path / "bad.npz"
    weights, mask = _state()
    good = dict(format=np.array(fileio.CHECKPOINT_FORMAT),
                config=np.array(json.dumps(CFG.to_dict(), sort_keys=True)),
                weights=weights, mask=mask)
    if problem == "not_zip":
        path.write_text("hello, not a checkpoint")
    elif problem == "empty":
        path.write_bytes(b"")
    elif problem == "missing_file":
        path = tmp_path / "nope.npz"
    else:
        changes = {
            "missing_key": {"mask": None},
            "bad_format": {"format": np.array("other-format-9")},
            "bad_config": {"config": np.array("{not json")},
            "wrong_shape": {"weights": weights[:-1]},
            "weight_range": {"weights": np.where(mask, CFG.w_max + 1, 0)},
            "pruned_nonzero": {"weights": np.where(mask, weights, 1)},
            "float_weights": {"weights": weights.astype(float)},
        }[problem]
        arrays = {k: v for k, v in {**good, **changes}.items() if v is not None}
        np.savez(path, **arrays)
    with pytest.raises(UserError) as info:
        fileio.load_checkpoint(path, CFG)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
