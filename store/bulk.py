"""Many rows into one table at once: COPY on PostgreSQL, a multi-row INSERT elsewhere.

A 10,000-item feed writes some 90,000 rows (projects, jobs, their stages and progress, the
items). Postgres takes them through COPY several times faster than through INSERT
statements, whose parameters it must parse and plan chunk after chunk.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, insert
from sqlalchemy.orm import Session

from store.models import Base


def insert_rows(session: Session, model: type[Base], rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (each with the same columns) in the session's transaction.

    The rows do not enter the session's identity map, as with a core INSERT.
    """
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(insert(model), list(rows))
        return
    from psycopg import sql

    table = model.__table__
    names = list(rows[0])
    # JSON columns go as their JSON text, as SQLAlchemy's JSON type would write them.
    as_json = [isinstance(table.c[name].type, JSON) for name in names]  # type: ignore[attr-defined]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name),  # type: ignore[attr-defined]
        sql.SQL(", ").join(sql.Identifier(name) for name in names))
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([json.dumps(row[name], ensure_ascii=False) if encode else row[name]
                            for name, encode in zip(names, as_json, strict=True)])
