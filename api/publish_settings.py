"""A profile's publishing settings: Postiz (where, which channels, when, how) and a signed
webhook, merged field by field like the other profile settings. Their secrets travel with
the others, sealed; the profile shows only whether each is set."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from api.errors import ApiError
from api.schemas import PublishSettingsIn
from api.sources import is_http_url

# Where the API names each sealed secret in its errors.
SECRET_FIELDS = {"llm_api_key": "llm.api_key", "postiz_api_key": "publish.postiz.api_key",
                 "webhook_secret": "publish.webhook.secret"}
_PLATFORMS = ("tiktok", "youtube", "instagram")


def _url(value: str, field: str, what: str) -> str:
    if not is_http_url(value):
        raise ApiError(422, "invalid_field", f"{field}: must be the http(s) URL of {what}", field)
    return value.rstrip("/")


def merge_publish(current: dict[str, Any], update: PublishSettingsIn) -> dict[str, Any]:
    """The stored publish settings with the update merged ("" clears a text field)."""
    merged = {name: dict(part) for name, part in current.items() if isinstance(part, dict)}
    if update.postiz is not None:
        postiz = merged.setdefault("postiz", {})
        sent = update.postiz.model_dump(exclude_none=True, exclude={"api_key"}, by_alias=True)
        for name, value in sent.items():
            if name == "base_url":
                if value:
                    postiz[name] = _url(value, "publish.postiz.base_url", "your Postiz API, as "
                                        "in http://postiz:4007/api/public/v1")
                else:
                    postiz.pop(name, None)
            elif name == "integrations":
                links = {**(postiz.get(name) or {}), **value}
                postiz[name] = {platform: ref for platform, ref in links.items() if ref}
            elif name in _PLATFORMS:
                postiz[name] = {**(postiz.get(name) or {}), **value}
            elif name == "timezone":
                try:
                    ZoneInfo(value)
                except (ZoneInfoNotFoundError, ValueError):
                    raise ApiError(422, "invalid_field", "publish.postiz.timezone: not a time "
                                   "zone; use an IANA name as in Europe/Berlin",
                                   "publish.postiz.timezone") from None
                postiz[name] = value
            else:
                postiz[name] = value
    if update.webhook is not None and update.webhook.url is not None:
        webhook = merged.setdefault("webhook", {})
        if update.webhook.url:
            webhook["url"] = _url(update.webhook.url, "publish.webhook.url",
                                  "your webhook receiver")
        else:
            webhook.pop("url", None)
    return merged


def publish_public(settings: dict[str, Any]) -> dict[str, Any]:
    """The JSON form: everything but the secrets, which show as set or not."""
    stored = settings.get("publish") or {}
    sealed = settings.get("secrets") or {}
    return {"postiz": {**(stored.get("postiz") or {}),
                       "api_key_set": bool(sealed.get("postiz_api_key"))},
            "webhook": {**(stored.get("webhook") or {}),
                        "secret_set": bool(sealed.get("webhook_secret"))}}
