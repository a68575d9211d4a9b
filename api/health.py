"""GET /v1/health: can this API reach its database and broker?"""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from api.context import services
from api.errors import error_body
from store.db import DatabaseUnavailable, ping

bp = Blueprint("health", __name__, url_prefix="/v1/health")


@bp.get("")
def health() -> ResponseReturnValue:
    """200 when database and broker answer, 503 naming the one that does not."""
    svc = services()
    database: dict[str, object] = {"ok": True}
    try:
        ping(svc.engine)
    except DatabaseUnavailable as exc:
        database = {"ok": False, "error": str(exc)}
    if svc.redis is None:
        broker: dict[str, object] = {"ok": True, "mode": "in-process"}
    else:
        try:
            svc.redis.ping()
            broker = {"ok": True, "mode": "redis"}
        except Exception as exc:  # noqa: BLE001 - any failure means unreachable
            broker = {"ok": False, "mode": "redis", "error": str(exc)}
    healthy = bool(database["ok"] and broker["ok"])
    body: dict[str, object] = {"status": "ok" if healthy else "unavailable",
                               "database": database, "broker": broker}
    if not healthy:  # like every other 5xx, it carries an `error`
        down = " and ".join(name for name, part in (("database", database), ("broker", broker))
                            if not part["ok"])
        body["error"] = error_body("unavailable",
                                   f"the {down} does not answer; retry in a moment")["error"]
    return jsonify(body), 200 if healthy else 503
