"""Remote pictures and clips (product images, feed images), fetched through the one safe
fetcher, checked like uploads, and kept in media storage by content hash.

Storage holds `fetched/<hh>/<sha256><suffix>` (the bytes, shared by every job and every
worker of the fleet that reaches the store) and `fetched/urls/<sha256 of url>.json` (what the
URL gave last time, with its validators). A second fetch of the same URL is conditional: a
304 reuses the stored copy, and changed bytes give a new content hash, which is how a daily
re-run of a feed sees that a picture changed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import httpx

from pipeline.sources.fetch import FetchLimits, FetchRefused, fetch, open_client
from pipeline.sources.inspect import MediaRejected, MediaTools, check_image, check_video
from store.media import MediaMissing, MediaStorage
from store.settings import Settings

FETCHED_PREFIX = "fetched"
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP")
REMOTE_ACCEPTS = "point at a JPEG, PNG or WebP image (or, for clips, an MP4, MOV or WebM video)"


class RemoteRefused(Exception):
    """A remote file was not taken: unsafe address, too big, not media we can use…"""

    def __init__(self, url: str, code: str, message: str) -> None:
        super().__init__(message)
        self.url = url
        self.code = code
        self.message = message


@dataclass(frozen=True)
class RemoteFile:
    """A checked remote file in media storage."""

    url: str
    key: str
    sha256: str
    kind: str  # "still" or "clip"
    etag: str = ""
    last_modified: str = ""
    duration: float | None = None
    # Until when (Unix time) the server said its copy stays fresh: no request before then.
    fresh_until: float = 0.0


def fetch_limits(settings: Settings, max_bytes: int | None = None) -> FetchLimits:
    """The fetcher's limits from the settings (FETCH_ALLOW_HOSTS, MAX_FETCH_BYTES, …)."""
    return FetchLimits(max_bytes=max_bytes or settings.max_fetch_bytes,
                       connect_timeout=min(5.0, settings.fetch_timeout),
                       read_timeout=settings.fetch_timeout, deadline=settings.fetch_timeout,
                       allow_hosts=settings.fetch_allow_hosts)


def _fresh_until(max_age: int) -> float:
    return time.time() + min(max_age, MAX_FRESH_SECONDS) if max_age > 0 else 0.0


def _url_key(url: str) -> str:
    return f"{FETCHED_PREFIX}/urls/{hashlib.sha256(url.encode()).hexdigest()}.json"


# A server's Cache-Control max-age is honoured up to this long: a day-old product picture
# is asked about again even when its CDN promised a year.
MAX_FRESH_SECONDS = 86400


class RemoteMedia:
    """Fetch-once remote media for one process. Thread-safe: every call has its own files,
    and every thread its own HTTP client, whose connections stay open between fetches."""

    def __init__(self, media: MediaStorage, limits: FetchLimits, tools: MediaTools,
                 scratch: Path) -> None:
        self.media = media
        self.limits = limits
        self.tools = tools
        self.scratch = scratch
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()

    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = open_client(self.limits)
            with self._lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        """Close every thread's connections."""
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()

    def __enter__(self) -> RemoteMedia:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def from_settings(cls, settings: Settings, media: MediaStorage,
                      scratch: Path) -> RemoteMedia:
        """Limits and tools as the settings say."""
        return cls(media, fetch_limits(settings),
                   MediaTools(ffprobe=settings.ffprobe_binary, ffmpeg=settings.ffmpeg_binary),
                   scratch)

    def _known(self, url: str) -> RemoteFile | None:
        try:
            data = json.loads(self.media.read_bytes(_url_key(url)))
            return RemoteFile(**data)
        except (MediaMissing, ValueError, TypeError):
            return None

    def get(self, url: str, *, clips: bool = False) -> RemoteFile:
        """The checked copy of `url` in storage, fetched (conditionally) now.

        Raises:
            RemoteRefused: with the reason, naming the URL.
        """
        known = self._known(url)
        if known is not None and known.fresh_until > time.time() and self.media.exists(
                known.key):
            return known  # the server said it stays as it is until then
        self.scratch.mkdir(parents=True, exist_ok=True)
        local = self.scratch / f"remote-{secrets.token_hex(6)}"
        try:
            try:
                got = fetch(url, local, self.limits, client=self._client(),
                            etag=known.etag if known else "",
                            last_modified=known.last_modified if known else "")
            except FetchRefused as exc:
                # A refused redirect hop names the hop; the reason must name the URL given.
                message = exc.message if exc.message.startswith(url) else (
                    f"{url} (redirected): {exc.message}")
                raise RemoteRefused(url, exc.code, message) from None
            if got.not_modified and known is not None and self.media.exists(known.key):
                if got.max_age:
                    self._remember(replace(known, fresh_until=_fresh_until(got.max_age)))
                return known
            if got.not_modified:  # our copy is gone: fetch it whole
                got = fetch(url, local, self.limits, client=self._client())
            remote = replace(self._store(url, local, got.sha256, got.etag, got.last_modified,
                                         clips), fresh_until=_fresh_until(got.max_age))
        finally:
            local.unlink(missing_ok=True)
        self._remember(remote)
        return remote

    def _remember(self, remote: RemoteFile) -> None:
        self.media.put_bytes(_url_key(remote.url), json.dumps(asdict(remote)).encode())

    def _store(self, url: str, local: Path, sha256: str, etag: str, last_modified: str,
               clips: bool) -> RemoteFile:
        try:
            check = check_image(local, formats=IMAGE_FORMATS, accepts=REMOTE_ACCEPTS)
            if check is None and clips:
                check = check_video(local, self.tools, accepts=REMOTE_ACCEPTS)
        except MediaRejected as exc:
            raise RemoteRefused(url, exc.code, f"{url}: {exc.message}") from None
        if check is None:
            raise RemoteRefused(url, "invalid_media", f"{url}: not a picture; {REMOTE_ACCEPTS}")
        key = f"{FETCHED_PREFIX}/{sha256[:2]}/{sha256}{check.suffixes[0]}"
        if not self.media.exists(key):
            self.media.put_file(key, local)
        return RemoteFile(url=url, key=key, sha256=sha256, kind=check.kind, etag=etag,
                          last_modified=last_modified, duration=check.duration)
