"""/v1/webhooks/deliveries: the delivery log of the account's webhook events."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from api.auth import require_account
from api.context import db_session
from api.errors import ApiError
from api.jobs import list_limit
from store.models import WebhookDelivery
from worker.webhooks import delivery_public

bp = Blueprint("webhooks", __name__, url_prefix="/v1/webhooks")
_STATUSES = ("pending", "delivered", "failed")


@bp.get("/deliveries")
@require_account
def list_deliveries() -> ResponseReturnValue:
    """The account's deliveries, newest first: each event, its URL, attempts and outcome."""
    limit = list_limit()
    query = select(WebhookDelivery).where(WebhookDelivery.account_id == g.account.id)
    status = request.args.get("status")
    if status is not None:
        if status not in _STATUSES:
            raise ApiError(422, "invalid_field", f"status: must be one of {', '.join(_STATUSES)}",
                           "status")
        query = query.where(WebhookDelivery.status == status)
    before_id = request.args.get("before")
    if before_id is not None:
        before = db_session().get(WebhookDelivery, before_id)
        if before is None or before.account_id != g.account.id:
            raise ApiError(422, "invalid_field", f"before: no delivery {before_id!r}; pass the "
                           "next_before of the previous page", "before")
        query = query.where((WebhookDelivery.created_at < before.created_at)
                            | ((WebhookDelivery.created_at == before.created_at)
                               & (WebhookDelivery.id < before.id)))
    rows = list(db_session().scalars(query.order_by(WebhookDelivery.created_at.desc(),
                                                    WebhookDelivery.id.desc()).limit(limit + 1)))
    page = rows[:limit]
    return jsonify({"deliveries": [delivery_public(row) for row in page],
                    "next_before": page[-1].id if len(rows) > limit else None})
