"""Shared pytest fixtures (small and generic)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def sim_cache_dir() -> Path:
    """Where simulator builds are cached across test runs (``build/sim`` in the repo, or
    ``$SPIKEFORGE_SIM_CACHE``): compiling the core is the slow part of every cocotb test,
    and a build is keyed by config and hardware sources, so reuse is safe."""
    path = Path(os.environ.get("SPIKEFORGE_SIM_CACHE", REPO_ROOT / "build" / "sim"))
    path.mkdir(parents=True, exist_ok=True)
    return path
