"""Shared store fixtures: one engine per database kind, both migrated to head."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from store.db import make_engine
from store.migrate import upgrade


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database migrated to head: a tmp SQLite file or the session's Postgres."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        upgrade(url)
    else:
        url = request.getfixturevalue("postgres_url")
    eng = make_engine(url)
    yield eng
    eng.dispose()
