"""/v1/profiles: a brand's defaults (voice, captions, look, logo, music) for every job it makes.

Settings live in the profile row; the logo and the music bed are files in media storage under
`profiles/<id>/`, so a worker reads them by key like any other artifact.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue
from PIL import Image, ImageOps
from sqlalchemy import delete, func, select

from api.auth import require_account
from api.context import db_session, services
from api.errors import ApiError
from api.publish_settings import SECRET_FIELDS, merge_publish, publish_public
from api.schemas import LLMSettingsIn, ProfileUpdate, json_body
from api.sources import is_http_url
from api.uploads import media_errors, media_tools, receive_body, stored_name
from pipeline.publish.postiz import PostizClient, PostizError
from pipeline.render.audio_mix import DEFAULT_MUSIC_GAIN_DB, MUSIC_EXTENSIONS
from pipeline.render.presets import DEFAULT_PRESET, PRESETS
from pipeline.sources.inspect import check_audio, check_image
from store.accounts import default_profile, owned_profile
from store.jobs import ACTIVE_STATUSES, AWAITING_REVIEW
from store.models import Job, Profile, new_id
from store.secrets import PROFILE_SECRETS, SecretBox, SecretsUnavailable, SecretUnreadable

bp = Blueprint("profiles", __name__, url_prefix="/v1/profiles")

MAX_LOGO_BYTES = 5 * 1024 * 1024
MAX_LOGO_PIXELS = 16_000_000  # a watermark needs far less; this bounds the decode
MIN_MUSIC_SECONDS = 5.0
LOGO_ACCEPTS = (f"send a PNG or JPEG image of at most {MAX_LOGO_PIXELS // 1_000_000} "
                "megapixels")
MUSIC_ACCEPTS = (f"send an MP3, M4A, AAC, WAV, OGG/Opus or FLAC track of at least "
                 f"{MIN_MUSIC_SECONDS:g} seconds")


def logo_key(profile_id: str) -> str:
    """Where a profile's logo is stored (always PNG)."""
    return f"profiles/{profile_id}/logo.png"


def music_dir(profile_id: str) -> str:
    """The media key of a profile's music folder."""
    return f"profiles/{profile_id}/music"


def music_names(profile_id: str) -> list[str]:
    """The profile's music files, by name, as the render's music picker sees them."""
    prefix = music_dir(profile_id) + "/"
    names = (key[len(prefix):] for key in services().media.list(music_dir(profile_id)))
    # Only plain names directly in the folder, with an ending the picker would choose.
    return sorted(name for name in names if "/" not in name and not name.startswith(".")
                  and PurePosixPath(name).suffix.lower() in MUSIC_EXTENSIONS)


def brand_snapshot(profile: Profile) -> dict[str, Any]:
    """The profile's look for a new job: colours and font, plus the logo and music it has now."""
    brand = dict((profile.settings or {}).get("brand") or {})
    if services().media.exists(logo_key(profile.id)):
        brand["logo"] = logo_key(profile.id)
    if music_names(profile.id):
        brand["music_dir"] = music_dir(profile.id)
    return brand


def profile_public(profile: Profile) -> dict[str, Any]:
    """The JSON form of a profile."""
    settings = profile.settings or {}
    return {"id": profile.id, "name": profile.name, "is_default": profile.is_default,
            "voice": settings.get("voice") or {}, "captions": settings.get("captions") or {},
            "brand": settings.get("brand") or {}, "quality": settings.get("quality"),
            "preset": settings.get("preset") or DEFAULT_PRESET,
            "music_volume_db": settings.get("music_volume_db", DEFAULT_MUSIC_GAIN_DB),
            "call_to_action": settings.get("call_to_action") or None,
            "logo": services().media.exists(logo_key(profile.id)),
            "music": music_names(profile.id),
            "script": settings.get("script") or {}, "visuals": settings.get("visuals") or "auto",
            "review": bool(settings.get("review")), "llm": settings.get("llm") or {},
            "hashtags": settings.get("hashtags") or [],
            "publish": publish_public(settings),
            # Secrets are write-only: whether each is set, never its value.
            **{f"{name}_set": bool((settings.get("secrets") or {}).get(name))
               for name in PROFILE_SECRETS}}


def _owned(profile_id: str) -> Profile:
    profile = owned_profile(db_session(), g.account.id, profile_id)
    if profile is None:  # another account's profile is "not found" too
        raise ApiError(404, "profile_not_found", f"no profile {profile_id!r}")
    return profile


@bp.get("")
@require_account
def list_profiles() -> ResponseReturnValue:
    """The account's profiles, default first."""
    profiles = db_session().scalars(
        select(Profile).where(Profile.account_id == g.account.id)
        .order_by(Profile.is_default.desc(), Profile.created_at)
    )
    return jsonify({"profiles": [profile_public(p) for p in profiles]})


@bp.post("")
@require_account
def create_profile() -> ResponseReturnValue:
    """A new brand with the settings sent (the same fields as PATCH; `name` required);
    201 with it. The account's first profile stays its default until another is made so."""
    update: ProfileUpdate = json_body(ProfileUpdate)
    if not update.name:
        raise ApiError(422, "missing_field", "name: a new profile needs a name", "name")
    profile = Profile(id=new_id("prof"), account_id=g.account.id, name=update.name,
                      is_default=default_profile(db_session(), g.account.id) is None,
                      settings=_updated_settings({}, update))
    db_session().add(profile)
    db_session().commit()
    return jsonify(profile_public(profile)), 201


@bp.get("/<profile_id>")
@require_account
def get_profile(profile_id: str) -> ResponseReturnValue:
    """One of the account's profiles."""
    return jsonify(profile_public(_owned(profile_id)))


@bp.post("/<profile_id>/default")
@require_account
def make_default(profile_id: str) -> ResponseReturnValue:
    """Make this profile the account's default (the one before stops being it)."""
    profile = _owned(profile_id)
    session = db_session()
    for other in session.scalars(select(Profile).where(Profile.account_id == g.account.id,
                                                       Profile.is_default.is_(True))):
        other.is_default = False
    session.flush()
    profile.is_default = True
    session.commit()
    return jsonify(profile_public(profile))


@bp.delete("/<profile_id>")
@require_account
def delete_profile(profile_id: str) -> ResponseReturnValue:
    """Delete a brand that is not the default and has no job under way: its projects, logo
    and music go; its jobs, batches and costs stay, with no profile."""
    profile = _owned(profile_id)
    if profile.is_default:
        raise ApiError(409, "default_profile",
                       f"profile {profile_id} is the account's default: make another profile "
                       "the default first (POST /v1/profiles/<id>/default), then delete this one")
    session = db_session()
    busy = session.scalar(select(func.count()).select_from(Job).where(
        Job.profile_id == profile.id,
        Job.status.in_((*ACTIVE_STATUSES, AWAITING_REVIEW)))) or 0
    if busy:
        raise ApiError(409, "profile_in_use",
                       f"profile {profile_id} has {busy} jobs queued, running or awaiting "
                       "review; cancel them or let them finish, then delete it")
    media = services().media
    stored = [logo_key(profile.id), *(f"{music_dir(profile.id)}/{name}"
                                      for name in music_names(profile.id))]
    session.execute(delete(Profile).where(Profile.id == profile.id))
    session.commit()
    for key in stored:
        media.delete(key)
    return jsonify({"id": profile_id, "deleted": True})


@bp.patch("/<profile_id>")
@require_account
def update_profile(profile_id: str) -> ResponseReturnValue:
    """Change the name, quality, call to action, visuals, review default or secrets, or merge
    new voice, caption, brand, script and LLM defaults."""
    profile = _owned(profile_id)
    update: ProfileUpdate = json_body(ProfileUpdate)
    profile.settings = _updated_settings(dict(profile.settings or {}), update)
    if update.name:
        profile.name = update.name
    db_session().commit()
    return jsonify(profile_public(profile))


def _updated_settings(settings: dict[str, Any], update: ProfileUpdate) -> dict[str, Any]:
    """The stored settings with the update merged in, as PATCH and POST both do."""
    for key in ("voice", "captions", "brand"):
        part = getattr(update, key)
        if part is not None:
            settings[key] = {**(settings.get(key) or {}), **part.model_dump(exclude_none=True)}
    if update.brand is not None:  # stored as the render reads them: "#RRGGBB"
        settings["brand"] = {name: (f"#{value.lstrip('#').upper()}" if name != "font" else value)
                             for name, value in settings["brand"].items()}
    if update.quality is not None:
        settings["quality"] = update.quality
    if update.preset == "":
        settings.pop("preset", None)
    elif update.preset is not None:
        if update.preset not in PRESETS:
            raise ApiError(422, "unknown_preset", f"preset: unknown preset {update.preset!r}; "
                           f"use one of {', '.join(PRESETS)}", "preset")
        settings["preset"] = update.preset
    if update.music_volume_db is not None:
        settings["music_volume_db"] = update.music_volume_db
    if update.call_to_action is not None:  # "" clears it: the script's own CTA again
        settings["call_to_action"] = update.call_to_action.strip()
    if update.script is not None:
        settings["script"] = {**(settings.get("script") or {}),
                              **update.script.model_dump(exclude_none=True)}
    if update.visuals is not None:
        settings["visuals"] = update.visuals
    if update.review is not None:
        settings["review"] = update.review
    if update.llm is not None:
        settings["llm"] = _llm_settings(settings.get("llm") or {}, update.llm)
    if update.hashtags is not None:
        settings["hashtags"] = [tag.lstrip("#") for tag in update.hashtags]
    if update.publish is not None:
        settings["publish"] = merge_publish(settings.get("publish") or {}, update.publish)
    secrets = _new_secrets(update)
    if secrets:
        settings["secrets"] = _sealed(settings.get("secrets") or {}, secrets)
    return settings


def _llm_settings(current: dict[str, Any], update: LLMSettingsIn) -> dict[str, Any]:
    """The profile's LLM endpoint with the update merged ("" clears a field)."""
    merged = dict(current)
    for name in ("base_url", "model", "timeout"):
        value = getattr(update, name)
        if value is None:
            continue
        if value == "":
            merged.pop(name, None)
        elif name == "base_url":
            if not is_http_url(str(value)):
                raise ApiError(422, "invalid_field", "llm.base_url: must be the http(s) URL of "
                               "an OpenAI-compatible API, as in http://localhost:11434/v1",
                               "llm.base_url")
            merged[name] = str(value).rstrip("/")
        else:
            merged[name] = value
    return merged


def _new_secrets(update: ProfileUpdate) -> dict[str, str]:
    """The secrets the update sets ("" removes one), by name."""
    postiz = update.publish.postiz if update.publish else None
    webhook = update.publish.webhook if update.publish else None
    found = {"pexels_api_key": update.pexels_api_key, "pixabay_api_key": update.pixabay_api_key,
             "llm_api_key": update.llm.api_key if update.llm else None,
             "postiz_api_key": postiz.api_key if postiz else None,
             "webhook_secret": webhook.secret if webhook else None}
    return {name: value.strip() for name, value in found.items() if value is not None}


def _sealed(current: dict[str, str], changes: dict[str, str]) -> dict[str, str]:
    box = SecretBox.from_settings(services().settings)
    sealed = dict(current)
    for name, value in changes.items():
        if not value:
            sealed.pop(name, None)
            continue
        if not box.available:
            field = SECRET_FIELDS.get(name, name)
            raise ApiError(422, "secrets_unavailable",
                           f"{field}: this server cannot keep secrets: its operator must set "
                           "SECRET_KEY first", field)
        sealed[name] = box.seal(value)
    return sealed


# --- logo --------------------------------------------------------------------------------

@bp.put("/<profile_id>/logo")
@require_account
def put_logo(profile_id: str) -> ResponseReturnValue:
    """Set the watermark from a raw PNG or JPEG body (stored as PNG); answer with the profile."""
    profile = _owned(profile_id)
    media = services().media
    folder = media.scratch_dir("profiles", f"{profile.id}-logo")
    try:
        body = folder / "body"
        receive_body(body, MAX_LOGO_BYTES, "the logo limit")
        with media_errors():
            logo = check_image(body, formats=("PNG", "JPEG"), accepts=LOGO_ACCEPTS,
                               max_pixels=MAX_LOGO_PIXELS)
        if logo is None:
            raise ApiError(422, "unsupported_media", f"the body is not an image; {LOGO_ACCEPTS}")
        png = folder / "logo.png"
        try:
            with Image.open(body, formats=["PNG", "JPEG"]) as image:
                # Upright as the camera meant it; RGBA so transparency survives as a watermark.
                ImageOps.exif_transpose(image).convert("RGBA").save(png, "PNG")
        except (OSError, ValueError) as exc:  # a pixel format Pillow cannot convert
            raise ApiError(422, "invalid_media",
                           f"the logo could not be converted to PNG ({exc}); {LOGO_ACCEPTS}") \
                from None
        media.put_file(logo_key(profile.id), png)
    finally:
        media.discard_scratch(folder)
    return jsonify(profile_public(profile))


@bp.delete("/<profile_id>/logo")
@require_account
def delete_logo(profile_id: str) -> ResponseReturnValue:
    """Remove the watermark (jobs already submitted render without it); repeating is harmless."""
    profile = _owned(profile_id)
    services().media.delete(logo_key(profile.id))
    return jsonify(profile_public(profile))


# --- music -------------------------------------------------------------------------------

@bp.post("/<profile_id>/music")
@require_account
def add_music(profile_id: str) -> ResponseReturnValue:
    """Add a track to the music bed from a raw audio body; answer 201 with every track."""
    profile = _owned(profile_id)
    svc = services()
    folder = svc.media.scratch_dir("profiles", f"{profile.id}-music")
    try:
        body = folder / "body"  # no ending: ffprobe must judge the content, not the name
        receive_body(body, svc.settings.max_upload_bytes, "MAX_UPLOAD_BYTES")
        with media_errors():
            check = check_audio(body, media_tools(svc.settings), min_seconds=MIN_MUSIC_SECONDS,
                                accepts=MUSIC_ACCEPTS)
        name = stored_name(request.args.get("filename"), check, "music")
        key = f"{music_dir(profile.id)}/{name}"
        if svc.media.exists(key):
            raise ApiError(409, "music_exists",
                           f"filename: the profile already has {name!r}; delete it first or "
                           "choose another name", "filename")
        svc.media.put_file(key, body)
    finally:
        svc.media.discard_scratch(folder)
    return jsonify({"music": music_names(profile.id)}), 201


@bp.get("/<profile_id>/music")
@require_account
def list_music(profile_id: str) -> ResponseReturnValue:
    """The profile's music tracks, by name."""
    return jsonify({"music": music_names(_owned(profile_id).id)})


@bp.delete("/<profile_id>/music/<name>")
@require_account
def delete_music(profile_id: str, name: str) -> ResponseReturnValue:
    """Remove one track; answer with the tracks left."""
    profile = _owned(profile_id)
    names = music_names(profile.id)
    if name not in names:  # also refuses any name that is not a plain stored file name
        raise ApiError(404, "music_not_found",
                       f"no music {name!r}; the profile has: {', '.join(names) or 'none'}")
    services().media.delete(f"{music_dir(profile.id)}/{name}")
    return jsonify({"music": music_names(profile.id)})


# --- publishing -------------------------------------------------------------------------

@bp.get("/<profile_id>/integrations")
@require_account
def list_integrations(profile_id: str) -> ResponseReturnValue:
    """The channels the profile's Postiz has connected, to pick one per platform."""
    profile = _owned(profile_id)
    settings = profile.settings or {}
    postiz = ((settings.get("publish") or {}).get("postiz")) or {}
    sealed = (settings.get("secrets") or {}).get("postiz_api_key")
    if not (postiz.get("base_url") and sealed):
        raise ApiError(409, "postiz_not_configured",
                       "set publish.postiz.base_url and publish.postiz.api_key first")
    svc = services()
    try:
        key = SecretBox.from_settings(svc.settings).open(sealed)
    except (SecretsUnavailable, SecretUnreadable) as exc:
        raise ApiError(409, "secret_unreadable", f"publish.postiz.api_key: {exc}",
                       "publish.postiz.api_key") from None
    try:
        with PostizClient(postiz["base_url"], key,
                          allow_hosts=svc.settings.fetch_allow_hosts) as client:
            channels = client.integrations()
    except PostizError as exc:
        raise ApiError(502, exc.code, f"Postiz answered: {exc.message}") from None
    return jsonify({"integrations": [
        {"id": c.id, "name": c.name, "identifier": c.identifier, "disabled": c.disabled,
         "picture": c.picture} for c in channels]})
