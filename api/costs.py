"""/v1/costs: what the account's jobs used and cost, summed per provider, day, job, profile
or operation."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue

from api.auth import require_account
from api.context import db_session
from api.errors import ApiError
from store.accounts import owned_profile
from store.costs import COST_GROUPS, cost_totals

bp = Blueprint("costs", __name__, url_prefix="/v1/costs")


def parse_day(text: str | None, field: str) -> datetime | None:
    """`2026-12-01` (a UTC day's start) or a full ISO time; None when not given."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, "invalid_field", f"{field}: not a date; use 2026-12-01 or "
                       "2026-12-01T09:00:00Z", field) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@bp.get("")
@require_account
def get_costs() -> ResponseReturnValue:
    """Totals per group (`group_by`), with the units used, for the account's rows only."""
    group_by = request.args.get("group_by", "provider")
    if group_by not in COST_GROUPS:
        raise ApiError(422, "invalid_field", f"group_by: must be one of {', '.join(COST_GROUPS)}",
                       "group_by")
    profile_id = request.args.get("profile_id") or None
    if profile_id is not None and owned_profile(db_session(), g.account.id, profile_id) is None:
        raise ApiError(404, "profile_not_found", f"profile_id: no profile {profile_id!r}",
                       "profile_id")
    start = parse_day(request.args.get("from"), "from")
    end = parse_day(request.args.get("to"), "to")
    if end is not None and len(request.args.get("to", "")) == 10:
        end += timedelta(days=1)  # a day given as `to` is included whole
    if start is not None and end is not None and end <= start:
        raise ApiError(422, "invalid_field", "to: must come after from", "to")
    totals = cost_totals(db_session(), g.account.id, group_by=group_by, profile_id=profile_id,
                         start=start, end=end)
    return jsonify({**totals, "from": request.args.get("from"), "to": request.args.get("to"),
                    "profile_id": profile_id})
