"""Alembic environment: online migrations only, serialised by an advisory lock on Postgres."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from store.db import make_engine
from store.models import Base

# Any fixed 64-bit number works; it only has to be the same for every migrator.
_MIGRATION_LOCK_ID = 0x76666D6967726174


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    engine = make_engine(url)
    with engine.connect() as connection:
        is_postgres = connection.dialect.name == "postgresql"
        if is_postgres:
            # A compose `migrate` service and a manual `videofactory db upgrade` must not
            # interleave their DDL.
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                compare_type=True,
                render_as_batch=True,  # SQLite can only ALTER through batch copies
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if is_postgres:
                connection.execute(text("SELECT pg_advisory_unlock(:id)"),
                                   {"id": _MIGRATION_LOCK_ID})
                connection.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run them online")
run_migrations_online()
