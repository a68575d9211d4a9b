"""Shared fixtures: settings, a fresh Postgres database, a private Redis DB, an S3 server."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bench.fleet import fresh_database, private_redis_db
from store.migrate import upgrade
from store.settings import Settings
from tests.support.s3 import S3Server, create_bucket, delete_bucket, s3_server_running

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
REDIS_SERVER_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")


@pytest.fixture
def embedded_settings(tmp_path: Path) -> Settings:
    """Embedded-mode settings (SQLite, no Redis) inside the test's own folder."""
    return Settings.from_env({"DATA_DIR": str(tmp_path / "data")})


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh Postgres database for this test session, migrated to head with Alembic."""
    with fresh_database(POSTGRES_ADMIN_URL, f"vf_test_{secrets.token_hex(4)}") as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """An empty Redis database number of our own, flushed afterwards."""
    with private_redis_db(REDIS_SERVER_URL) as url:
        yield url


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server as a separate process for this session (state kept in memory)."""
    with s3_server_running() as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> Iterator[str]:
    """The name of a fresh, empty bucket on the session's S3 server, deleted afterwards."""
    name = create_bucket(s3_server.client)
    yield name
    delete_bucket(s3_server.client, name)


@pytest.fixture
def distributed_settings(tmp_path: Path, postgres_url: str, redis_url: str) -> Settings:
    """Settings of the distributed mode against the session's Postgres and Redis."""
    base = Settings.from_env({"DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": postgres_url,
                              "REDIS_URL": redis_url})
    return replace(base, redis_key_prefix=f"vftest-{secrets.token_hex(3)}")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """CLI commands configure root logging onto the runner's stderr; put it back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
