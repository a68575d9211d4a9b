"""The one way to fetch remote content (feeds, images, clips) that strangers point us at.

Every host is resolved once, every address it resolves to is checked, and the connection goes
to the checked address itself, so neither odd host spellings (``http://0x7f000001/``) nor a DNS
answer that changes between check and connect can reach loopback, private or metadata
addresses. Redirects are followed by hand and each hop is checked again. The body is streamed
to a temporary file next to ``out`` and renamed only when complete and within the size limit.
"""

from __future__ import annotations

import codecs
import email.utils
import functools
import hashlib
import ipaddress
import os
import re
import secrets
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import certifi
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}
SNIFF_BYTES = 512

_METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class FetchLimits:
    """How much, how long and how far one fetch may go."""

    max_bytes: int = 50 * 1024 * 1024
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    max_redirects: int = 5
    # The whole fetch, redirects and body included: a server trickling a byte at a time
    # never trips the read timeout, but it trips this.
    deadline: float = 60.0
    # FETCH_ALLOW_HOSTS: host names (as written in the URL) or IPs that may be private.
    allow_hosts: frozenset[str] = frozenset()


class FetchRefused(Exception):
    """The URL was not fetched; `code` says why in one word and `message` names the URL."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Fetched:
    """A fetched body: where it ended up (after redirects), its size, sniffed type and hash."""

    url: str
    path: Path
    size: int
    content_type: str
    sha256: str
    # The server's validators, for a conditional fetch next time.
    etag: str = ""
    last_modified: str = ""
    not_modified: bool = False  # 304: the copy named by the validators is still current
    max_age: int = 0  # seconds the server says the answer stays fresh (Cache-Control)


def check_address(ip: IPAddress) -> str | None:
    """Return why connecting to `ip` is refused, or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        # Addresses that carry an IPv4 address inside are judged by that address.
        embedded: ipaddress.IPv4Address | None = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is None and ip.teredo is not None:
            embedded = ip.teredo[1]
        if embedded is not None:
            reason = check_address(embedded)
            return f"{reason} (embedded in {ip})" if reason else None
    if ip in _METADATA:
        return "cloud metadata address"
    if ip.is_loopback:
        return "loopback address"
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_multicast:
        return "multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "shared address space (100.64.0.0/10)"
    if ip.is_reserved:
        return "reserved address"
    if ip.is_private:
        return "private address"
    if not ip.is_global:
        return "not a public address"
    return None


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every fetch: loading the CA bundle costs more than a small fetch."""
    return ssl.create_default_context(cafile=certifi.where())


def open_client(limits: FetchLimits = FetchLimits()) -> httpx.Client:  # noqa: B008
    """A client for `fetch` to reuse across calls (its connections stay open); one thread
    at a time."""
    timeout = httpx.Timeout(
        connect=limits.connect_timeout,
        read=limits.read_timeout,
        write=limits.read_timeout,
        pool=limits.connect_timeout,
    )
    # trust_env=False: a proxy from the environment would resolve names itself and undo the
    # address check; follow_redirects=False: every hop must be checked here.
    return httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False,
                        verify=_tls_context())


def fetch(url: str, out: Path, limits: FetchLimits = FetchLimits(),  # noqa: B008
          *, etag: str = "", last_modified: str = "",
          client: httpx.Client | None = None) -> Fetched:
    """Download `url` to `out` within `limits`, refusing unsafe addresses and oversized bodies.

    With `etag` or `last_modified` from an earlier fetch the request is conditional, and a
    304 answer comes back as `not_modified` with nothing written. `client` (from
    `open_client`) keeps connections open between fetches.
    """
    if client is None:
        with open_client(limits) as own:
            return _fetch(own, url, out, limits, etag, last_modified)
    return _fetch(client, url, out, limits, etag, last_modified)


def resolve_checked(url: str, allow_hosts: frozenset[str] = frozenset()
                    ) -> tuple[SplitResult, list[IPAddress]]:
    """Parse `url` and resolve its host once, refusing it as `fetch` would: its parts and the
    addresses to dial (for callers that send something other than a GET, as webhooks do).

    Raises:
        FetchRefused: naming the URL and the reason.
    """
    parts = _parse(url)
    return parts, _resolve(parts, url, allow_hosts)


def check_url(url: str, allow_hosts: frozenset[str] = frozenset()) -> None:
    """Refuse a URL the fetcher would refuse before it connects (its shape, or a host that
    resolves to a loopback, private, link-local or metadata address), without fetching it.
    Where it redirects to is only known by fetching.

    Raises:
        FetchRefused: naming the URL and the reason.
    """
    _resolve(_parse(url), url, allow_hosts)


def _fetch(client: httpx.Client, url: str, out: Path, limits: FetchLimits, etag: str,
           last_modified: str) -> Fetched:
    give_up_at = time.monotonic() + limits.deadline
    conditions = {name: value for name, value in (("If-None-Match", etag),
                                                  ("If-Modified-Since", last_modified)) if value}
    current = url
    for _ in range(limits.max_redirects + 1):
        parts = _parse(current)
        addresses = _resolve(parts, current, limits.allow_hosts)
        _check_deadline(give_up_at, url, limits.deadline)
        response = open_checked(client, "GET", parts, addresses, current,
                                headers=conditions)
        try:
            if response.status_code == 304 and conditions:
                return Fetched(url=current, path=out, size=0, content_type="", sha256="",
                               etag=response.headers.get("etag", etag),
                               last_modified=response.headers.get("last-modified",
                                                                  last_modified),
                               not_modified=True, max_age=max_age(response.headers))
            if response.status_code in REDIRECT_STATUSES:
                location = response.headers.get("location")
                if not location:
                    raise FetchRefused(
                        "http_error",
                        f"{current}: HTTP {response.status_code} without a Location header",
                    )
                current = urljoin(current, location)
                continue
            if not 200 <= response.status_code < 300:
                raise FetchRefused("http_error", f"{current}: HTTP {response.status_code}")
            return _save(response, current, out, limits.max_bytes,
                         lambda: _check_deadline(give_up_at, url, limits.deadline))
        finally:
            response.close()
    raise FetchRefused(
        "too_many_redirects", f"{url}: more than {limits.max_redirects} redirects (last {current})"
    )


_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-maxage|max-age)\s*=\s*\"?(\d+)", re.IGNORECASE)


def max_age(headers: httpx.Headers) -> int:
    """How many seconds the server says its answer stays fresh (Cache-Control max-age); 0
    when it says nothing, or no-cache / no-store."""
    control = headers.get("cache-control", "")
    if re.search(r"no-cache|no-store|must-revalidate", control, re.IGNORECASE):
        return 0
    found = _MAX_AGE.search(control)
    return int(found.group(1)) if found else 0


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds a Retry-After header asks to wait (delta-seconds or an HTTP date); None when
    absent or unreadable."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _check_deadline(give_up_at: float, url: str, deadline: float) -> None:
    if time.monotonic() > give_up_at:
        raise FetchRefused("timeout", f"{url}: not fetched within {deadline:g} s")


def sniff(head: bytes) -> str:
    """Return the content type that the first bytes of a file show."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    text = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if text.startswith((b"<?xml", b"<rss", b"<feed")):
        return "application/xml"
    if text.startswith((b"{", b"[")):
        return "application/json"
    if head and _looks_like_text(head):
        return "text/plain"
    return "application/octet-stream"


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        # A multi-byte character may be cut at the end of the sample; final=False allows it.
        decoded = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\t\r\n\f\ufeff" for ch in decoded)


def _parse(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise FetchRefused("bad_url", f"{url}: not a valid URL ({error})") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise FetchRefused("bad_url", f"{url}: only http and https URLs are fetched")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise FetchRefused("bad_url", f"{url}: credentials in URLs are not accepted")
    if not parts.hostname:
        raise FetchRefused("bad_url", f"{url}: no host")
    if port == 0:
        raise FetchRefused("bad_url", f"{url}: port 0")
    return parts


def _resolve(parts: SplitResult, url: str, allow_hosts: frozenset[str]) -> list[IPAddress]:
    """Resolve the host once, as the OS would, and refuse it if any address is not public."""
    host = parts.hostname or ""
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    try:
        # getaddrinfo reads 2130706433, 0x7f000001, 0177.0.0.1 and 127.1 as the OS does.
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise FetchRefused("unreachable", f"{url}: cannot resolve {host!r} ({error})") from None
    addresses: list[IPAddress] = []
    for info in infos:
        # Drop any IPv6 scope id ("fe80::1%eth0") before parsing; the address decides.
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise FetchRefused("unreachable", f"{url}: {host!r} resolves to no address")
    if host in allow_hosts:
        return addresses
    for ip in addresses:
        reason = check_address(ip)
        if reason:  # the allow-list names hosts as written, never what they resolve to
            raise FetchRefused("blocked_address", f"{url}: {host} is {ip}, a {reason}")
    return addresses


def open_checked(client: httpx.Client, method: str, parts: SplitResult,
                 addresses: list[IPAddress], url: str, *, headers: dict[str, str] | None = None,
                 stream: bool = True, **request: Any) -> httpx.Response:
    """Send the request to an address `resolve_checked` approved, with the original name in
    Host and TLS SNI, so DNS cannot swap in another address between the check and the
    connection; the next address is tried only when nothing could be sent. Redirects are
    never followed: each hop must be checked. `request` goes to httpx (content, files,
    json, params, timeout); the response is streamed unless `stream` is False.

    Raises:
        FetchRefused: timeout, bad_url or unreachable, naming the URL.
    """
    host = parts.hostname or ""
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    last_error: Exception | None = None
    for ip in addresses:
        literal = f"[{ip}]" if ip.version == 6 else str(ip)
        try:
            built = client.build_request(
                method, f"{parts.scheme}://{literal}:{port}{target}",
                headers={**(headers or {}), "Host": parts.netloc.lower()},
                extensions=extensions, **request)
            return client.send(built, stream=stream, follow_redirects=False)
        except httpx.ConnectError as error:
            last_error = error  # the next address of the same host may answer
        except httpx.TimeoutException as error:
            raise FetchRefused("timeout", f"{url}: timed out ({error!r})") from None
        except httpx.InvalidURL as error:
            raise FetchRefused("bad_url", f"{url}: {error}") from None
        except httpx.HTTPError as error:
            raise FetchRefused("unreachable", f"{url}: {error!r}") from None
    raise FetchRefused("unreachable", f"{url}: cannot connect ({last_error!r})")


def _save(response: httpx.Response, url: str, out: Path, max_bytes: int,
          check_deadline: Callable[[], None]) -> Fetched:
    """Stream the body to a temporary name beside `out` and rename it when complete."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchRefused("too_large", f"{url}: {declared} bytes declared, limit {max_bytes}")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{secrets.token_hex(4)}.part")
    digest = hashlib.sha256()
    head = b""
    size = 0
    try:
        with partial.open("wb") as sink:
            # No chunk size: chunks come as they arrive, so the deadline is checked that often.
            for chunk in response.iter_bytes():
                check_deadline()
                size += len(chunk)
                if size > max_bytes:
                    raise FetchRefused("too_large", f"{url}: more than {max_bytes} bytes")
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                digest.update(chunk)
                sink.write(chunk)
        os.replace(partial, out)
    except httpx.TimeoutException as error:
        raise FetchRefused("timeout", f"{url}: timed out reading the body ({error!r})") from None
    except httpx.HTTPError as error:
        raise FetchRefused("unreachable", f"{url}: body broken off ({error!r})") from None
    finally:
        partial.unlink(missing_ok=True)
    return Fetched(
        url=url, path=out, size=size, content_type=sniff(head), sha256=digest.hexdigest(),
        etag=response.headers.get("etag", ""),
        last_modified=response.headers.get("last-modified", ""),
        max_age=max_age(response.headers),
    )
