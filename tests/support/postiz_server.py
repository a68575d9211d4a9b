"""A local HTTP server shaped like Postiz's public API (`/public/v1`), for the publish tests.

It answers as Postiz's code does (apps/backend/src/public-api/routes/v1/
public.integrations.controller.ts, PublicAuthMiddleware, the post DTOs and validatePosts):
the bare key in `Authorization` or 401 `{"msg": ...}`; multipart field `file`, MP4 only, at
most 1 GiB; `POST /posts` validated (provider settings even for drafts, media and length
for the rest), stored and answered 201 `[{postId, integration}]`; `GET /posts` answering
`{"posts": [...]}` by publish date; `GET /integrations` from the configured channels.

A test can make it refuse a channel's posts with a provider message, answer 429 with
Retry-After to the next N posts, enforce a posts-an-hour limit (the organisation's
throttler), or "crash" after storing a post (close the connection without an answer). Every
request is recorded: method, path, query, headers, JSON body, upload size and hash. Uploads
are read in chunks (werkzeug's streaming multipart decoder), so a test can upload more than
it wants to hold in memory.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, File, MultipartDecoder, NeedData

PREFIX = "/public/v1"
MAX_VIDEO_BYTES = 1024 * 1024 * 1024
# Each provider's maxLength() in Postiz (characters after HTML is stripped).
MAX_LENGTH = {"tiktok": 2000, "tiktok-business": 2000, "youtube": 5000, "instagram": 2200,
              "instagram-standalone": 2200}
_TIKTOK_PRIVACY = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR",
                   "SELF_ONLY")


@dataclass(frozen=True)
class Upload:
    """The file part of one upload, as received."""

    field: str
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    json: Any = None
    upload: Upload | None = None


@dataclass
class StoredPost:
    """A post as Postiz keeps it; a test may change `state` and `release_url`."""

    id: str
    group: str
    integration: dict[str, Any]
    content: str
    publish_date: datetime
    state: str  # QUEUE | PUBLISHED | ERROR | DRAFT
    settings: dict[str, Any]
    image: list[dict[str, Any]]
    release_url: str | None = None

    def listed(self) -> dict[str, Any]:
        """The fields `GET /posts` selects (posts.repository.ts, getPosts)."""
        return {
            "id": self.id, "content": self.content,
            "publishDate": self.publish_date.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "releaseURL": self.release_url, "releaseId": None, "state": self.state,
            "intervalInDays": None, "group": self.group, "creationMethod": "API",
            "settings": json.dumps(self.settings), "tags": [],
            "integration": {"id": self.integration["id"],
                            "providerIdentifier": self.integration["identifier"],
                            "name": self.integration["name"],
                            "picture": self.integration.get("picture", "")},
        }


@dataclass
class PostizServer:
    """What the fake holds and how it misbehaves; change the fields from the test."""

    api_key: str
    integrations: list[dict[str, Any]]
    port: int = 0
    requests: list[Seen] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)  # media id -> bytes
    posts: list[StoredPost] = field(default_factory=list)
    keep_upload_bytes: bool = True
    max_upload_bytes: int = MAX_VIDEO_BYTES
    rejections: dict[str, str] = field(default_factory=dict)  # integration id -> message
    rate_limited_posts: int = 0  # answer the next N `POST /posts` with 429
    retry_after: int = 60
    per_hour: int | None = None  # the organisation's limit (Postiz's API_LIMIT)
    crash_after_store: int = 0  # drop the connection after storing the next N posts
    # "before" or "after" storing: the next POST /posts waits there until `release` is set,
    # and `holding` tells a test that a worker is waiting, ready to be killed.
    hold: str = ""
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    # Once released, a post held "before" is dropped unstored: it never reached Postiz.
    drop_held: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    _post_hits: list[float] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """Where the API lives, as a client is configured with it."""
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    def seen(self, method: str, path: str) -> list[Seen]:
        """The requests received for one endpoint (`path` below /public/v1)."""
        return [s for s in self.requests if s.method == method and s.path == PREFIX + path]

    def post(self, post_id: str) -> StoredPost:
        """A stored post by id."""
        return next(post for post in self.posts if post.id == post_id)

    def publish(self, post_id: str, release_url: str) -> None:
        """Mark a post PUBLISHED with the platform's link, as Postiz's worker would."""
        post = self.post(post_id)
        post.state, post.release_url = "PUBLISHED", release_url


def integration(identifier: str, id: str | None = None, name: str = "",
                disabled: bool = False) -> dict[str, Any]:
    """A channel as `GET /integrations` lists it."""
    return {"id": id or f"int-{identifier}", "name": name or f"My {identifier}",
            "identifier": identifier, "picture": f"https://cdn.example/{identifier}.png",
            "disabled": disabled, "profile": f"{identifier}_profile"}


class _Reply(Exception):
    """Answer the request with this status and JSON body."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class _Crash(Exception):
    """Close the connection without answering."""


def _bad_request(message: str | list[str]) -> _Reply:
    return _Reply(400, {"statusCode": 400, "message": message, "error": "Bad Request"})


def _handler(state: PostizServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet."""

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query))
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                payload, upload = self._read_body(headers)
                with state.lock:
                    state.requests.append(Seen(method, parts.path, query, headers,
                                               json=payload, upload=upload))
                status, body = _route(state, method, parts.path, query, headers, payload,
                                      upload, self._upload_bytes)
                self._send(status, body, {})
            except _Reply as reply:
                self._send(reply.status, reply.body, reply.headers)
            except _Crash:
                self.close_connection = True

        def _read_body(self, headers: dict[str, str]) -> tuple[Any, Upload | None]:
            self._upload_bytes = b""
            length = int(headers.get("content-length", "0") or 0)
            kind, options = parse_options_header(headers.get("content-type", ""))
            if kind == "multipart/form-data":
                return None, self._read_upload(length, options.get("boundary", ""))
            raw = self.rfile.read(length) if length else b""
            if not raw:
                return None, None
            try:
                return json.loads(raw), None
            except ValueError:
                raise _bad_request("Unexpected token in JSON") from None

        def _read_upload(self, length: int, boundary: str) -> Upload | None:
            decoder = MultipartDecoder(boundary.encode())
            found: dict[str, Any] = {}
            digest, size, kept = hashlib.sha256(), 0, bytearray()
            remaining = length
            while True:
                chunk = self.rfile.read(min(65536, remaining)) if remaining else b""
                remaining -= len(chunk)
                decoder.receive_data(chunk or None)
                event = decoder.next_event()
                while not isinstance(event, NeedData | Epilogue):
                    if isinstance(event, File) and not found:
                        found = {"field": event.name, "filename": event.filename,
                                 "content_type": event.headers.get("content-type", "")}
                    elif isinstance(event, Data) and found and "done" not in found:
                        digest.update(event.data)
                        size += len(event.data)
                        if state.keep_upload_bytes or len(kept) < 64:
                            kept += event.data
                        if not event.more_data:
                            found["done"] = True
                    event = decoder.next_event()
                if isinstance(event, Epilogue) or not chunk:
                    break
            while remaining > 0:  # an epilogue: read it, or the next request starts inside it
                remaining -= len(self.rfile.read(min(65536, remaining))) or remaining
            self._upload_bytes = bytes(kept)
            if not found:
                return None
            return Upload(found["field"], found["filename"], found["content_type"], size,
                          digest.hexdigest())

        def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _route(state: PostizServer, method: str, path: str, query: dict[str, str],
           headers: dict[str, str], payload: Any, upload: Upload | None,
           upload_bytes: bytes) -> tuple[int, Any]:
    if not path.startswith(PREFIX + "/"):
        raise _Reply(404, {"message": f"Cannot {method} {path}", "error": "Not Found",
                           "statusCode": 404})
    auth = headers.get("authorization", "")
    if not auth:
        raise _Reply(401, {"msg": "No API Key found"})
    if auth != state.api_key:
        raise _Reply(401, {"msg": "Invalid API key"})
    endpoint = (method, path.removeprefix(PREFIX))
    if endpoint == ("GET", "/integrations"):
        return 200, list(state.integrations)
    if endpoint == ("POST", "/upload"):
        return 201, _upload(state, upload, upload_bytes)
    if endpoint == ("POST", "/posts"):
        _throttle(state)
        return 201, _create_posts(state, payload)
    if endpoint == ("GET", "/posts"):
        return 200, {"posts": _list_posts(state, query)}
    raise _Reply(404, {"message": f"Cannot {method} {path}", "error": "Not Found",
                       "statusCode": 404})


def _upload(state: PostizServer, upload: Upload | None, data: bytes) -> dict[str, Any]:
    if upload is None or upload.field != "file":
        raise _Reply(400, {"msg": "No file provided"})
    # Postiz sniffs the bytes (file-type) and keeps only images and MP4.
    if data[4:8] != b"ftyp" or data[8:12] == b"qt  ":
        raise _bad_request("Unsupported file type.")
    if upload.size > state.max_upload_bytes:
        raise _bad_request(f"File size exceeds the maximum allowed size of "
                           f"{state.max_upload_bytes} bytes.")
    media_id = str(uuid.uuid4())
    name = f"{secrets.token_hex(8)}.mp4"
    with state.lock:
        if state.keep_upload_bytes:
            state.uploads[media_id] = data
    path = f"http://127.0.0.1:{state.port}/uploads/2026/01/01/{name}"
    return {"id": media_id, "name": name, "originalName": None, "path": path,
            "thumbnail": None, "alt": None}


def _throttle(state: PostizServer) -> None:
    """Postiz's ThrottlerBehindProxyGuard: every `POST /posts` counts, valid or not."""
    with state.lock:
        if state.rate_limited_posts > 0:
            state.rate_limited_posts -= 1
            raise _too_many(state.retry_after)
        if state.per_hour is None:
            return
        now = time.monotonic()
        state._post_hits = [hit for hit in state._post_hits if now - hit < 3600]
        state._post_hits.append(now)
        if len(state._post_hits) > state.per_hour:
            raise _too_many(max(1, int(3600 - (now - state._post_hits[0]))))


def _too_many(seconds: int) -> _Reply:
    return _Reply(429, {"statusCode": 429, "message": "ThrottlerException: Too Many Requests"},
                  {"Retry-After": str(seconds)})


def _held(state: PostizServer, where: str) -> None:
    if state.hold != where:
        return
    state.hold = ""
    state.holding.set()
    state.release.wait(120)
    if where == "before" and state.drop_held:
        raise _Crash()


def _create_posts(state: PostizServer, body: Any) -> list[dict[str, str]]:
    posts = _validated(state, body)
    _held(state, "before")
    created, crash = [], False
    with state.lock:
        for item, channel in posts:
            date = (datetime.now(UTC).replace(second=0, microsecond=0)
                    if body["type"] == "now" else _iso(body["date"]))
            stored = StoredPost(
                id=f"c{secrets.token_hex(12)}", group=str(uuid.uuid4()), integration=channel,
                content=item["value"][0]["content"], publish_date=date,
                state="DRAFT" if body["type"] == "draft" else "QUEUE",
                settings={**item.get("settings", {}), "__type": channel["identifier"]},
                image=item["value"][0].get("image", []))
            state.posts.append(stored)
            created.append({"postId": stored.id, "integration": channel["id"]})
        if state.crash_after_store > 0:
            state.crash_after_store -= 1
            crash = True
    _held(state, "after")
    if crash:
        raise _Crash()
    return created


def _validated(state: PostizServer, body: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The checks of mapTypeToPost (the DTOs, settings always) and validatePosts."""
    if not isinstance(body, dict):
        raise _bad_request(["posts must be an array"])
    errors = []
    if body.get("type") not in ("draft", "schedule", "now", "update"):
        errors.append("type must be one of the following values: draft, schedule, now, update")
    if not isinstance(body.get("shortLink"), bool):
        errors.append("shortLink must be a boolean value")
    if not isinstance(body.get("date"), str) or _iso(body["date"]) is None:
        errors.append("date must be a valid ISO 8601 date string")
    if not isinstance(body.get("tags"), list):
        errors.append("tags must be an array")
    items = body.get("posts")
    if not isinstance(items, list) or not items:
        errors.append("posts must contain at least 1 elements")
        raise _bad_request(errors)
    if not all(isinstance(p, dict) and (p.get("integration") or {}).get("id") for p in items):
        raise _bad_request("All posts must have an integration id")
    by_id = {channel["id"]: channel for channel in state.integrations}
    resolved = []
    for index, item in enumerate(items):
        channel = by_id.get(item["integration"]["id"])
        if channel is None:
            raise _bad_request(f"Integration with id {item['integration']['id']} not found")
        errors += _post_errors(f"posts.{index}", item, channel["identifier"])
        resolved.append((item, channel))
    if errors:
        raise _bad_request(errors)
    for item, channel in resolved:
        if not _plain(item["value"][0]["content"]).strip() and not item["value"][0]["image"]:
            _provider_error(channel, "Your post should have at least one character or one "
                                     "image.")
    if body["type"] != "draft":
        for item, channel in resolved:
            problem = state.rejections.get(channel["id"]) or _media_error(item, channel)
            if problem:
                _provider_error(channel, problem)
            limit = MAX_LENGTH.get(channel["identifier"], 1_000_000)
            if len(_plain(item["value"][0]["content"])) > limit:
                _provider_error(channel, "post is too long, please fix it")
    return resolved


def _post_errors(where: str, item: dict[str, Any], provider: str) -> list[str]:
    errors = []
    values = item.get("value")
    if not isinstance(values, list) or not values:
        return [f"{where}.value must contain at least 1 elements"]
    for number, value in enumerate(values):
        if not isinstance(value.get("content"), str):
            errors.append(f"{where}.value.{number}.content must be a string")
        images = value.get("image")
        if not isinstance(images, list):
            errors.append(f"{where}.value.{number}.image must be an array")
            continue
        for image in images:
            if not isinstance(image.get("id"), str) or not isinstance(image.get("path"), str):
                errors.append(f"{where}.value.{number}.image id and path must be strings")
            elif not re.search(r"\.(png|jpe?g|gif|webp|mp4)$", image["path"].split("?")[0]):
                errors.append("File must have a valid extension: .png, .jpg, .jpeg, .gif, "
                              ".webp, or .mp4")
    settings = item.get("settings") or {}
    return errors + [f"{where}.settings.{e}" for e in _settings_errors(provider, settings)]


def _settings_errors(provider: str, settings: dict[str, Any]) -> list[str]:
    """The provider DTOs' rules (tiktok.dto.ts, youtube.settings.dto.ts, instagram.dto.ts)."""
    def one_of(name: str, allowed: Sequence[str], optional: bool = False) -> list[str]:
        if optional and name not in settings:
            return []
        ok = settings.get(name) in allowed
        return [] if ok else [f"{name} must be one of the following values: "
                              f"{', '.join(allowed)}"]

    def boolean(name: str, optional: bool = False) -> list[str]:
        if optional and name not in settings:
            return []
        ok = isinstance(settings.get(name), bool)
        return [] if ok else [f"{name} must be a boolean value"]

    if provider.startswith("tiktok"):
        return [*one_of("privacy_level", _TIKTOK_PRIVACY), *boolean("duet"),
                *boolean("stitch"), *boolean("comment"), *one_of("autoAddMusic", ("yes", "no")),
                *boolean("brand_content_toggle"), *boolean("brand_organic_toggle"),
                *boolean("video_made_with_ai", optional=True),
                *one_of("content_posting_method", ("DIRECT_POST", "UPLOAD"))]
    if provider == "youtube":
        title = settings.get("title")
        errors = [] if isinstance(title, str) and 2 <= len(title) <= 100 else [
            "title must be longer than or equal to 2 and shorter than or equal to 100 "
            "characters"]
        tags = settings.get("tags", [])
        if not isinstance(tags, list) or not all(
                isinstance(t, dict) and isinstance(t.get("value"), str)
                and isinstance(t.get("label"), str) for t in tags):
            errors.append("tags must be a list of {value, label}")
        return [*errors, *one_of("type", ("public", "private", "unlisted")),
                *one_of("selfDeclaredMadeForKids", ("yes", "no"), optional=True)]
    if provider.startswith("instagram"):
        return one_of("post_type", ("post", "story"))
    return []


def _media_error(item: dict[str, Any], channel: dict[str, Any]) -> str:
    """The providers' checkValidity for a single video."""
    images = item["value"][0]["image"]
    provider = channel["identifier"]
    if provider.startswith("tiktok") and not images:
        return "No video / images selected"
    if provider == "youtube" and len(images) != 1:
        return "You need one media"
    if provider.startswith("instagram") and not images:
        return "Should have at least one media"
    return ""


def _provider_error(channel: dict[str, Any], message: str) -> None:
    """PostValidationExceptionFilter's body."""
    raise _Reply(400, {"statusCode": 400, "provider": channel["identifier"],
                       "name": channel["name"], "message": message})


def _list_posts(state: PostizServer, query: dict[str, str]) -> list[dict[str, Any]]:
    start, end = _iso(query.get("startDate", "")), _iso(query.get("endDate", ""))
    errors = [f"{name} must be a valid ISO 8601 date string"
              for name, value in (("startDate", start), ("endDate", end)) if value is None]
    if errors:
        raise _bad_request(errors)
    assert start is not None and end is not None
    with state.lock:
        return [post.listed() for post in state.posts if start <= post.publish_date <= end]


def _iso(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _plain(content: str) -> str:
    """Content as Postiz measures it: paragraphs become lines, tags go, entities decode."""
    text = re.sub(r"^<p[^>]*>", "", content)
    text = re.sub(r"<p[^>]*>", "\n", text)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


@contextmanager
def postiz_server(api_key: str = "postiz-test-key",
                  integrations: Sequence[dict[str, Any]] = ()) -> Iterator[PostizServer]:
    """A fake Postiz on 127.0.0.1 for the duration of the block."""
    state = PostizServer(api_key=api_key, integrations=list(integrations) or [
        integration("tiktok"), integration("youtube"), integration("instagram")])
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.port = int(httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
