"""Refuse what no database of ours can store: a NUL character in a path, a query or a body.

Postgres text cannot hold U+0000 (SQLite can), so a NUL that reached a query failed there,
as a 500, instead of being refused as bad input. No id, name, filter or text of ours ever
needs one.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request

from api.errors import ApiError

NUL = "\x00"


def nul_field(value: Any, path: str = "") -> str | None:
    """Where decoded JSON holds a NUL, in a key or a string, named as `error.field` names
    fields (`source.scenes.2.narration`); None when it holds none."""
    if isinstance(value, str):
        return path or "body" if NUL in value else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        inner = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and NUL in key:
            return inner
        found = nul_field(item, inner)
        if found is not None:
            return found
    return None


def refuse_nul(value: Any) -> None:
    """422 naming the field when decoded JSON holds a NUL character."""
    field = nul_field(value)
    if field is not None:
        raise ApiError(422, "invalid_field", f"{field}: must not contain a NUL character (U+0000)",
                       field)


def _refuse_nul_in_url() -> None:
    for name, value in (request.view_args or {}).items():
        # Ids are ours, made of letters, digits and "_": one with a NUL names nothing.
        if isinstance(value, str) and NUL in value:
            raise ApiError(404, "not_found", f"{name}: nothing here has a NUL character (U+0000) "
                           "in its id or name")
    for name, value in request.args.items(multi=True):
        if NUL in name or NUL in value:
            raise ApiError(422, "invalid_field",
                           f"{name}: must not contain a NUL character (U+0000)", name)


def init_app(app: Flask) -> None:
    """Check every request's path and query before its view runs."""
    app.before_request(_refuse_nul_in_url)
