"""GET /v1/openapi.json: the API described as OpenAPI 3.1.

Request bodies come from the same pydantic models that validate them, so the document cannot
drift from what the API accepts; response shapes are written out here and tests check real
responses against them, and that every route of the app is described.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from pydantic import BaseModel

from api.auth import CSRF_HEADER, SESSION_COOKIE
from api.schemas import BatchCreate, JobCreate, ProfileUpdate, ScriptEdit, ScriptRegenerate
from pipeline.sequence import STAGE_NAMES
from store.jobs import JOB_STATUSES

bp = Blueprint("openapi", __name__, url_prefix="/v1/openapi.json")

_REF = "#/components/schemas/{model}"
_STRING_OR_NULL = {"type": ["string", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


_ERROR = {
    "type": "object", "required": ["error"], "additionalProperties": False,
    "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "field": {"type": "string"}}}},
}
_STAGE = {
    "type": "object",
    "required": ["status", "queue", "worker", "attempts", "started_at", "finished_at", "error"],
    "properties": {
        "status": {"enum": ["pending", "running", "succeeded", "failed", "skipped",
                            "canceled"]},
        "queue": {"enum": ["cpu", "gpu"]}, "worker": _STRING_OR_NULL,
        "attempts": {"type": "integer", "minimum": 0},
        "started_at": _STRING_OR_NULL, "finished_at": _STRING_OR_NULL,
        "error": {"type": ["object", "null"]},
    },
}
_JOB = {
    "type": "object",
    "required": ["id", "status", "progress", "stage", "stages", "error", "preset", "source",
                 "project_id", "profile_id", "created_at", "started_at", "finished_at",
                 "video_url", "review", "script_url", "approve_url", "script_edits"],
    "properties": {
        "id": {"type": "string"}, "status": {"enum": list(JOB_STATUSES)},
        "review": {"type": "boolean", "description": "stops after the script for approval"},
        "script_url": {**_STRING_OR_NULL, "description": "while awaiting_review"},
        "approve_url": {**_STRING_OR_NULL, "description": "while awaiting_review: POST it"},
        "script_edits": {"type": "array", "items": {
            "type": "object", "required": ["at", "script"],
            "properties": {"at": {"type": "string"}, "script": {"type": "string"},
                           "account_id": {"type": "string"}, "via": {"type": "string"}}}},
        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
        "stage": {"enum": [*STAGE_NAMES, None]},
        "stages": {"type": "object", "properties": {name: _ref("Stage") for name in STAGE_NAMES},
                   "required": list(STAGE_NAMES)},
        "error": {"oneOf": [{"type": "null"}, {
            "type": "object", "required": ["stage", "code", "message"],
            "properties": {"stage": {"type": "string"}, "code": {"type": "string"},
                           "message": {"type": "string"}}}]},
        "preset": {"type": "string"}, "source": {"type": "object"},
        # null once the job's profile has been deleted (the job itself stays)
        "project_id": _STRING_OR_NULL, "profile_id": _STRING_OR_NULL,
        "created_at": {"type": "string"}, "started_at": _STRING_OR_NULL,
        "finished_at": _STRING_OR_NULL, "video_url": _STRING_OR_NULL,
        "costs": {
            "type": "object", "required": ["items", "total_usd"],
            "description": "GET /v1/jobs/<id> only: what the job used (LLM calls with their "
                           "tokens and prices; seconds of speech; CPU seconds of the render)",
            "properties": {"total_usd": {"type": "string"}, "items": {"type": "array"}}},
        "publications": {
            "type": "array", "description": "GET /v1/jobs/<id> only: each destination "
            "(export_folder, export_store, postiz:<platform>) with its state (pending, "
            "uploaded, posting, queued, published, failed, rejected), post_id, url, error"},
        "content": {
            "type": "object", "description": "GET /v1/jobs/<id> only: who wrote the script "
            "(template, user, llm:<model>), its warnings, each scene's visual and why, and the "
            "stock footage's attribution (provider, page_url, author, licence)"},
    },
}
_JOB_ACCEPTED = {
    "type": "object",
    "required": ["id", "status", "project_id", "profile_id", "url", "from_stage"],
    "properties": {"id": {"type": "string"}, "status": {"const": "queued"},
                   "project_id": {"type": "string"}, "profile_id": {"type": "string"},
                   "url": {"type": "string", "description": "GET it to follow the job"},
                   "from_stage": {"enum": list(STAGE_NAMES),
                                  "description": "the first stage this run will do"}},
}
_JOB_LIST = {
    "type": "object", "required": ["jobs", "next_before"],
    "properties": {"jobs": {"type": "array", "items": _ref("Job")},
                   "next_before": _STRING_OR_NULL},
}
_UPLOAD = {
    "type": "object", "required": ["id", "kind", "filename", "content_type", "bytes"],
    "properties": {"id": {"type": "string"}, "kind": {"enum": ["still", "clip", "feed"]},
                   "filename": {"type": "string"}, "content_type": {"type": "string"},
                   "bytes": {"type": "integer"}, "width": {"type": ["integer", "null"]},
                   "height": {"type": ["integer", "null"]},
                   "duration": {"type": ["number", "null"]},
                   "audio": {"type": ["boolean", "null"]}, "created": {"type": "string"}},
}
_BATCH_COUNTS = {"type": "object", "required": ["total", "queued", "running", "succeeded",
                                                "failed", "unchanged", "skipped", "planned"],
                 "additionalProperties": {"type": "integer", "minimum": 0}}
_BATCH_STATUSES = ["queued", "parsing", "running", "succeeded", "partial", "failed"]
_BATCH_SUMMARY_PROPERTIES = {
    "id": {"type": "string"}, "status": {"enum": _BATCH_STATUSES},
    "counts": _ref("BatchCounts"), "parsed": {"type": "integer"},
    "format": _STRING_OR_NULL, "preset": {"type": "string"}, "profile_id": _STRING_OR_NULL,
    "dry_run": {"type": "boolean"}, "error": {"type": ["object", "null"]},
    "created_at": {"type": "string"}, "parsed_at": _STRING_OR_NULL, "url": {"type": "string"},
}
_BATCH_SUMMARY = {"type": "object", "required": ["id", "status", "counts", "url"],
                  "properties": _BATCH_SUMMARY_PROPERTIES}
_BATCH = {
    "type": "object", "required": ["id", "status", "counts", "items", "next"],
    "properties": {
        **_BATCH_SUMMARY_PROPERTIES,
        "items": {"type": "array", "items": {
            "type": "object", "required": ["key", "title", "status", "job_id", "video_url",
                                           "reason"],
            "properties": {
                "key": {"type": "string"}, "title": {"type": "string"},
                "status": {"enum": ["queued", "running", "succeeded", "failed", "unchanged",
                                    "skipped", "planned"]},
                "job_id": _STRING_OR_NULL, "video_url": _STRING_OR_NULL,
                "reason": _STRING_OR_NULL}}},
        "next": {**_STRING_OR_NULL, "description": "URL of the next page of items"},
    },
}
_BATCH_ACCEPTED = {"type": "object", "required": ["id", "status", "url"],
                   "properties": {"id": {"type": "string"}, "status": {"const": "queued"},
                                  "url": {"type": "string"}}}
_BATCH_LIST = {"type": "object", "required": ["batches", "next_before"],
               "properties": {"batches": {"type": "array", "items": _ref("BatchSummary")},
                              "next_before": _STRING_OR_NULL}}
_MUSIC_LIST = {"type": "object", "required": ["music"],
               "properties": {"music": {"type": "array", "items": {"type": "string"}}}}
_HEALTH_PART = {"type": "object", "required": ["ok"],
                "properties": {"ok": {"type": "boolean"}, "mode": {"enum": ["redis", "in-process"]},
                               "error": {"type": "string"}}}
_HEALTH = {"type": "object", "required": ["status", "database", "broker"],
           "properties": {"status": {"enum": ["ok", "unavailable"]},
                          "database": _HEALTH_PART, "broker": _HEALTH_PART,
                          "error": _ERROR["properties"]["error"]}}
# POST takes PATCH's fields, but a new profile needs its name (the view says so with 422).
_PROFILE_CREATE = {"allOf": [_ref("ProfileUpdate"),
                             {"type": "object", "required": ["name"],
                              "properties": {"name": {"type": "string"}}}]}
_PROFILE_DELETED = {"type": "object", "required": ["id", "deleted"],
                    "properties": {"id": {"type": "string"}, "deleted": {"const": True}}}
_OBJECT = {"type": "object"}
_MP4 = {"video/mp4": {"schema": {"type": "string", "format": "binary"}}}
_WAV = {"audio/wav": {"schema": {"type": "string", "format": "binary"}}}
# One Server-Sent Event, as OpenAPI 3.2 describes a stream: each event is an item.
_EVENT_STREAM = {"text/event-stream": {
    "schema": {"type": "object", "description": "`event: job` (or `batch`) with the JSON GET "
               "answers, at every change; `event: end` with {\"status\"} once finished; "
               "`retry: 2000`. The stream closes after EVENTS_STREAM_SECONDS: an EventSource "
               "reconnects by itself",
               "properties": {"event": {"enum": ["job", "batch", "end"]},
                              "data": {"type": "string", "description": "JSON"},
                              "id": {"type": "string"}, "retry": {"type": "integer"}}}}}
_JOB_FILES = {kind: {"schema": {"type": "string", "format": "binary"}}
              for kind in ("application/x-subrip", "text/vtt", "application/json",
                           "video/mp4")}
_PREVIEW = {"type": "object", "required": ["url"],
            "properties": {"url": {"type": "string", "description": "GET it: the draft MP4"}}}


def _path_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def _operation(summary: str, responses: dict[str, Any], *, body: dict[str, Any] | None = None,
               parameters: list[dict[str, Any]] | None = None,
               public: bool = False) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = body
    if parameters:
        operation["parameters"] = parameters
    if body is not None and "application/json" in body["content"]:
        responses.setdefault("400", _error("the body is not a JSON object"))
        responses.setdefault("413", _error("the body is larger than MAX_REQUEST_BYTES"))
    if public:
        operation["security"] = []
    else:
        responses.setdefault("401", _error("missing or unknown API key"))
        # The key is looked up in the database before anything else.
        responses.setdefault("503", _error("database unavailable; retry later"))
    return operation


def _model_body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


def _raw_body(description: str, types: list[str]) -> dict[str, Any]:
    # The server judges the bytes, never the Content-Type header, so any type is taken;
    # application/octet-stream is listed first as the one to send when in doubt.
    return {"required": True, "description": description,
            "content": {kind: {"schema": {"type": "string", "format": "binary"}}
                        for kind in types}}


def _paths() -> dict[str, Any]:
    job_id, profile_id = _path_parameter("job_id"), _path_parameter("profile_id")
    return {
        "/v1/jobs": {
            "post": _operation("Make a video: validate, write the job, enqueue its chain", {
                "202": _json(_ref("JobAccepted"), "accepted; follow the Location header"),
                "400": _error("the body is not a JSON object"),
                "404": _error("unknown profile or project"),
                "403": _error("profile_id or X-Profile-Id names another account's profile"),
                "409": _error("a generation of this project is running"),
                "422": _error("a field to fix; error.field names it; quota_exceeded: the "
                              "video would be longer than the account's video_seconds"),
                "429": _error("rate_limited: this key's requests per minute are used up; "
                              "quota_exceeded: the account has its running_jobs queued or "
                              "running; see Retry-After"),
                "503": _error("database or broker unavailable; retry later"),
            }, body=_model_body("JobCreate")),
            "get": _operation("The account's jobs, newest first", {
                "200": _json(_ref("JobList"), "one page of jobs"),
                "422": _error("a bad query parameter; error.field names it"),
            }, parameters=[
                _query("status", {"enum": list(JOB_STATUSES)}, "only jobs in this status"),
                _query("profile_id", {"type": "string"}, "only jobs of this profile"),
                _query("project_id", {"type": "string"}, "only jobs of this project"),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "page size"),
                _query("before", {"type": "string"}, "the next_before of the previous page"),
            ]),
        },
        "/v1/jobs/{job_id}": {
            "get": _operation("A job's status, progress and stages", {
                "200": _json(_ref("Job"), "the job"), "404": _error("no such job"),
            }, parameters=[job_id]),
            "delete": _operation(
                "Cancel a queued or running job: its running stage stops within seconds", {
                    "202": _json(_ref("Job"), "canceled; retry it to run it again"),
                    "404": _error("no such job"),
                    "409": _error("the job already ended (job_finished)"),
                    "503": _error("database unavailable; retry later"),
                }, parameters=[job_id]),
        },
        "/v1/jobs/{job_id}/retry": {"post": _operation(
            "Run a failed or canceled job again from the stage it stopped in; earlier stages "
            "keep their work", {
                "202": _json(_ref("JobAccepted"), "queued again from from_stage"),
                "404": _error("no such job"),
                "409": _error("the job is not failed or canceled, or its project is generating"),
                "429": _error("quota_exceeded: the account has its running_jobs queued or "
                              "running; see Retry-After"),
                "503": _error("database or broker unavailable; retry later"),
            }, parameters=[job_id])},
        "/v1/jobs/{job_id}/script": {
            "get": _operation("The job's script (the latest edit, if any)", {
                "200": _json(_ref("ScriptEdit"), "the script"), "404": _error("no such job"),
                "409": _error("the script stage has not written it yet (script_not_ready)"),
            }, parameters=[job_id]),
            "put": _operation("Replace the script of a job awaiting review; fields left out "
                              "keep their values, the old script is kept", {
                "200": _json(_ref("ScriptEdit"), "the script as stored"),
                "400": _error("the body is not a JSON object"),
                "404": _error("no such job"),
                "409": _error("the job is not awaiting review (not_awaiting_review)"),
                "422": _error("a field to fix; error.field names it, as scenes.2.narration"),
            }, body=_model_body("ScriptEdit"), parameters=[job_id]),
        },
        "/v1/jobs/{job_id}/script/regenerate": {"post": _operation(
            "Write the script of a job awaiting review again, whole or one scene; the job "
            "awaits review again afterwards", {
                "202": _json(_ref("Job"), "queued from the script stage"),
                "400": _error("the body is not a JSON object"),
                "404": _error("no such job"),
                "409": _error("not awaiting review, or its project is generating"),
                "422": _error("scene is not a scene of the script"),
                "503": _error("database or broker unavailable; retry later"),
            }, body={**_model_body("ScriptRegenerate"), "required": False},
            parameters=[job_id])},
        "/v1/jobs/{job_id}/approve": {"post": _operation(
            "Approve the script of a job awaiting review: it goes on from the voice stage", {
                "202": _json(_ref("Job"), "queued from the voice stage"),
                "404": _error("no such job"),
                "409": _error("not awaiting review, or its project is generating"),
                "503": _error("database or broker unavailable; retry later"),
            }, parameters=[job_id])},
        "/v1/jobs/{job_id}/video": {"get": _operation("The finished MP4 (Range requests: 206)", {
            "200": {"description": "the video", "content": _MP4},
            "206": {"description": "the requested byte range", "content": _MP4},
            "302": {"description": "with MEDIA_PRESIGN: to a presigned URL of the bucket"},
            "304": {"description": "If-None-Match names the video's ETag: not modified"},
            "404": _error("no such job"), "409": _error("the video is not ready"),
            "410": _error("the video is no longer in media storage"),
            "416": _error("the Range is outside the video"),
        }, parameters=[job_id])},
        "/v1/batches": {
            "post": _operation("One video per product of a feed or collection; fetching and "
                               "parsing run in a task", {
                "202": _json(_ref("BatchAccepted"), "accepted; follow the Location header"),
                "400": _error("the body is not a JSON object"),
                "404": _error("unknown profile"),
                "403": _error("profile_id or X-Profile-Id names another account's profile"),
                "422": _error("a field to fix; error.field names it; quota_exceeded: more "
                              "items than the account's batch_items"),
                "429": _error("this key's requests per minute are used up; see Retry-After"),
                "503": _error("database or broker unavailable; retry later"),
            }, body=_model_body("BatchCreate")),
            "get": _operation("The account's batches, newest first", {
                "200": _json(_ref("BatchList"), "one page of batches"),
                "422": _error("a bad query parameter"),
            }, parameters=[
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "page size"),
                _query("before", {"type": "string"}, "the next_before of the previous page"),
            ]),
        },
        "/v1/profiles/{profile_id}/integrations": {"get": _operation(
            "The channels the profile's Postiz has connected (id, name, identifier)", {
                "200": _json({"type": "object", "required": ["integrations"]}, "the channels"),
                "404": _error("no such profile"),
                "409": _error("the profile has no Postiz URL and key yet"),
                "502": _error("Postiz refused or did not answer"),
            }, parameters=[_path_parameter("profile_id")])},
        "/v1/costs": {"get": _operation(
            "What the account's jobs used and cost, summed per group", {
                "200": _json({"type": "object",
                              "required": ["group_by", "groups", "total_usd"]},
                             "groups with cost_usd, units per unit name and rows"),
                "404": _error("another account's or an unknown profile"),
                "422": _error("a bad query parameter"),
            }, parameters=[
                _query("group_by", {"enum": ["provider", "day", "job", "profile",
                                             "operation"]}, "default provider"),
                _query("profile_id", {"type": "string"}, "only this profile's rows"),
                _query("from", {"type": "string"}, "a day (2026-12-01) or an ISO time"),
                _query("to", {"type": "string"}, "a day (included) or an ISO time"),
            ])},
        "/v1/webhooks/deliveries": {"get": _operation(
            "The account's webhook deliveries, newest first: event, URL, attempts, outcome", {
                "200": _json({"type": "object", "required": ["deliveries", "next_before"]},
                             "one page of deliveries"),
                "422": _error("a bad query parameter"),
            }, parameters=[
                _query("status", {"enum": ["pending", "delivered", "failed"]}, "only these"),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "page size"),
                _query("before", {"type": "string"}, "the next_before of the previous page"),
            ])},
        "/v1/jobs/{job_id}/events": {"get": _operation(
            "The job's state as Server-Sent Events: each change as it happens, until it "
            "finishes", {
                "200": {"description": "the event stream", "content": _EVENT_STREAM},
                "404": _error("no such job"),
            }, parameters=[job_id])},
        "/v1/jobs/{job_id}/files/{file_name}": {"get": _operation(
            "One of the job's files: captions.srt, captions.vtt, captions.json, or its draft "
            "preview.mp4 (Range requests: 206)", {
                "200": {"description": "the file", "content": _JOB_FILES},
                "206": {"description": "the requested byte range", "content": _JOB_FILES},
                "304": {"description": "If-None-Match names the file's ETag: not modified"},
                "404": _error("no such job, or no file of that name"),
                "409": _error("the stage that makes it has not run (file_not_ready)"),
                "410": _error("the file is no longer in media storage"),
                "416": _error("the Range is outside the file"),
            }, parameters=[job_id, _path_parameter("file_name")])},
        "/v1/jobs/{job_id}/preview": {"post": _operation(
            "Render the job's draft now (half size, fast, the final render's timeline)", {
                "200": _json(_PREVIEW, "rendered; GET url to watch it"),
                "404": _error("no such job"),
                "409": _error("the script, voice or captions are not made yet"),
                "422": _error("the draft could not be rendered, with the reason"),
            }, parameters=[job_id])},
        "/v1/batches/{batch_id}/events": {"get": _operation(
            "The batch's counts and first page of items as Server-Sent Events, until it is "
            "done", {
                "200": {"description": "the event stream", "content": _EVENT_STREAM},
                "404": _error("no such batch"),
            }, parameters=[_path_parameter("batch_id")])},
        "/v1/batches/{batch_id}": {"get": _operation(
            "A batch's status, counts and a page of its items", {
                "200": _json(_ref("Batch"), "the batch"), "404": _error("no such batch"),
                "422": _error("a bad query parameter"),
            }, parameters=[
                _path_parameter("batch_id"),
                _query("after", {"type": "integer", "minimum": -1, "maximum": 2**31 - 1},
                       "items after this position (see next); -1, the default, is the start"),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "page size"),
            ])},
        "/v1/voices": {"get": _operation("Installed and downloadable voices", {
            "200": _json(_OBJECT, "voices by engine and language"),
            "422": _error("a bad query parameter"),
        }, parameters=[_query("language", {"type": "string"}, "ISO 639-1 code")])},
        "/v1/voices/sample": {"get": _operation(
            "A few seconds of a voice (WAV) saying a line in a language: engine, voice and "
            "speed as a job takes them (Range requests: 206)", {
                "200": {"description": "the sample", "content": _WAV},
                "206": {"description": "the requested byte range", "content": _WAV},
                "304": {"description": "If-None-Match names the sample's ETag: not modified"},
                "416": _error("the Range is outside the sample"),
                "422": _error("a bad query parameter, or a voice that cannot speak the "
                              "language (error.code says why, error.field names it)"),
            }, parameters=[
                _query("language", {"type": "string"}, "ISO 639-1 code; default en"),
                _query("engine", {"type": "string"}, "auto, piper or espeak; default VOICE_ENGINE"),
                _query("voice", {"type": "string"}, "a name GET /v1/voices lists"),
                _query("speed", {"type": "number", "minimum": 0.5, "maximum": 2},
                       "default 1"),
            ])},
        "/v1/uploads": {"post": _operation("Upload a picture or clip as the raw body", {
            "201": _json(_ref("Upload"), "stored; use its id in source.media"),
            "400": _error("an empty or incomplete body"),
            "413": _error("larger than MAX_UPLOAD_BYTES"),
            "422": _error("not a picture or clip we can use, with the reason"),
            "429": _error("this key's requests per minute are used up; see Retry-After"),
        }, body=_raw_body("JPEG, PNG or WebP image, or MP4, MOV, WebM or MKV video bytes",
                          ["application/octet-stream", "image/*", "video/*"]),
            parameters=[_query("filename", {"type": "string"}, "the file's name"),
                        _query("kind", {"enum": ["media", "feed"]},
                               "feed: a product feed for POST /v1/batches")])},
        "/v1/uploads/{upload_id}": {"get": _operation("One upload's details", {
            "200": _json(_ref("Upload"), "the upload"), "404": _error("no such upload"),
        }, parameters=[_path_parameter("upload_id")])},
        "/v1/profiles": {
            "get": _operation("The account's profiles (brands)", {
                "200": _json(_OBJECT, "profiles with their defaults"),
            }),
            "post": _operation("A new profile (brand): the fields of PATCH, name required", {
                "201": _json(_OBJECT, "the profile"), "400": _error("not a JSON object"),
                "422": _error("a field to fix"),
            }, body=_model_body("ProfileCreate"))},
        "/v1/profiles/{profile_id}": {
            "get": _operation("One profile", {
                "200": _json(_OBJECT, "the profile"), "404": _error("no such profile"),
            }, parameters=[profile_id]),
            "delete": _operation(
                "Delete a profile that is not the default and has no job under way: its "
                "projects, logo and music go; its jobs, batches and costs stay, with no "
                "profile", {
                    "200": _json(_ref("ProfileDeleted"), "deleted"),
                    "404": _error("no such profile"),
                    "409": _error("default_profile: it is the account's default; "
                                  "profile_in_use: it has jobs queued, running or awaiting "
                                  "review"),
                }, parameters=[profile_id]),
            "patch": _operation("Rename, or merge new voice, caption and brand defaults", {
                "200": _json(_OBJECT, "the profile"), "400": _error("not a JSON object"),
                "404": _error("no such profile"), "422": _error("a field to fix"),
            }, body=_model_body("ProfileUpdate"), parameters=[profile_id])},
        "/v1/profiles/{profile_id}/default": {"post": _operation(
            "Make this profile the account's default", {
                "200": _json(_OBJECT, "the profile"), "404": _error("no such profile"),
            }, parameters=[profile_id])},
        "/v1/profiles/{profile_id}/logo": {
            "put": _operation("Set the brand logo (PNG or JPEG, raw body)", {
                "200": _json(_OBJECT, "the profile"), "400": _error("an empty or incomplete body"),
                "404": _error("no such profile"),
                "413": _error("too large"), "422": _error("not a usable picture"),
            }, body=_raw_body("PNG or JPEG bytes",
                              ["application/octet-stream", "image/png", "image/jpeg"]),
                parameters=[profile_id]),
            "delete": _operation("Remove the brand logo", {
                "200": _json(_OBJECT, "the profile"), "404": _error("no such profile"),
            }, parameters=[profile_id]),
        },
        "/v1/profiles/{profile_id}/music": {
            "post": _operation("Add a track to the profile's music folder (raw body)", {
                "201": _json(_ref("MusicList"), "the folder's tracks"),
                "400": _error("an empty or incomplete body"),
                "404": _error("no such profile"), "409": _error("a track of that name exists"),
                "413": _error("too large"),
                "422": _error("not usable audio, or a bad query parameter"),
            }, body=_raw_body("MP3, M4A, AAC, WAV, OGG/Opus or FLAC bytes",
                              ["application/octet-stream", "audio/*"]),
                parameters=[profile_id, _query("filename", {"type": "string"}, "its name")]),
            "get": _operation("The profile's music tracks", {
                "200": _json(_ref("MusicList"), "the folder's tracks"),
                "404": _error("no such profile"),
            }, parameters=[profile_id]),
        },
        "/v1/profiles/{profile_id}/music/{name}": {"delete": _operation("Remove a track", {
            "200": _json(_ref("MusicList"), "the tracks left"),
            "404": _error("no such profile or track"),
        }, parameters=[profile_id, _path_parameter("name")])},
        "/v1/health": {"get": _operation("Can this API reach its database and broker?", {
            "200": _json(_ref("Health"), "both answer"),
            "503": _json({**_HEALTH, "required": [*_HEALTH["required"], "error"]},
                         "the part that does not answer, with its error, and an Error's "
                         "`error`"),
        }, public=True)},
        "/v1/openapi.json": {"get": _operation("This document", {
            "200": _json(_OBJECT, "OpenAPI 3.1"),
        }, public=True)},
    }


def _with_csrf_errors(paths: dict[str, Any]) -> dict[str, Any]:
    """Every operation that changes something, reached through the web page's session, is
    refused without the page's CSRF token."""
    csrf = "signed in through the web page without its X-CSRF-Token (csrf_failed)"
    for methods in paths.values():
        for method, operation in methods.items():
            if method == "get" or operation.get("security") == []:
                continue
            responses = operation["responses"]
            if "403" in responses:
                responses["403"] = _error(f"{responses['403']['description']}; or {csrf}")
            else:
                responses["403"] = _error(csrf)
    return paths


def _model_schemas(*models: type[BaseModel]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document of the API."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "videofactory", "version": "1",
                 "description": "Short social videos from an idea, a product, a clip or a "
                                "whole product feed, made by a fleet of workers. "
                                "Every 4xx and 5xx body is an Error (GET /v1/health's 503 "
                                "is its report with an Error's `error` added)."},
        "servers": [{"url": "/"}],
        "security": [{"apiKey": []}, {"webSession": []}],
        "paths": _with_csrf_errors(_paths()),
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer",
                           "description": "Authorization: Bearer <API key>"},
                "webSession": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                               "description": "the web page's sign-in; what changes something "
                               f"must also send {CSRF_HEADER} (403 csrf_failed)"}},
            "schemas": {**_model_schemas(JobCreate, BatchCreate, ProfileUpdate, ScriptEdit,
                                         ScriptRegenerate),
                        "Error": _ERROR, "Batch": _BATCH, "BatchSummary": _BATCH_SUMMARY,
                        "BatchCounts": _BATCH_COUNTS, "BatchAccepted": _BATCH_ACCEPTED,
                        "BatchList": _BATCH_LIST,
                        "Stage": _STAGE, "Job": _JOB, "JobAccepted": _JOB_ACCEPTED,
                        "JobList": _JOB_LIST,
                        "Upload": _UPLOAD, "MusicList": _MUSIC_LIST,
                        "ProfileCreate": _PROFILE_CREATE, "ProfileDeleted": _PROFILE_DELETED,
                        "Health": _HEALTH},
        },
    }


@bp.get("")
def document() -> ResponseReturnValue:
    """The OpenAPI document (no key needed)."""
    return jsonify(openapi_document())
