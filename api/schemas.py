"""Request and response shapes."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Annotated, Any, Literal

from flask import request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from api.errors import ApiError
from api.inputs import refuse_nul

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


def _one_line(value: str) -> str:
    if _CONTROL.search(value):
        raise PydanticCustomError("one_line", "must be one line of text without control "
                                  "characters")
    return value


def _spoken(value: str) -> str:
    # Line breaks are how people write paragraphs; any other control character is noise the
    # voice would read out or choke on.
    if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", value):
        raise PydanticCustomError("spoken", "must be plain text without control characters")
    if not value.strip():
        raise PydanticCustomError("spoken", "must not be blank")
    return value


PriceText = Annotated[str, Field(min_length=1, max_length=20), AfterValidator(_price)]
OneLine = Annotated[str, AfterValidator(_one_line)]
SpokenText = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(_spoken)]
SearchTerm = Annotated[str, Field(min_length=1, max_length=60), AfterValidator(_one_line)]
Hashtag = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^#?[^\s#]+$")]
Generator = Literal["auto", "template", "llm"]
Visuals = Literal["auto", "generated", "stock", "uploads"]
FontName = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_font)]
Quality = Literal["draft", "standard", "high"]


class MediaItemIn(BaseModel):
    """An upload to show, in order: `{"upload_id": "upl_…", "keep_audio": false}`."""

    model_config = ConfigDict(extra="forbid")
    upload_id: str = Field(min_length=1, max_length=40)
    keep_audio: bool = False  # clips only: their sound stays, under the voice


MAX_PRODUCT_IMAGES = 20
MAX_COLLECTION_ITEMS = 10
ImageRef = Annotated[str, Field(min_length=1, max_length=2000)]  # http(s) URL or upload id


class ProductFieldsIn(BaseModel):
    """A product as shops describe it; the description may be HTML."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20000)
    price: PriceText | None = None
    sale_price: PriceText | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")
    images: list[ImageRef] = Field(default_factory=list, max_length=MAX_PRODUCT_IMAGES)
    brand: str = Field(default="", max_length=200)
    link: str = Field(default="", max_length=2000)
    id: str = Field(default="", max_length=200)


class ProductSourceIn(ProductFieldsIn):
    """`{"type": "product", "title", "description", "price", "images": [...], ...}`"""

    type: Literal["product"]


class ClipSourceIn(BaseModel):
    """`{"type": "clip", "upload_id", "product": {...}, "keep_audio", "transcribe"}`"""

    model_config = ConfigDict(extra="forbid")
    type: Literal["clip"]
    upload_id: str = Field(min_length=1, max_length=40)
    product: ProductFieldsIn | None = None
    keep_audio: bool = False
    transcribe: bool = False  # the clip's own speech is kept and captioned from Whisper


class CollectionSourceIn(BaseModel):
    """`{"type": "collection", "mode": "each" | "compilation", "items": [...], "title"}`"""

    model_config = ConfigDict(extra="forbid")
    type: Literal["collection"]
    mode: Literal["each", "compilation"]
    # Product objects or upload ids; each is validated on its own, so that an error names
    # its item (a union would report every branch's complaint).
    items: list[Any] = Field(min_length=1, max_length=1000)
    title: str = Field(default="", max_length=200)


class IdeaSourceIn(BaseModel):
    """`{"type": "idea", "idea": "...", "points": [...], "media": [...], "price": "$19.99",
    "sale_price": ...}`"""

    model_config = ConfigDict(extra="forbid")
    type: Literal["idea"]
    idea: str
    # Short statements the video makes, one scene each, in order (the offline template's
    # material, and facts an LLM must keep to).
    points: list[Annotated[OneLine, Field(min_length=1, max_length=300)]] | None = Field(
        default=None, max_length=12)
    media: list[MediaItemIn] | None = Field(default=None, max_length=MAX_MEDIA_ITEMS)
    price: PriceText | None = None
    sale_price: PriceText | None = None


HexColour = Annotated[str, Field(pattern=r"^#?[0-9A-Fa-f]{6}$")]


class ScriptSceneIn(BaseModel):
    """One scene of a script the user wrote: said exactly as written."""

    model_config = ConfigDict(extra="forbid")
    narration: SpokenText
    headline: Annotated[OneLine, Field(max_length=100)] = ""
    search_terms: list[SearchTerm] = Field(default_factory=list, max_length=4)
    media: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=list, max_length=MAX_MEDIA_ITEMS)


class ScriptSourceIn(BaseModel):
    """`{"type": "script", "title", "scenes": [{"narration", "headline", "search_terms",
    "media": [upload ids]}], "call_to_action", "hashtags"}`"""

    model_config = ConfigDict(extra="forbid")
    type: Literal["script"]
    title: Annotated[OneLine, Field(max_length=200)] = ""
    scenes: list[ScriptSceneIn] = Field(min_length=1, max_length=30)
    call_to_action: Annotated[OneLine, Field(max_length=200)] = ""
    hashtags: list[Hashtag] = Field(default_factory=list, max_length=30)


class ScriptOptionsIn(BaseModel):
    """How the script is written: `generator` template, llm or auto (llm when one is
    configured), and the brand's `tone` for the LLM ("warm and witty")."""

    model_config = ConfigDict(extra="forbid")
    generator: Generator | None = None
    tone: Annotated[OneLine, Field(max_length=200)] | None = None


class LLMSettingsIn(BaseModel):
    """A profile's own chat-completions endpoint; `api_key` is write-only ("" removes it)."""

    model_config = ConfigDict(extra="forbid")
    base_url: Annotated[OneLine, Field(max_length=500)] | None = None  # "" clears
    model: Annotated[OneLine, Field(max_length=200)] | None = None
    timeout: float | None = Field(default=None, gt=0, le=600)
    api_key: Annotated[OneLine, Field(max_length=500)] | None = None


class TikTokSettingsIn(BaseModel):
    """How a brand's TikTok posts go out (Postiz's TikTok settings)."""

    model_config = ConfigDict(extra="forbid")
    privacy_level: Literal["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR",
                           "SELF_ONLY"] | None = None
    duet: bool | None = None
    stitch: bool | None = None
    comment: bool | None = None
    video_made_with_ai: bool | None = None
    brand_content_toggle: bool | None = None
    brand_organic_toggle: bool | None = None
    content_posting_method: Literal["DIRECT_POST", "UPLOAD"] | None = None


class YouTubeSettingsIn(BaseModel):
    """A brand's YouTube posts: the title from a template ({title}, {brand}), visibility."""

    model_config = ConfigDict(extra="forbid")
    title_template: Annotated[OneLine, Field(min_length=1, max_length=100)] | None = None
    visibility: Literal["public", "private", "unlisted"] | None = None
    made_for_kids: bool | None = None


class InstagramSettingsIn(BaseModel):
    """A single video posted as `post` becomes a Reel."""

    model_config = ConfigDict(extra="forbid")
    post_type: Literal["post", "story"] | None = None


class PostingWindowIn(BaseModel):
    """When posts may go out: days (`mon-sun`, `mon-fri`, `sat,sun`) and local times."""

    model_config = ConfigDict(extra="forbid")
    days: str = Field(default="mon-sun", pattern=r"^(mon|tue|wed|thu|fri|sat|sun)"
                      r"([-,](mon|tue|wed|thu|fri|sat|sun))*$")
    start: str = Field(alias="from", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(alias="to", pattern=r"^([01]\d|2[0-4]):[0-5]\d$")


Platform = Literal["tiktok", "youtube", "instagram"]


class PostizSettingsIn(BaseModel):
    """A brand's Postiz: where, the write-only key, which channel per platform, and when."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    base_url: Annotated[OneLine, Field(max_length=500)] | None = None  # "" clears
    api_key: Annotated[OneLine, Field(max_length=500)] | None = None
    type: Literal["draft", "schedule", "now"] | None = None
    # Platform -> Postiz integration id ("" unlinks the platform).
    integrations: dict[Platform, Annotated[OneLine, Field(max_length=100)]] | None = None
    tiktok: TikTokSettingsIn | None = None
    youtube: YouTubeSettingsIn | None = None
    instagram: InstagramSettingsIn | None = None
    windows: list[PostingWindowIn] | None = Field(default=None, max_length=14)
    timezone: Annotated[OneLine, Field(min_length=1, max_length=64)] | None = None
    daily_limit: int | None = Field(default=None, ge=1, le=1000)  # posts a day per channel
    per_hour: int | None = Field(default=None, ge=1, le=10000)  # the organisation's API limit
    caption_template: Annotated[str, Field(max_length=500)] | None = None


class WebhookSettingsIn(BaseModel):
    """Where a brand's events go; `secret` (write-only) signs them."""

    model_config = ConfigDict(extra="forbid")
    url: Annotated[OneLine, Field(max_length=2000)] | None = None  # "" clears
    secret: Annotated[OneLine, Field(max_length=500)] | None = None


class PublishSettingsIn(BaseModel):
    """`{"postiz": {…}, "webhook": {…}}`, merged like the other profile fields."""

    model_config = ConfigDict(extra="forbid")
    postiz: PostizSettingsIn | None = None
    webhook: WebhookSettingsIn | None = None


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
    source: Annotated[IdeaSourceIn | ScriptSourceIn | ProductSourceIn | ClipSourceIn
                      | CollectionSourceIn, Field(discriminator="type")]
    preset: str | None = Field(default=None, max_length=32)  # None: the profile's, else tiktok
    voice: VoiceOptionsIn | None = None
    captions: CaptionOptionsIn | None = None
    profile_id: str | None = Field(default=None, min_length=1, max_length=40)
    project_id: str | None = Field(default=None, min_length=1, max_length=40)
    quality: Quality | None = None  # draft: half size, fast; high: x264 "medium"
    # Stop after the script until a person approves it; None: the profile's "review".
    review: bool | None = None
    script: ScriptOptionsIn | None = None
    visuals: Visuals | None = None


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
    preset: str | None = Field(default=None, max_length=32)  # jobs' default; "" clears it
    # The music bed's loudness against the voice, in dB (-12 unless set).
    music_volume_db: float | None = Field(default=None, ge=-40.0, le=0.0)
    # What product videos end with ("Tap the link in bio"); "" clears it.
    call_to_action: str | None = Field(default=None, max_length=120)
    script: ScriptOptionsIn | None = None
    visuals: Visuals | None = None
    review: bool | None = None  # jobs stop for a person's approval after the script
    llm: LLMSettingsIn | None = None
    # Write-only stock keys; "" removes one.
    pexels_api_key: Annotated[OneLine, Field(max_length=500)] | None = None
    pixabay_api_key: Annotated[OneLine, Field(max_length=500)] | None = None
    publish: PublishSettingsIn | None = None
    hashtags: list[Hashtag] | None = Field(default=None, max_length=30)


_SOURCE_TYPES = frozenset({"idea", "script", "product", "clip", "collection", "feed"})


def _field(loc: tuple[Any, ...]) -> str:
    # A discriminated union puts the branch's tag into the location: source.product.title
    # is the field source.title to the user.
    # A bad dict key is reported at `<key>.[key]`: the key itself is the field.
    parts = [part for i, part in enumerate(loc)
             if not (i > 0 and loc[i - 1] == "source" and part in _SOURCE_TYPES)
             and part != "[key]"]
    return ".".join(str(part) for part in parts) or "body"


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
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        expected = first.get("ctx", {}).get("expected_tags", "")
        return ApiError(422, "invalid_field", f"{field}.type: must be one of {expected}",
                        f"{field}.type")
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
    refuse_nul(raw)
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


FEED_FORMAT_NAMES = ("auto", "merchant_xml", "merchant_tsv", "merchant_csv", "shopify",
                     "woocommerce", "csv")
MAPPING_FIELDS = ("id", "title", "description", "price", "sale_price", "currency", "image",
                  "images", "brand", "link", "availability", "group_id")


class FeedSourceIn(BaseModel):
    """`{"type": "feed", "url": "…"}` or `{"type": "feed", "upload_id": "…", "format": "auto"}`"""

    model_config = ConfigDict(extra="forbid")
    type: Literal["feed"]
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    upload_id: str | None = Field(default=None, min_length=1, max_length=40)
    format: Literal[FEED_FORMAT_NAMES] = "auto"  # type: ignore[valid-type]
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")  # when prices lack one


class BatchCreate(BaseModel):
    """Body of POST /v1/batches."""

    model_config = ConfigDict(extra="forbid")
    source: Annotated[FeedSourceIn | CollectionSourceIn, Field(discriminator="type")]
    preset: str | None = Field(default=None, max_length=32)  # None: the profile's, else tiktok
    profile_id: str | None = Field(default=None, min_length=1, max_length=40)
    limit: int | None = Field(default=None, ge=1)
    dry_run: bool = False
    include_out_of_stock: bool = False
    # Our field -> the column of a generic CSV that holds it.
    mapping: dict[str, Annotated[str, Field(min_length=1, max_length=200)]] | None = None
    voice: VoiceOptionsIn | None = None
    captions: CaptionOptionsIn | None = None
    quality: Quality | None = None
    script: ScriptOptionsIn | None = None
    visuals: Visuals | None = None


def _no_control(value: str) -> str:
    # Narration is spoken and everything else is drawn or posted: a stray tab, line break or
    # escape would be read out, break a text layer, or end up in the post.
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise PydanticCustomError("control_character", "must not contain control characters "
                                  "(line breaks, tabs and the like); write it on one line")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be blank")
    return value


def _scene_price(value: str) -> str:
    return _price(value) if value else value


def _hashtag(value: str) -> str:
    if any(ch.isspace() for ch in value):
        raise PydanticCustomError("hashtag", "must be one word without spaces, as in #coffee")
    return value


PlainText = Annotated[str, AfterValidator(_no_control)]
ScenePrice = Annotated[PlainText, Field(max_length=20), AfterValidator(_scene_price)]


class SceneEdit(BaseModel):
    """One scene of an edited script."""

    model_config = ConfigDict(extra="forbid")
    narration: Annotated[PlainText, Field(min_length=1, max_length=1000),
                         AfterValidator(_not_blank)]
    headline: Annotated[PlainText, Field(max_length=100)] = ""
    search_terms: list[Annotated[PlainText, Field(min_length=1, max_length=60)]] = Field(
        default_factory=list, max_length=4)
    price: ScenePrice = ""
    was_price: ScenePrice = ""
    # Indices into the job's visuals; -1 asks for a generated background.
    visuals: list[Annotated[int, Field(ge=-1, le=999)]] = Field(default_factory=list,
                                                                 max_length=50)


class ScriptEdit(BaseModel):
    """Body of PUT /v1/jobs/<id>/script (and what `make --review` accepts from the editor).

    It has the fields GET /v1/jobs/<id>/script answers with, so a script read can be sent
    back changed; a field left out keeps its current value, and `scenes` replaces them all.
    """

    model_config = ConfigDict(extra="forbid")
    title: Annotated[PlainText, Field(max_length=200)]
    scenes: list[SceneEdit] = Field(min_length=1, max_length=30)
    call_to_action: Annotated[PlainText, Field(max_length=200)] = ""
    hashtags: list[Annotated[PlainText, Field(min_length=1, max_length=100),
                             AfterValidator(_hashtag)]] = Field(default_factory=list,
                                                                max_length=30)
    caption: Annotated[PlainText, Field(max_length=2200)] = ""
    language: Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")] = "en"
    kind: Literal["idea", "product", "compilation"] = "idea"
    price: ScenePrice = ""
    was_price: ScenePrice = ""
    end_title: Annotated[PlainText, Field(max_length=200)] = ""
    end_subtitle: Annotated[PlainText, Field(max_length=200)] = ""

    def changes(self) -> dict[str, Any]:
        """The fields sent, each scene whole with its defaults: what replaces the current
        script's."""
        return self.model_dump(include=self.model_fields_set)


class ScriptRegenerate(BaseModel):
    """Body of POST /v1/jobs/<id>/script/regenerate: the scene to write again (0-based), or
    none for the whole script."""

    model_config = ConfigDict(extra="forbid")
    scene: Annotated[int, Field(strict=True, ge=0)] | None = None
