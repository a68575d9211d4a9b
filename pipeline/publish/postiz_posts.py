"""Turn a PostPlan (one video for one channel) into the body of Postiz's `POST /posts`.

The settings follow Postiz's DTOs (libraries/nestjs-libraries/src/dtos/posts/providers-settings/
tiktok.dto.ts, youtube.settings.dto.ts, instagram.dto.ts); Postiz validates them even for
drafts, so a wrong value fails here, with the field named, instead of as a 400 later.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from pipeline.publish.postiz import PostRequest, UploadedMedia, iso_utc

PLATFORMS = ("tiktok", "youtube", "instagram")
POST_TYPES = ("draft", "schedule", "now")

TIKTOK_PRIVACY = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR",
                  "SELF_ONLY")
# Every field the DTO requires is sent: it validates them all, even where TikTok ignores them.
TIKTOK_DEFAULTS: Mapping[str, Any] = {
    # Unaudited TikTok apps may only post SELF_ONLY; TikTok refuses other levels for them.
    "privacy_level": "PUBLIC_TO_EVERYONE",
    "duet": False,                # "allow duet", the Postiz UI's default
    "stitch": False,
    "comment": True,
    "autoAddMusic": "no",         # photo posts only; the DTO still requires it
    "brand_content_toggle": False,
    "brand_organic_toggle": False,
    "video_made_with_ai": True,   # our videos are generated: TikTok's AIGC label
    "content_posting_method": "DIRECT_POST",  # UPLOAD only drops it in the app's inbox
}
YOUTUBE_DEFAULTS: Mapping[str, Any] = {"type": "public", "selfDeclaredMadeForKids": "no"}
INSTAGRAM_DEFAULTS: Mapping[str, Any] = {"post_type": "post"}  # a video "post" is a Reel

_CHOICES: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "tiktok": {"privacy_level": TIKTOK_PRIVACY, "autoAddMusic": ("yes", "no"),
               "content_posting_method": ("DIRECT_POST", "UPLOAD")},
    "youtube": {"type": ("public", "private", "unlisted"),
                "selfDeclaredMadeForKids": ("yes", "no")},
    "instagram": {"post_type": ("post", "story")},
}
_BOOLEANS: Mapping[str, tuple[str, ...]] = {
    "tiktok": ("duet", "stitch", "comment", "brand_content_toggle", "brand_organic_toggle",
               "video_made_with_ai"),
    "youtube": (), "instagram": ("is_trial_reel",),
}
YOUTUBE_TITLE_LENGTH = (2, 100)
YOUTUBE_TAGS_MAX = 500  # Postiz's YOUTUBE_TAGS_MAX_LENGTH: all labels, +2 for each with a space

# Four invisible characters carry the marker's bits, two per character.
_MARKER_DIGITS = "\u200b\u200c\u200d\u2060"
_MARKER_START = "\u2063"  # INVISIBLE SEPARATOR: where the marker begins


@dataclass(frozen=True)
class PostPlan:
    """One video for one channel: what `build_request` needs."""

    platform: str                 # tiktok | youtube | instagram
    integration_id: str
    post_type: str                # draft | schedule | now
    date: datetime                # aware; Postiz replaces it with its own clock for "now"
    caption: str                  # the post text (YouTube: the description)
    media: tuple[UploadedMedia, ...] = ()
    title: str = ""               # YouTube's video title; unused elsewhere
    tags: tuple[str, ...] = ()    # YouTube's video tags
    settings: Mapping[str, Any] = field(default_factory=dict)  # overrides over the defaults
    marker: str = ""              # content_marker(job id): the content's last line


def utf16_length(text: str) -> int:
    """Length as JavaScript counts it (Postiz's limits): characters beyond U+FFFF count 2."""
    return len(text.encode("utf-16-le")) // 2


def content_marker(key: str) -> str:
    """An invisible, fixed marker for `key` (the job id plus the channel), for `find_post`.

    64 bits of SHA-256 of the key, written with zero-width characters after an invisible
    separator: nothing shows in the caption, the same key always gives the same marker, and
    two keys collide with odds of 1 in 2**64.
    """
    value = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    digits = "".join(_MARKER_DIGITS[(value >> shift) & 3] for shift in range(62, -2, -2))
    return _MARKER_START + digits


def caption_with_marker(caption: str, marker: str) -> str:
    """The text the platform receives: the caption, then the marker on a line of its own.

    On its own line so that the caption's last hashtag or link stays intact; pre-publish
    checks should measure this text, since the marker counts towards length limits.
    """
    caption = caption.replace("\r\n", "\n").strip("\n")
    return f"{caption}\n{marker}" if marker else caption


def content_html(caption: str, marker: str = "") -> str:
    """The caption as the paragraphs Postiz's editor produces, one `<p>` per line.

    Plain text would pass through Postiz's HTML sanitiser and reach the platform with `&`
    written as `&amp;`; paragraphs are converted back to exact text when Postiz publishes.
    """
    lines = caption_with_marker(caption, marker).split("\n")
    return "".join(f"<p>{escape(line, quote=False)}</p>" for line in lines)


def render_title(template: str, values: Mapping[str, str]) -> str:
    """Fill a title template such as "{title} #shorts"; cut at a word to YouTube's 100.

    Raises ValueError naming a placeholder that `values` lacks.
    """
    names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    missing = [name for name in names if name not in values]
    if missing:
        raise ValueError(f"title template: unknown placeholder {{{missing[0]}}} "
                         f"(known: {', '.join(sorted(values)) or 'none'})")
    title = " ".join(template.format_map(values).split())
    limit = YOUTUBE_TITLE_LENGTH[1]
    if utf16_length(title) <= limit:
        return title
    cut = title
    while utf16_length(cut) > limit - 1:
        cut = cut[:-1]
    word_cut = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return word_cut.rstrip(" ,.;:-") + "…"


def post_settings(platform: str, *, title: str = "", tags: Sequence[str] = (),
                  overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The provider settings for one post: our defaults, then `overrides`, checked.

    `__type` is sent for readability; Postiz overwrites it with the channel's provider.
    """
    if platform not in PLATFORMS:
        raise ValueError(f"platform: {platform!r} is not one of {', '.join(PLATFORMS)}")
    defaults = {"tiktok": TIKTOK_DEFAULTS, "youtube": YOUTUBE_DEFAULTS,
                "instagram": INSTAGRAM_DEFAULTS}[platform]
    settings: dict[str, Any] = {"__type": platform, **defaults}
    if platform == "youtube":
        settings["title"] = title
        settings["tags"] = [{"value": tag, "label": tag} for tag in tags]
    settings.update(overrides or {})
    _check_settings(platform, settings)
    return settings


def build_request(plan: PostPlan) -> PostRequest:
    """The `POST /posts` body for one plan: one channel per request, so a failure can never
    leave half a request created."""
    if plan.post_type not in POST_TYPES:
        raise ValueError(f"post_type: {plan.post_type!r} is not one of {', '.join(POST_TYPES)}")
    if not plan.integration_id:
        raise ValueError("integration_id: must not be empty")
    if plan.post_type != "draft" and len(plan.media) != 1:
        raise ValueError(f"media: a {plan.platform} post needs exactly one video "
                         f"({len(plan.media)} given)")
    settings = post_settings(plan.platform, title=plan.title, tags=plan.tags,
                             overrides=plan.settings)
    body = {
        "type": plan.post_type,
        "date": iso_utc(plan.date),
        "shortLink": False,  # Postiz's short links would rewrite the caption's URLs
        "tags": [],
        "posts": [{
            "integration": {"id": plan.integration_id},
            "value": [{"content": content_html(plan.caption, plan.marker),
                       "image": [{"id": item.id, "path": item.path} for item in plan.media]}],
            "settings": settings,
        }],
    }
    return PostRequest(body=body)


def _check_settings(platform: str, settings: Mapping[str, Any]) -> None:
    for name, allowed in _CHOICES[platform].items():
        if name in settings and settings[name] not in allowed:
            raise ValueError(f"settings.{name}: {settings[name]!r} is not one of "
                             f"{', '.join(allowed)}")
    for name in _BOOLEANS[platform]:
        if name in settings and not isinstance(settings[name], bool):
            raise ValueError(f"settings.{name}: must be true or false, not "
                             f"{settings[name]!r}")
    if platform == "youtube":
        low, high = YOUTUBE_TITLE_LENGTH
        length = utf16_length(str(settings.get("title", "")))
        if not low <= length <= high:
            raise ValueError(f"settings.title: YouTube titles are {low}-{high} characters, "
                             f"this one has {length}")
        total = sum(utf16_length(tag["label"]) + (2 if _has_space(tag["label"]) else 0)
                    for tag in settings.get("tags", []))
        if total > YOUTUBE_TAGS_MAX:
            raise ValueError(f"settings.tags: {total} characters in all; YouTube allows "
                             f"{YOUTUBE_TAGS_MAX}")


def _has_space(text: str) -> bool:
    """YouTube quotes a tag with whitespace, which costs two characters of the limit."""
    return any(char.isspace() for char in text)
