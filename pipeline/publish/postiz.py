"""A client for Postiz's public API (`/public/v1`), the way our videos reach social channels.

Shapes follow Postiz's own code (gitroomhq/postiz-app,
apps/backend/src/public-api/routes/v1/public.integrations.controller.ts and the DTOs in
libraries/nestjs-libraries/src/dtos/posts/): the key goes bare in `Authorization`, uploads are
multipart field `file` (MP4 only for video, at most 1 GiB), `POST /posts` answers
`[{postId, integration}]` with 201, and `GET /posts` answers `{"posts": [...]}`.

Every failure is one `PostizError` whose `code` says what a caller should do: retry later
(`postiz_rate_limited`, `postiz_unavailable`), fix the key (`postiz_unauthorized`), fix the
post (`postiz_rejected`) or fix the configured URL (`postiz_bad_url`). The API key never
appears in a message or a repr.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult

import httpx

from pipeline.sources.fetch import (
    FetchRefused,
    IPAddress,
    open_checked,
    resolve_checked,
    retry_after_seconds,
    sniff,
)

# Postiz's getMaxSize('video/mp4') in libraries/nestjs-libraries/src/upload/.
MAX_UPLOAD_BYTES = 1024 * 1024 * 1024
PUBLIC_PREFIX = "/public/v1"

UNAUTHORIZED = "postiz_unauthorized"
RATE_LIMITED = "postiz_rate_limited"
REJECTED = "postiz_rejected"
UNAVAILABLE = "postiz_unavailable"
BAD_URL = "postiz_bad_url"
TRANSIENT_CODES = frozenset({RATE_LIMITED, UNAVAILABLE})


class PostizError(Exception):
    """Postiz did not do what was asked; `code` is one of the `postiz_*` codes above."""

    def __init__(self, code: str, message: str, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.status = status

    @property
    def transient(self) -> bool:
        """Whether trying again later may succeed (rate limit, outage, timeout)."""
        return self.code in TRANSIENT_CODES

    def __repr__(self) -> str:
        return (f"PostizError(code={self.code!r}, message={self.message!r}, "
                f"retry_after={self.retry_after!r}, status={self.status!r})")


@dataclass(frozen=True)
class Integration:
    """A connected channel; `identifier` is Postiz's provider name ("tiktok", "youtube",
    "instagram", "instagram-standalone", "tiktok-business", ...)."""

    id: str
    name: str
    identifier: str
    picture: str = ""
    disabled: bool = False
    profile: str = ""


@dataclass(frozen=True)
class UploadedMedia:
    """A file stored by Postiz; a post refers to it by both `id` and `path` (a URL)."""

    id: str
    path: str
    name: str = ""


@dataclass(frozen=True)
class PostRequest:
    """A ready `POST /posts` body (built by `pipeline.publish.postiz_posts.build_request`)."""

    body: Mapping[str, Any]


@dataclass(frozen=True)
class CreatedPost:
    """One post Postiz created: its id and the channel it goes to."""

    post_id: str
    integration_id: str


@dataclass(frozen=True)
class PostState:
    """A post as `GET /posts` shows it. `state` is QUEUE, PUBLISHED, ERROR or DRAFT;
    `release_url` is the platform's link once published."""

    id: str
    state: str
    integration_id: str
    provider: str
    content: str
    publish_date: datetime | None
    release_url: str | None = None
    group: str = ""


def normalize_base_url(url: str) -> str:
    """Accept the backend URL with or without `/public/v1` (`https://host/api` works too)."""
    url = url.strip().rstrip("/")
    return url if url.endswith(PUBLIC_PREFIX) else url + PUBLIC_PREFIX


def iso_utc(moment: datetime) -> str:
    """An aware datetime as ISO-8601 UTC with a Z, the form Postiz's `IsDateString` takes."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()}: a time zone is required (naive datetime)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PostizClient:
    """Talks to one Postiz organisation (the API key decides which); one thread at a time."""

    def __init__(self, base_url: str, api_key: str, *, client: httpx.Client | None = None,
                 timeout: float = 60, allow_hosts: frozenset[str] = frozenset(),
                 upload_timeout: float = 600) -> None:
        if not api_key.strip():
            raise ValueError("api_key: must not be empty")
        self.base_url = normalize_base_url(base_url)
        self.allow_hosts = allow_hosts
        self.timeout = timeout
        # Storing a 1 GiB upload (to disk, S3 or R2) happens before Postiz answers, so the
        # wait for that answer gets its own, longer limit.
        self.upload_timeout = upload_timeout
        self._api_key = api_key
        self._owns_client = client is None
        # trust_env=False: a proxy from the environment would resolve the host itself, around
        # the address check.
        self._client = client or httpx.Client(trust_env=False)

    def __repr__(self) -> str:
        return f"PostizClient({self.base_url!r})"

    def close(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> PostizClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def integrations(self) -> list[Integration]:
        """The organisation's connected channels."""
        data = self._request("GET", "/integrations")
        return [_integration(item) for item in _list(data, "integrations")]

    def upload(self, path: Path) -> UploadedMedia:
        """Upload an MP4, streamed from disk in chunks (never read whole into memory)."""
        path = Path(path)
        size = path.stat().st_size
        if size == 0:
            raise PostizError(REJECTED, f"{path.name}: the file is empty")
        if size > MAX_UPLOAD_BYTES:
            raise PostizError(REJECTED, f"{path.name}: {size} bytes; Postiz accepts at most "
                                        f"{MAX_UPLOAD_BYTES} bytes (1 GiB) per upload")
        with path.open("rb") as file:
            kind = sniff(file.read(64))
            if kind != "video/mp4":
                # Postiz sniffs the bytes too and answers "Unsupported file type." for
                # anything but MP4 (and images); refuse before sending a gigabyte.
                raise PostizError(REJECTED, f"{path.name}: Postiz accepts only MP4 video "
                                            f"(this file looks like {kind})")
            file.seek(0)
            # httpx reads a file object in 64 KiB chunks while sending.
            data = self._request("POST", "/upload",
                                 files={"file": (_upload_name(path), file, "video/mp4")},
                                 timeout=httpx.Timeout(self.timeout, read=self.upload_timeout))
        if not isinstance(data, dict) or not data.get("id") or not data.get("path"):
            raise PostizError(UNAVAILABLE, "Postiz answered the upload without an id and path")
        return UploadedMedia(id=str(data["id"]), path=str(data["path"]),
                             name=str(data.get("name") or ""))

    def create_post(self, request: PostRequest) -> list[CreatedPost]:
        """Create the posts of `request`; one per channel it names.

        Not idempotent: a timeout or a dropped connection leaves it unknown whether the post
        exists, so look it up with `find_post` before sending it again.
        """
        data = self._request("POST", "/posts", json=dict(request.body))
        created = []
        for item in _list(data, "posts"):
            if not isinstance(item, dict) or not item.get("postId"):
                raise PostizError(UNAVAILABLE, "Postiz answered a created post without postId")
            created.append(CreatedPost(post_id=str(item["postId"]),
                                       integration_id=str(item.get("integration") or "")))
        return created

    def posts(self, start: datetime, end: datetime) -> list[PostState]:
        """Posts whose publish date lies in [start, end] (deleted ones are not listed)."""
        data = self._request("GET", "/posts",
                             params={"startDate": iso_utc(start), "endDate": iso_utc(end)})
        if isinstance(data, dict):
            data = data.get("posts", [])
        return [_post_state(item) for item in _list(data, "posts")]

    def find_post(self, integration_id: str, content_marker: str, start: datetime,
                  end: datetime) -> PostState | None:
        """The post for this channel whose content carries `content_marker`, or None.

        Reliable because the marker (`postiz_posts.content_marker(key)`, with the
        publication's idempotency key) comes from that key alone, so every retry computes
        the same one without stored state; Postiz stores the content as sent (its sanitiser
        keeps text, invisible characters included) and lists it back from `GET /posts`; and
        the match also needs the channel. Choose [start, end] to cover the date sent, with
        slack for "now" posts, which Postiz dates by its own clock. With several matches (a
        duplicate already happened) the earliest is returned.
        """
        if not content_marker:
            raise ValueError("content_marker: must not be empty")
        found = [post for post in self.posts(start, end)
                 if post.integration_id == integration_id
                 and content_marker in html.unescape(post.content)]
        found.sort(key=lambda post: post.publish_date or datetime.max.replace(tzinfo=UTC))
        return found[0] if found else None

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send to an address checked by the fetcher's rules, with the original name in
        Host and TLS SNI, so DNS cannot swap in a private address between check and use."""
        url = self.base_url + path
        parts, addresses = self._resolve(url)
        headers = {"Authorization": self._api_key, "Accept": "application/json"}
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = open_checked(self._client, method, parts, addresses, url,
                                    headers=headers, stream=False, **kwargs)
        except FetchRefused as refused:
            # A connection that broke off may or may not have been acted on: "unavailable",
            # which the publication's states answer by looking the post up before resending.
            code = BAD_URL if refused.code == "bad_url" else UNAVAILABLE
            raise PostizError(code, f"{method} {self._scrub(refused.message)}") from None
        return self._answer(method, url, response)

    def _resolve(self, url: str) -> tuple[SplitResult, list[IPAddress]]:
        """Refuse a URL of an odd shape or at loopback, private or metadata addresses."""
        try:
            return resolve_checked(url, self.allow_hosts)
        except FetchRefused as refused:
            code = UNAVAILABLE if refused.code == "unreachable" else BAD_URL
            raise PostizError(code, f"Postiz URL refused: {refused.message}") from None

    def _answer(self, method: str, url: str, response: httpx.Response) -> Any:
        if response.is_success:
            try:
                return response.json()
            except ValueError:
                raise PostizError(UNAVAILABLE, f"{method} {url}: answer is not JSON",
                                  status=response.status_code) from None
        raise self._error(method, url, response)

    def _error(self, method: str, url: str, response: httpx.Response) -> PostizError:
        status = response.status_code
        said = self._scrub(_server_message(response))
        where = f"{method} {url}: HTTP {status}" + (f": {said}" if said else "")
        if status in (401, 403):
            return PostizError(UNAUTHORIZED, f"{where} (check the Postiz API key)", status=status)
        if status == 429:
            retry_after = retry_after_seconds(response.headers.get("retry-after", ""))
            return PostizError(RATE_LIMITED, where, retry_after=retry_after, status=status)
        if 300 <= status < 400:
            location = response.headers.get("location", "")
            return PostizError(BAD_URL, f"{where}: redirects to {location!r}; configure the "
                                        f"URL it points to", status=status)
        if status >= 500:
            return PostizError(UNAVAILABLE, where, status=status)
        return PostizError(REJECTED, said or where, status=status)

    def _scrub(self, text: str) -> str:
        """Never repeat the key, even where a server echoes it."""
        return text.replace(self._api_key, "***") if self._api_key in text else text


def _server_message(response: httpx.Response) -> str:
    """Postiz's words: `message` (a string or class-validator's list), `msg`, and the
    provider's name for its post validation errors."""
    try:
        data = response.json()
    except ValueError:
        text = " ".join(response.text.split())
        return "" if len(text) > 300 or text.startswith("<") else text
    if not isinstance(data, dict):
        return ""
    message = data.get("message", data.get("msg", data.get("error", "")))
    if isinstance(message, list):
        message = "; ".join(str(part) for part in message)
    message = str(message or "")
    name = data.get("name") or data.get("provider")
    return f"{name}: {message}" if name and message else message


def _upload_name(path: Path) -> str:
    """The file name sent with the upload: Postiz keeps it as the media name."""
    return path.name if re.fullmatch(r"[A-Za-z0-9._-]{1,100}", path.name) else "video.mp4"


def _list(data: Any, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise PostizError(UNAVAILABLE, f"Postiz answered {what} with {type(data).__name__}, "
                                       f"not a list")
    return data


def _integration(item: Any) -> Integration:
    if not isinstance(item, dict) or not item.get("id"):
        raise PostizError(UNAVAILABLE, "Postiz listed an integration without an id")
    return Integration(id=str(item["id"]), name=str(item.get("name") or ""),
                       identifier=str(item.get("identifier") or ""),
                       picture=str(item.get("picture") or ""),
                       disabled=bool(item.get("disabled")),
                       profile=str(item.get("profile") or ""))


def _post_state(item: Any) -> PostState:
    if not isinstance(item, dict) or not item.get("id"):
        raise PostizError(UNAVAILABLE, "Postiz listed a post without an id")
    integration = item.get("integration") or {}
    return PostState(
        id=str(item["id"]), state=str(item.get("state") or ""),
        integration_id=str(integration.get("id") or ""),
        provider=str(integration.get("providerIdentifier") or ""),
        content=str(item.get("content") or ""),
        publish_date=_parse_date(item.get("publishDate")),
        release_url=item.get("releaseURL") or None, group=str(item.get("group") or ""))


def _parse_date(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
