"""Fixtures of the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.settings import ENV_VARS


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DATA_DIR in the test's folder, every other videofactory variable unset (embedded mode)."""
    for var in ENV_VARS:
        monkeypatch.delenv(var.name, raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(data))
    return data
