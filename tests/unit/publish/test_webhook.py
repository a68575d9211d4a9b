"""Signed webhooks: the signature and its replay window, and deliveries to a real receiver."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import islice

import pytest

from pipeline.publish.webhook import (
    RETRY_WINDOW,
    SignatureInvalid,
    WebhookEvent,
    next_attempt_at,
    retry_delays,
    send_webhook,
    sign,
    verify,
)
from pipeline.sources.fetch import FetchLimits, open_client

SECRET = "whsec_test_0123456789"
NOW = 1_700_000_000
BODY = b'{"id":"evt_1","type":"job.succeeded"}'
LOCAL = frozenset({"127.0.0.1"})


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that checks signatures with `verify`."""

    port: int = 0
    secret: str = SECRET
    tamper: bool = False  # verify a modified copy of the body, as if changed in transit
    status: int | None = None  # answer this instead of verifying
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)

    def url(self, path: str = "/hooks/vf") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.requests.append((self.path, dict(self.headers.items()), body))
            status = receiver.status
            if status is None:
                checked = body.replace(b"job", b"jab") if receiver.tamper else body
                try:
                    verify(checked, self.headers.get("X-Videofactory-Signature", ""),
                           receiver.secret, now=time.time())
                    status = 204
                except SignatureInvalid as error:
                    receiver.rejections.append(error.reason)
                    status = 400
            self.send_response(status)
            for name, value in receiver.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver answering 204 to a valid signature and 400 to anything else."""
    state = Receiver()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every address a socket connects to during the test."""
    connected: list[object] = []
    real = socket.create_connection

    def recording(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        connected.append(address)
        return real(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "create_connection", recording)
    return connected


def _event() -> WebhookEvent:
    return WebhookEvent(type="job.succeeded", data={"job_id": "job_1", "video": "v.mp4"})


def _reason(body: bytes, header: str, now: float = NOW) -> str:
    with pytest.raises(SignatureInvalid) as caught:
        verify(body, header, SECRET, now=now)
    return caught.value.reason


def test_sign_then_verify_round_trip() -> None:
    """A header made by sign passes verify with the same body, secret and a current clock."""
    header = sign(BODY, SECRET, NOW)
    assert header.startswith(f"t={NOW},v1=") and len(header.split("v1=")[1]) == 64
    verify(BODY, header, SECRET, now=NOW)


def test_tampered_body_and_wrong_secret_rejected() -> None:
    """One changed byte of the body, or another secret, no longer matches the signature."""
    header = sign(BODY, SECRET, NOW)
    assert "no signature matches" in _reason(BODY.replace(b"evt_1", b"evt_2"), header)
    assert "no signature matches" in _reason(BODY, sign(BODY, "other-secret", NOW))


def test_timestamp_is_part_of_the_signature() -> None:
    """Moving t to a fresh time without re-signing is caught: t is inside the HMAC."""
    old = sign(BODY, SECRET, NOW - 3600)
    moved = old.replace(f"t={NOW - 3600}", f"t={NOW}")
    assert "no signature matches" in _reason(BODY, moved)


@pytest.mark.parametrize("age", [240, -240, 0])
def test_timestamp_within_five_minutes_accepted(age: int) -> None:
    """A signature four minutes old (or ahead, from a fast clock) is accepted."""
    verify(BODY, sign(BODY, SECRET, NOW - age), SECRET, now=NOW)


@pytest.mark.parametrize("age", [360, -360])
def test_timestamp_outside_five_minutes_rejected(age: int) -> None:
    """A signature six minutes old is a replay; six minutes ahead is refused as well."""
    assert "tolerance" in _reason(BODY, sign(BODY, SECRET, NOW - age))


def test_one_matching_signature_among_several_suffices() -> None:
    """During a secret rotation the sender may send two v1 values; either may match."""
    other = sign(BODY, "old-secret", NOW).split("v1=")[1]
    verify(BODY, f"{sign(BODY, SECRET, NOW)},v1={other}", SECRET, now=NOW)
    verify(BODY, f"t={NOW},v1={other},{sign(BODY, SECRET, NOW).split(',')[1]}", SECRET, now=NOW)


HEX = "ab" * 32


@pytest.mark.parametrize(("header", "says"), [
    ("", "k=v"),
    ("garbage", "k=v"),
    (f"v1={HEX}", "t=<unix seconds>"),
    (f"t=abc,v1={HEX}", "t=<unix seconds>"),
    (f"t=-5,v1={HEX}", "t=<unix seconds>"),
    (f"t={NOW},t={NOW},v1={HEX}", "t=<unix seconds>"),
    (f"t={NOW}", "v1=<64 hex digits>"),
    (f"t={NOW},v1=xyz", "v1=<64 hex digits>"),
    (f"t={NOW},v1={HEX.upper()}", "v1=<64 hex digits>"),
])
def test_malformed_headers_rejected(header: str, says: str) -> None:
    """A header without one numeric t and hex v1 values is refused, saying what is missing."""
    reason = _reason(BODY, header)
    assert reason.startswith("malformed signature header") and says in reason


def test_event_body_is_canonical_json_and_rebuilds() -> None:
    """The body is sorted compact JSON with id, type, created and data; from_body gives it back."""
    event = WebhookEvent(type="batch.completed", data={"z": 1, "a": "é"}, id="evt_x",
                         created=NOW)
    assert event.body() == ('{"created":1700000000,"data":{"a":"é","z":1},"id":"evt_x",'
                            '"type":"batch.completed"}').encode()
    assert WebhookEvent.from_body(event.body()).body() == event.body()


def test_event_ids_are_unique_and_types_checked() -> None:
    """Each event gets its own evt_ id; an unknown type is refused."""
    ids = {_event().id for _ in range(100)}
    assert len(ids) == 100 and all(i.startswith("evt_") and len(i) <= 40 for i in ids)
    with pytest.raises(ValueError, match="job.succeeded"):
        WebhookEvent(type="job.exploded", data={})  # type: ignore[arg-type]


def test_delivery_verified_by_the_receiver(receiver: Receiver) -> None:
    """A delivery reaches the receiver with the exact headers and body, and its signature holds."""
    event = _event()
    attempt = send_webhook(receiver.url(), event, SECRET, allow_hosts=LOCAL, timeout=5)
    assert (attempt.status, attempt.error, attempt.delivered) == (204, None, True)
    assert attempt.seconds > 0
    [(path, headers, body)] = receiver.requests
    assert path == "/hooks/vf" and body == event.body()
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Videofactory-Event"] == "job.succeeded"
    assert headers["X-Videofactory-Delivery"] == event.id
    assert headers["Host"] == f"127.0.0.1:{receiver.port}"
    timestamp = int(headers["X-Videofactory-Signature"].split(",")[0].removeprefix("t="))
    assert headers["X-Videofactory-Signature"] == sign(body, SECRET, timestamp)
    assert abs(timestamp - time.time()) < 60
    assert json.loads(body)["data"] == {"job_id": "job_1", "video": "v.mp4"}


def test_body_changed_in_transit_is_rejected(receiver: Receiver) -> None:
    """The receiver checking a modified body answers 400: the signature covers the body."""
    receiver.tamper = True
    attempt = send_webhook(receiver.url(), _event(), SECRET, allow_hosts=LOCAL, timeout=5)
    assert (attempt.status, attempt.delivered, attempt.retryable) == (400, False, False)
    assert receiver.rejections == ["no signature matches the body and secret"]


def test_secret_mismatch_is_rejected(receiver: Receiver) -> None:
    """A receiver holding another secret refuses the delivery."""
    receiver.secret = "not-the-sender's"
    attempt = send_webhook(receiver.url(), _event(), SECRET, allow_hosts=LOCAL, timeout=5)
    assert attempt.status == 400 and not attempt.delivered


def test_stale_signature_is_rejected(receiver: Receiver) -> None:
    """A delivery signed six minutes ago (a replay) is refused by the receiver's clock."""
    attempt = send_webhook(receiver.url(), _event(), SECRET, allow_hosts=LOCAL, timeout=5,
                           now=lambda: time.time() - 360)
    assert attempt.status == 400
    assert "tolerance" in receiver.rejections[0]


@pytest.mark.parametrize(("url", "reason"), [
    ("http://169.254.169.254/latest/hook", "cloud metadata address"),
    ("http://10.0.0.1/hook", "private address"),
    ("http://[::ffff:10.0.0.1]/hook", "private address (embedded in ::ffff:a00:1)"),
])
def test_private_and_metadata_addresses_refused_without_connecting(
        url: str, reason: str, connections: list[object]) -> None:
    """Metadata and private addresses are refused before any connection, for good."""
    attempt = send_webhook(url, _event(), SECRET, allow_hosts=LOCAL, timeout=1)
    assert attempt.status is None and attempt.retryable is False
    assert attempt.error is not None and reason in attempt.error
    assert connections == []


def test_loopback_refused_unless_allowed(receiver: Receiver) -> None:
    """Without the allow-list the local receiver is a loopback address, and is not contacted."""
    attempt = send_webhook(receiver.url(), _event(), SECRET, timeout=5)
    assert attempt.status is None and not attempt.retryable
    assert attempt.error is not None and "loopback" in attempt.error
    assert receiver.requests == []


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http://user:pw@127.0.0.1/x",
                                 "http://127.0.0.1:0/x"])
def test_bad_urls_refused_for_good(url: str) -> None:
    """URLs the fetcher would not take are refused and not worth retrying."""
    attempt = send_webhook(url, _event(), SECRET, allow_hosts=LOCAL, timeout=1)
    assert attempt.status is None and attempt.retryable is False


def test_redirect_is_not_followed(receiver: Receiver) -> None:
    """A 302 answer is a failed delivery; its Location is never requested."""
    receiver.status = 302
    receiver.headers = {"Location": receiver.url("/elsewhere")}
    attempt = send_webhook(receiver.url(), _event(), SECRET, allow_hosts=LOCAL, timeout=5)
    assert (attempt.status, attempt.delivered, attempt.retryable) == (302, False, False)
    assert attempt.error is not None and "not followed" in attempt.error
    assert [path for path, _, _ in receiver.requests] == ["/hooks/vf"]


@pytest.mark.parametrize(("status", "retryable"), [
    (500, True), (503, True), (408, True), (429, True), (410, False), (400, False), (404, False),
])
def test_status_decides_whether_to_retry(receiver: Receiver, status: int,
                                         retryable: bool) -> None:
    """5xx, 408 and 429 are worth retrying; other 4xx answers are final."""
    receiver.status = status
    attempt = send_webhook(receiver.url(), _event(), SECRET, allow_hosts=LOCAL, timeout=5)
    assert (attempt.status, attempt.retryable, attempt.delivered) == (status, retryable, False)
    assert attempt.error is not None and f"HTTP {status}" in attempt.error


def test_silent_receiver_times_out_retryably() -> None:
    """A receiver that accepts the connection and never answers is a retryable timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        attempt = send_webhook(f"http://127.0.0.1:{port}/", _event(), SECRET, allow_hosts=LOCAL,
                               timeout=0.3)
    assert attempt.status is None and attempt.retryable is True
    assert attempt.error is not None and "timed out" in attempt.error
    assert attempt.seconds < 5


def test_refused_connection_is_retryable() -> None:
    """Nothing listening (the receiver is down) is worth retrying."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    attempt = send_webhook(f"http://127.0.0.1:{port}/", _event(), SECRET, allow_hosts=LOCAL,
                           timeout=2)
    assert attempt.status is None and attempt.retryable is True
    assert attempt.error is not None and "cannot connect" in attempt.error


def test_a_shared_client_is_reused(receiver: Receiver) -> None:
    """Deliveries through one client from open_client all arrive."""
    with open_client(FetchLimits(connect_timeout=2, read_timeout=5)) as client:
        attempts = [send_webhook(receiver.url(), _event(), SECRET, client=client,
                                 allow_hosts=LOCAL) for _ in range(3)]
    assert [a.status for a in attempts] == [204, 204, 204]
    assert len({headers["X-Videofactory-Delivery"] for _, headers, _ in receiver.requests}) == 3


def test_retry_delays_grow_then_stay_hourly() -> None:
    """The steps are 10 s, 30 s, 1, 5, 15, 30 minutes, then one hour, again and again."""
    assert list(islice(retry_delays(), 10)) == [10, 30, 60, 300, 900, 1800, 3600, 3600, 3600,
                                                3600]


def test_retry_schedule_stops_after_24_hours() -> None:
    """Attempts are planned from the first one until 24 hours have passed, then None."""
    first = datetime(2025, 1, 1, 12, tzinfo=UTC)
    assert next_attempt_at(first, 0) == first
    assert next_attempt_at(first, 1) == first + timedelta(seconds=10)
    assert next_attempt_at(first, 3) == first + timedelta(seconds=100)
    plan = []
    attempts = 1
    while (due := next_attempt_at(first, attempts)) is not None:
        plan.append(due)
        attempts += 1
    assert plan == sorted(plan) and plan[-1] - first <= RETRY_WINDOW
    assert plan[-1] - first > RETRY_WINDOW - timedelta(hours=1)
    assert attempts == 30  # the first try plus 29 retries
    assert next_attempt_at(first, 100) is None
    with pytest.raises(ValueError):
        next_attempt_at(first, -1)
