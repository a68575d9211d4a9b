"""Signed webhooks: an event's body, its Stripe-style signature, one delivery, the retry plan.

The receiver checks ``X-Videofactory-Signature: t=<unix>,v1=<hex>`` with `verify`: v1 is the
HMAC-SHA256, keyed by the shared secret, of ``f"{t}."`` followed by the raw body, and t must
be within five minutes of the receiver's clock, so a captured request cannot be replayed
later. A delivery goes only where the safe fetcher's address rules allow, to the checked
address itself, and never follows a redirect.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, cast, get_args
from urllib.parse import SplitResult

import httpx

from pipeline.sources.fetch import (
    FetchLimits,
    FetchRefused,
    IPAddress,
    open_checked,
    open_client,
    resolve_checked,
)

EventType = Literal["job.succeeded", "job.failed", "batch.completed", "publication.published",
                    "publication.failed"]
EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))

SIGNATURE_HEADER = "X-Videofactory-Signature"
TOLERANCE_SECONDS = 300.0
RETRY_WINDOW = timedelta(hours=24)
# Quick retries catch a receiver that is restarting; the hourly tail one that is down.
_RETRY_STEPS = (10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0)
_RETRYABLE_STATUSES = frozenset({408, 429})
# Refusals that the same URL will meet again; "unreachable" (DNS, connect) may pass later.
_PERMANENT_REFUSALS = frozenset({"bad_url", "blocked_address"})
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


class SignatureInvalid(Exception):
    """The signature header does not prove that this body came from the secret's holder now."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """Return the signature header value for `body` sent at unix time `timestamp`."""
    return f"t={timestamp},v1={_digest(body, secret, timestamp)}"


def verify(body: bytes, header: str, secret: str, *, now: float,
           tolerance: float = TOLERANCE_SECONDS) -> None:
    """Check a signature header against the raw `body`, the shared secret and the clock.

    Several v1 values may be present (a sender rotating its secret); one match suffices.

    Raises:
        SignatureInvalid: the header is malformed, no signature matches, or its timestamp
            is more than `tolerance` seconds from `now` (either way).
    """
    timestamp, signatures = _parse_header(header)
    expected = _digest(body, secret, timestamp)
    # compare_digest on every candidate: how long it takes says nothing about the secret.
    if not any([hmac.compare_digest(expected, candidate) for candidate in signatures]):
        raise SignatureInvalid("no signature matches the body and secret")
    if abs(now - timestamp) > tolerance:
        raise SignatureInvalid(
            f"timestamp {timestamp} is {now - timestamp:+.0f} s from now, "
            f"outside the {tolerance:g} s tolerance")


def _digest(body: bytes, secret: str, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        name, equals, value = item.strip().partition("=")
        if not equals:
            raise SignatureInvalid(f"malformed signature header: {item.strip()!r} is not k=v")
        if name == "t":
            timestamps.append(value)
        elif name == "v1":
            signatures.append(value)
        # Other schemes (v0, a future v2) are skipped, as Stripe's receivers do.
    if len(timestamps) != 1 or not timestamps[0].isascii() or not timestamps[0].isdigit():
        raise SignatureInvalid("malformed signature header: needs exactly one t=<unix seconds>")
    if not signatures or not all(_HEX_DIGEST.fullmatch(value) for value in signatures):
        raise SignatureInvalid("malformed signature header: needs v1=<64 hex digits>")
    return int(timestamps[0]), signatures


def _new_delivery_id() -> str:
    return f"evt_{secrets.token_hex(12)}"


@dataclass(frozen=True)
class WebhookEvent:
    """One event as its receiver sees it; `id` is the delivery id, the same on every retry."""

    type: EventType
    data: Mapping[str, Any]
    id: str = field(default_factory=_new_delivery_id)
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown webhook event type {self.type!r}; "
                             f"one of {', '.join(sorted(EVENT_TYPES))}")

    def body(self) -> bytes:
        """The canonical JSON body: sorted keys, no spaces, UTF-8, no NaN."""
        payload = {"id": self.id, "type": self.type, "created": self.created,
                   "data": self.data}
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode()

    @classmethod
    def from_body(cls, body: bytes | str) -> WebhookEvent:
        """Rebuild the event from a stored body, so a retry sends the very same bytes."""
        payload = json.loads(body)
        return cls(type=cast(EventType, payload["type"]), data=payload["data"],
                   id=payload["id"], created=payload["created"])


@dataclass(frozen=True)
class DeliveryAttempt:
    """How one POST went: the HTTP status if one came back, else why not."""

    status: int | None
    error: str | None
    seconds: float
    retryable: bool

    @property
    def delivered(self) -> bool:
        """Whether the receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


def send_webhook(url: str, event: WebhookEvent, secret: str, *,
                 client: httpx.Client | None = None,
                 allow_hosts: frozenset[str] = frozenset(), timeout: float = 10,
                 now: Callable[[], float] = time.time) -> DeliveryAttempt:
    """POST the signed event to `url` once and say how it went; never raises for the network.

    `url` must pass the safe fetcher's rules (`allow_hosts` names hosts, as written, that may
    be private). `client` (from `open_client`) keeps connections open between deliveries.
    """
    started = time.monotonic()
    body = event.body()
    headers = {"Content-Type": "application/json", "X-Videofactory-Event": event.type,
               "X-Videofactory-Delivery": event.id,
               SIGNATURE_HEADER: sign(body, secret, int(now()))}
    try:
        parts, addresses = resolve_checked(url, allow_hosts)
        if client is None:
            with open_client(FetchLimits(connect_timeout=timeout, read_timeout=timeout)) as own:
                status = _post(own, parts, addresses, url, headers, body, timeout)
        else:
            status = _post(client, parts, addresses, url, headers, body, timeout)
    except FetchRefused as refused:
        return DeliveryAttempt(None, refused.message, time.monotonic() - started,
                               retryable=refused.code not in _PERMANENT_REFUSALS)
    return _judge(status, url, time.monotonic() - started)


def _judge(status: int, url: str, seconds: float) -> DeliveryAttempt:
    if 200 <= status < 300:
        return DeliveryAttempt(status, None, seconds, retryable=False)
    if 300 <= status < 400:
        # The same URL will redirect again; following it would skip the address check.
        return DeliveryAttempt(status, f"{url}: HTTP {status}, a redirect, which is not "
                               "followed: configure the final URL", seconds, retryable=False)
    retryable = status >= 500 or status in _RETRYABLE_STATUSES
    return DeliveryAttempt(status, f"{url}: HTTP {status}", seconds, retryable=retryable)


def _post(client: httpx.Client, parts: SplitResult, addresses: list[IPAddress], url: str,
          headers: dict[str, str], body: bytes, timeout: float) -> int:
    """POST to a checked address; the status (the answer's body is never read)."""
    response = open_checked(client, "POST", parts, addresses, url, headers=headers,
                            content=body, timeout=timeout)
    response.close()
    return response.status_code


def retry_delays() -> Iterator[float]:
    """Seconds between one attempt and the next: 10 s, 30 s, 1 min, 5, 15, 30 min, then hourly."""
    yield from _RETRY_STEPS
    while True:
        yield _RETRY_STEPS[-1]


def next_attempt_at(first_attempt: datetime, attempts: int) -> datetime | None:
    """When to try again after `attempts` tries; None once that is past the 24-hour window.

    Counted from the first attempt, not the last, so slow attempts do not stretch the plan.
    """
    if attempts < 0:
        raise ValueError(f"attempts must be 0 or more, not {attempts}")
    delays = retry_delays()
    due = first_attempt + timedelta(seconds=sum(next(delays) for _ in range(attempts)))
    return due if due - first_attempt <= RETRY_WINDOW else None
