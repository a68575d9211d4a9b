"""/v1/profiles: a brand's defaults (voice, caption style) for every job it makes."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from api.auth import require_account
from api.context import db_session
from api.errors import ApiError
from api.schemas import ProfileUpdate, parse_body
from store.accounts import owned_profile
from store.models import Profile

bp = Blueprint("profiles", __name__, url_prefix="/v1/profiles")


def profile_public(profile: Profile) -> dict[str, Any]:
    """The JSON form of a profile."""
    settings = profile.settings or {}
    return {"id": profile.id, "name": profile.name, "is_default": profile.is_default,
            "voice": settings.get("voice") or {}, "captions": settings.get("captions") or {}}


@bp.get("")
@require_account
def list_profiles() -> ResponseReturnValue:
    """The account's profiles, default first."""
    profiles = db_session().scalars(
        select(Profile).where(Profile.account_id == g.account.id)
        .order_by(Profile.is_default.desc(), Profile.created_at)
    )
    return jsonify({"profiles": [profile_public(p) for p in profiles]})


@bp.patch("/<profile_id>")
@require_account
def update_profile(profile_id: str) -> ResponseReturnValue:
    """Change the name or merge new voice and caption defaults into the profile."""
    profile = owned_profile(db_session(), g.account.id, profile_id)
    if profile is None:
        raise ApiError(404, "profile_not_found", f"no profile {profile_id!r}")
    raw = request.get_data(cache=False)
    try:
        decoded = json.loads(raw) if raw.strip() else None
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    update: ProfileUpdate = parse_body(decoded, ProfileUpdate)
    settings = dict(profile.settings or {})
    for key in ("voice", "captions"):
        part = getattr(update, key)
        if part is not None:
            settings[key] = {**(settings.get(key) or {}), **part.model_dump(exclude_none=True)}
    profile.settings = settings
    if update.name:
        profile.name = update.name
    db_session().commit()
    return jsonify(profile_public(profile))
