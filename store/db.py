"""Engine and short-lived sessions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker


class DatabaseUnavailable(RuntimeError):
    """The database did not answer; most likely transient (restart, network, failover)."""


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # SQLite ignores ON DELETE CASCADE unless asked; WAL lets the API read while a job writes.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(database_url: str) -> Engine:
    """Create the engine; SQLite gets its directory, pragmas and cross-thread use."""
    url = make_url(database_url)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
    elif url.get_backend_name() == "postgresql":
        # Fail in seconds when Postgres is down, so the API can answer 503 instead of hanging.
        # A connection whose peer vanished (a cut network) fails once unacknowledged data or
        # unanswered keepalives are 15 s old, instead of blocking for the kernel's ~15 minutes
        # of retransmissions: heartbeats reconnect soon after the network returns.
        kwargs["connect_args"] = {"connect_timeout": 5, "tcp_user_timeout": 15000,
                                  "keepalives": 1, "keepalives_idle": 10,
                                  "keepalives_interval": 5, "keepalives_count": 2}
        kwargs["pool_timeout"] = 5
    engine = create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _enable_sqlite_pragmas)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions keep loaded values after commit, so callers can read them outside."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error, always close."""
    session = factory()
    try:
        yield session
        session.commit()
    except (OperationalError, DBAPIError) as exc:
        session.rollback()
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            raise DatabaseUnavailable(str(exc.orig or exc).strip().splitlines()[0]) from exc
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def ping(engine: Engine) -> None:
    """Raise DatabaseUnavailable unless the database answers a trivial query."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except (OperationalError, DBAPIError) as exc:
        raise DatabaseUnavailable(str(exc.orig or exc).strip().splitlines()[0]) from exc
