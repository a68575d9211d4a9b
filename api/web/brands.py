"""The brand pages: the account's profiles, and one profile's settings.

Secrets (LLM, stock and Postiz keys, the webhook secret) are write-only here as in the API:
the page shows whether each is set, and its field starts empty.
"""

from __future__ import annotations

from flask import g, render_template
from flask.typing import ResponseReturnValue

from api.context import services
from api.errors import ApiError
from api.profiles import profile_public
from api.web import options
from api.web.blueprint import bp
from api.web.session import signed_in_page
from store.models import Profile


def _owned_brand(profile_id: str) -> Profile:
    found = next((profile for profile in g.brands if profile.id == profile_id), None)
    if found is None:
        raise ApiError(404, "profile_not_found", "There is no such brand in this account.")
    return found


@bp.get("/brands")
@signed_in_page
def brands_page() -> ResponseReturnValue:
    """Every brand of the account, and a form for a new one."""
    return render_template("web/brands.html", brands=[profile_public(p) for p in g.brands])


@bp.get("/brands/<profile_id>")
@signed_in_page
def brand_page(profile_id: str) -> ResponseReturnValue:
    """One brand's look, voice, captions, script and publishing settings."""
    profile = profile_public(_owned_brand(profile_id))
    return render_template("web/brand.html", profile=profile,
                           voices=options.voice_groups(services().settings),
                           presets=options.preset_choices(),
                           secrets_available=bool(services().settings.secret_key))
