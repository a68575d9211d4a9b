"""Request and response shapes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.errors import ApiError


class IdeaSourceIn(BaseModel):
    """`{"type": "idea", "idea": "..."}`"""

    model_config = ConfigDict(extra="forbid")
    type: Literal["idea"]
    idea: str


class JobCreate(BaseModel):
    """Body of POST /v1/jobs."""

    model_config = ConfigDict(extra="forbid")
    source: IdeaSourceIn
    preset: str = "tiktok"
    profile_id: str | None = Field(default=None, min_length=1, max_length=40)
    project_id: str | None = Field(default=None, min_length=1, max_length=40)


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
