"""Request and response shapes."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from flask import request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from api.errors import ApiError

MAX_MEDIA_ITEMS = 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _price(value: str) -> str:
    if _CONTROL.search(value):
        raise PydanticCustomError("price", "must be one line of text")
    if not any(ch.isdigit() for ch in value):
        raise PydanticCustomError("price", 'must contain a number, as in "$19.99" or "19,99 €"')
    return value


def _font(value: str) -> str:
    # The family name goes into an ASS style line, where a comma starts the next field.
    if _CONTROL.search(value) or any(ch in value for ch in ",{}\\"):
        raise PydanticCustomError("font", "must be a font family name, as in \"Noto Sans\" "
                                  "(no commas, braces, backslashes or line breaks)")
    return value


PriceText = Annotated[str, Field(min_length=1, max_length=20), AfterValidator(_price)]
FontName = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_font)]
Quality = Literal["draft", "standard", "high"]


class MediaItemIn(BaseModel):
    """An upload to show, in order: `{"upload_id": "upl_…", "keep_audio": false}`."""

    model_config = ConfigDict(extra="forbid")
    upload_id: str = Field(min_length=1, max_length=40)
    keep_audio: bool = False  # clips only: their sound stays, under the voice


class IdeaSourceIn(BaseModel):
    """`{"type": "idea", "idea": "...", "media": [...], "price": "$19.99", "sale_price": ...}`"""

    model_config = ConfigDict(extra="forbid")
    type: Literal["idea"]
    idea: str
    media: list[MediaItemIn] | None = Field(default=None, max_length=MAX_MEDIA_ITEMS)
    price: PriceText | None = None
    sale_price: PriceText | None = None


HexColour = Annotated[str, Field(pattern=r"^#?[0-9A-Fa-f]{6}$")]


class VoiceOptionsIn(BaseModel):
    """How the voiceover sounds; unset fields fall back to the profile, then the settings."""

    model_config = ConfigDict(extra="forbid")
    engine: Literal["auto", "piper", "espeak"] | None = None
    # Names only (en_US-lessac-medium, fr-fr): a path would let a client pick server files.
    voice: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}$")
    speed: float | None = Field(default=None, ge=0.5, le=2.0)
    sentence_pause: float | None = Field(default=None, ge=0.0, le=2.0)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}$")


class CaptionOptionsIn(BaseModel):
    """How burned-in captions look (always inside the platform's safe zone) and are timed."""

    model_config = ConfigDict(extra="forbid")
    font: str | None = Field(default=None, min_length=1, max_length=100)
    size: int | None = Field(default=None, ge=24, le=200)  # pixels on a 1080-wide frame
    fill: HexColour | None = None
    highlight: HexColour | None = None
    outline: HexColour | None = None
    uppercase: bool | None = None
    position: float | None = Field(default=None, ge=0.0, le=1.0)  # vertical, 0 top, 1 bottom
    # "voice": the voice engine's own word times; "whisper": what Whisper hears in the audio.
    timing: Literal["voice", "whisper"] | None = None


class JobCreate(BaseModel):
    """Body of POST /v1/jobs."""

    model_config = ConfigDict(extra="forbid")
    source: IdeaSourceIn
    preset: str = "tiktok"
    voice: VoiceOptionsIn | None = None
    captions: CaptionOptionsIn | None = None
    profile_id: str | None = Field(default=None, min_length=1, max_length=40)
    project_id: str | None = Field(default=None, min_length=1, max_length=40)
    quality: Quality | None = None  # draft: half size, fast; high: x264 "medium"


class BrandIn(BaseModel):
    """A profile's look: badge, end-card and text colours and the font of its cards."""

    model_config = ConfigDict(extra="forbid")
    primary: HexColour | None = None
    accent: HexColour | None = None
    text: HexColour | None = None
    font: FontName | None = None


class ProfileUpdate(BaseModel):
    """Body of PATCH /v1/profiles/<id>: the brand's defaults for every job."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    voice: VoiceOptionsIn | None = None
    captions: CaptionOptionsIn | None = None
    brand: BrandIn | None = None
    quality: Quality | None = None


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def validation_error(exc: ValidationError) -> ApiError:
    """The first problem of a pydantic error, as an ApiError naming the field."""
    first = exc.errors()[0]
    field = _field(first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden":
        return ApiError(422, "unknown_field",
                        f"{field}: unknown field; remove it (see the API reference in the README)",
                        field)
    if kind == "missing":
        return ApiError(422, "missing_field", f"{field}: this field is required", field)
    if kind == "literal_error":
        expected = first.get("ctx", {}).get("expected", "")
        return ApiError(422, "invalid_field", f"{field}: must be {expected}", field)
    if kind.endswith("_type") or kind == "model_attributes_type":
        return ApiError(422, "invalid_type", f"{field}: {first['msg'].lower()}", field)
    return ApiError(422, "invalid_field", f"{field}: {first['msg']}", field)


def parse_body(raw: Any, model: type[BaseModel]) -> Any:
    """Validate decoded JSON against a model, raising ApiError with the field to fix."""
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid_body", "the body must be a JSON object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc) from None


def json_body(model: type[BaseModel]) -> Any:
    """The request's JSON body validated against a model; ApiError says what to fix."""
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise ApiError(400, "invalid_json", "the body is empty; send a JSON object")
    try:
        decoded = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # also too deep, or a giant number
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    return parse_body(decoded, model)
