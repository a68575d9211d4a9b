"""Per-request access to the app's services and a short database session."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from store.services import Services


def services() -> Services:
    """The services the app was created with."""
    return current_app.extensions["videofactory"]["services"]  # type: ignore[no-any-return]


def dispatcher() -> Any:
    """Where new jobs go: a Celery chain or the in-process runner."""
    return current_app.extensions["videofactory"]["dispatcher"]


def db_session() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "db" not in g:
        g.db = services().sessions()
    return g.db  # type: ignore[no-any-return]


def _close_session(_error: BaseException | None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()


def init_app(app: Flask) -> None:
    """Close the request's session when the request ends."""
    app.teardown_appcontext(_close_session)
