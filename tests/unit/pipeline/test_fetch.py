"""The safe fetcher: real HTTP servers on 127.0.0.1, never the internet."""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.sources import fetch as fetch_module
from pipeline.sources.fetch import FetchLimits, FetchRefused, check_address, fetch, sniff

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(range(256)) * 8
LOCAL = FetchLimits(allow_hosts=frozenset({"127.0.0.1"}), connect_timeout=2.0, read_timeout=5.0)


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_length: bool = True


@dataclass
class Server:
    port: int
    routes: dict[str, Route]
    requests: list[tuple[str, str]]  # (path, Host header)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            server.requests.append((self.path, self.headers.get("Host", "")))
            route = server.routes.get(self.path, Route(status=404, body=b"missing"))
            self.send_response(route.status)
            for name, value in route.headers.items():
                self.send_header(name, value)
            if route.content_length:
                self.send_header("Content-Length", str(len(route.body)))
            else:
                self.send_header("Connection", "close")
            self.end_headers()
            try:
                self.wfile.write(route.body)
            except OSError:
                pass  # the client hung up on an oversized body, as it should
            if not route.content_length:
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[Server]:
    """An HTTP server on 127.0.0.1 that serves `routes` and records every request."""
    state = Server(port=0, routes={}, requests=[])
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


def _refused(url: str, out: Path, limits: FetchLimits = FetchLimits()) -> FetchRefused:  # noqa: B008
    with pytest.raises(FetchRefused) as caught:
        fetch(url, out, limits)
    assert not out.exists()
    assert list(out.parent.glob(".*part")) == []
    return caught.value


def test_jpeg_fetched_with_hash_size_and_sniffed_type(server: Server, tmp_path: Path) -> None:
    """A JPEG arrives whole, with its sha256 and size, typed by its bytes, not the lying header."""
    server.routes["/a.jpg"] = Route(body=JPEG, headers={"Content-Type": "text/html"})
    out = tmp_path / "a.jpg"
    got = fetch(server.url("/a.jpg"), out, LOCAL)
    assert got.path == out and out.read_bytes() == JPEG
    assert got.size == len(JPEG)
    assert got.sha256 == hashlib.sha256(JPEG).hexdigest()
    assert got.content_type == "image/jpeg"
    assert got.url == server.url("/a.jpg")
    assert list(tmp_path.iterdir()) == [out]


@pytest.mark.parametrize("content_length", [True, False])
def test_body_over_max_bytes_refused_and_no_file_left(
    server: Server, tmp_path: Path, content_length: bool
) -> None:
    """A body larger than max_bytes is refused (declared or not) and leaves no file behind."""
    server.routes["/big"] = Route(body=b"x" * 300_000, content_length=content_length)
    limits = FetchLimits(allow_hosts=LOCAL.allow_hosts, max_bytes=100_000, read_timeout=5.0)
    error = _refused(server.url("/big"), tmp_path / "big.bin", limits)
    assert error.code == "too_large"
    assert server.url("/big") in error.message


def _chain(server: Server, hops: int) -> str:
    for index in range(hops):
        server.routes[f"/r{index}"] = Route(status=302, headers={"Location": f"/r{index + 1}"})
    server.routes[f"/r{hops}"] = Route(body=b'{"ok": true}')
    return server.url("/r0")


def test_redirect_chain_of_two_followed(server: Server, tmp_path: Path) -> None:
    """Two redirects are followed and the final URL is reported."""
    got = fetch(_chain(server, 2), tmp_path / "x.json", LOCAL)
    assert got.url == server.url("/r2")
    assert got.content_type == "application/json"
    assert [path for path, _ in server.requests] == ["/r0", "/r1", "/r2"]


def test_redirect_chain_of_six_refused(server: Server, tmp_path: Path) -> None:
    """Six redirects exceed the default limit of five and are refused."""
    error = _refused(_chain(server, 6), tmp_path / "x.json", LOCAL)
    assert error.code == "too_many_redirects"
    assert "/r6" not in [path for path, _ in server.requests]


def test_redirect_to_metadata_address_refused_without_connecting(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redirect from an allowed server to 169.254.169.254 is refused before any connection."""
    server.routes["/go"] = Route(
        status=302, headers={"Location": "http://169.254.169.254/latest/meta-data"}
    )
    connected: list[object] = []
    real = socket.create_connection

    def recording(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        connected.append(address)
        return real(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "create_connection", recording)
    error = _refused(server.url("/go"), tmp_path / "m", LOCAL)
    assert error.code == "blocked_address"
    assert "169.254.169.254" in error.message
    assert connected == [("127.0.0.1", server.port)]


def test_redirect_to_loopback_refused_when_not_allowed(server: Server, tmp_path: Path) -> None:
    """A redirect is checked again: allowing only 'localhost' does not allow 127.0.0.1."""
    server.routes["/go"] = Route(status=301, headers={"Location": server.url("/a.jpg")})
    limits = FetchLimits(allow_hosts=frozenset({"localhost"}), read_timeout=5.0)
    error = _refused(f"http://localhost:{server.port}/go", tmp_path / "m", limits)
    assert error.code == "blocked_address"
    assert [path for path, _ in server.requests] == ["/go"]


BLOCKED_URLS = [
    "http://127.0.0.1:{port}/",
    "http://2130706433:{port}/",
    "http://0x7f000001:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://127.1:{port}/",
    "http://[::1]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://10.0.0.1:{port}/",
    "http://192.168.1.1:{port}/",
    "http://100.64.0.1:{port}/",
    "http://[fe80::1]:{port}/",
    "http://localhost:{port}/",
    "http://LOCALHOST:{port}/",
    "http://169.254.169.254/latest/meta-data",
    "http://0.0.0.0:{port}/",
    "http://[::]:{port}/",
]


@pytest.mark.parametrize("template", BLOCKED_URLS)
def test_private_hosts_refused_without_a_request(
    server: Server, tmp_path: Path, template: str
) -> None:
    """Loopback, private, shared, link-local and unspecified hosts in any spelling are refused."""
    server.routes["/"] = Route(body=b"secret")
    url = template.format(port=server.port)
    error = _refused(url, tmp_path / "x")
    assert error.code == "blocked_address"
    assert url in error.message
    assert server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x/",
        "file:///etc/passwd",
        "http://user:pw@example.com/",
        "http://user@example.com/",
        "gopher://127.0.0.1/",
        "http:///nohost",
        "http://127.0.0.1:99999/",
        "not a url",
    ],
)
def test_bad_urls_refused(tmp_path: Path, url: str) -> None:
    """Only http(s) URLs with a host, a valid port and no credentials are accepted."""
    error = _refused(url, tmp_path / "x")
    assert error.code == "bad_url"
    assert url in error.message


def test_redirect_to_file_url_refused(server: Server, tmp_path: Path) -> None:
    """A redirect to a non-http scheme is refused as a bad URL."""
    server.routes["/go"] = Route(status=302, headers={"Location": "file:///etc/passwd"})
    assert _refused(server.url("/go"), tmp_path / "x", LOCAL).code == "bad_url"


def test_silent_server_times_out(tmp_path: Path) -> None:
    """A server that accepts the connection but never answers gives 'timeout' quickly."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # the kernel completes the handshake; nobody ever replies
        port = listener.getsockname()[1]
        limits = FetchLimits(allow_hosts=LOCAL.allow_hosts, read_timeout=0.3)
        started = time.monotonic()
        error = _refused(f"http://127.0.0.1:{port}/", tmp_path / "x", limits)
    assert error.code == "timeout"
    assert time.monotonic() - started < 3.0


def test_closed_port_is_unreachable(tmp_path: Path) -> None:
    """Nothing listening gives 'unreachable'."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = _refused(f"http://127.0.0.1:{port}/", tmp_path / "x", LOCAL)
    assert error.code == "unreachable"


@pytest.mark.parametrize("status", [404, 500])
def test_http_error_status_refused(server: Server, tmp_path: Path, status: int) -> None:
    """A status of 400 or more gives 'http_error' naming the status, and no file."""
    server.routes["/e"] = Route(status=status, body=b"nope")
    error = _refused(server.url("/e"), tmp_path / "x", LOCAL)
    assert error.code == "http_error"
    assert str(status) in error.message


def _fake_resolver(monkeypatch: pytest.MonkeyPatch, name: str, answers: list[str]) -> list[str]:
    """Make `name` resolve to each of `answers` in turn; other hosts resolve normally."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def resolve(host: str, port: int, *args: object, **kwargs: object) -> list[object]:
        if host != name:
            return real(host, port, *args, **kwargs)  # type: ignore[arg-type]
        asked.append(host)
        ip = answers[min(len(asked), len(answers)) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]

    monkeypatch.setattr(fetch_module.socket, "getaddrinfo", resolve)
    return asked


def test_name_resolving_to_private_address_refused(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A public-looking name whose DNS answer is private is refused."""
    _fake_resolver(monkeypatch, "evil.example", ["127.0.0.1"])
    error = _refused(f"http://evil.example:{server.port}/", tmp_path / "x")
    assert error.code == "blocked_address"
    assert "127.0.0.1" in error.message
    assert server.requests == []


def test_connects_to_the_checked_address_with_original_host_header(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name is resolved once and the checked IP is dialled, so a rebinding answer is unused."""
    server.routes["/a.jpg"] = Route(body=JPEG)
    # The first answer is the one checked; a later lookup would get an unroutable address.
    asked = _fake_resolver(monkeypatch, "media.example", ["127.0.0.1", "10.255.255.1"])
    limits = FetchLimits(allow_hosts=frozenset({"media.example"}), read_timeout=5.0)
    got = fetch(f"http://media.example:{server.port}/a.jpg", tmp_path / "a.jpg", limits)
    assert got.sha256 == hashlib.sha256(JPEG).hexdigest()
    assert asked == ["media.example"]
    assert server.requests == [("/a.jpg", f"media.example:{server.port}")]


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "shared"),
        ("100.127.255.254", "shared"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "metadata"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:c0a8:101::", "private"),  # 6to4 of 192.168.1.1
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("192.0.2.1", "address"),  # documentation range: not global
        ("8.8.8.8", None),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
    ],
)
def test_check_address(address: str, reason: str | None) -> None:
    """check_address names the reason for every non-public range and passes public IPs."""
    got = check_address(ipaddress.ip_address(address))
    if reason is None:
        assert got is None
    else:
        assert got is not None and reason in got


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (JPEG[:32], "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "video/quicktime"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x82\x88matroska", "video/x-matroska"),
        (b'<?xml version="1.0"?><rss>', "application/xml"),
        (b"\xef\xbb\xbf\n  <rss version='2.0'>", "application/xml"),
        (b"<feed xmlns='http://www.w3.org/2005/Atom'>", "application/xml"),
        (b' \n{"a": 1}', "application/json"),
        (b"[1, 2]", "application/json"),
        (b"name,count\nbread,2\n", "text/plain"),
        (b"a\tb\n1\t2\n", "text/plain"),
        ("caf\u00e9 cr\u00e8me".encode()[:-1], "text/plain"),  # cut mid-character
        (b"\x00\x01\x02\x03", "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)
def test_sniff(head: bytes, expected: str) -> None:
    """The content type comes from the leading bytes alone."""
    assert sniff(head) == expected


def test_failed_fetch_keeps_an_existing_file(server: Server, tmp_path: Path) -> None:
    """A refused fetch never touches a file already at `out`."""
    server.routes["/big"] = Route(body=b"x" * 5000)
    out = tmp_path / "keep.txt"
    out.write_text("old")
    limits = FetchLimits(allow_hosts=LOCAL.allow_hosts, max_bytes=100)
    with pytest.raises(FetchRefused):
        fetch(server.url("/big"), out, limits)
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_https_to_closed_port_is_unreachable(tmp_path: Path) -> None:
    """The https path (IP dialled, name sent as SNI) reports a dead port as 'unreachable'."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = _refused(f"https://127.0.0.1:{port}/", tmp_path / "x", LOCAL)
    assert error.code == "unreachable"


def test_trickling_body_stops_at_the_overall_deadline(tmp_path: Path) -> None:
    """A server sending a byte every 0.1 s never trips the read timeout; the deadline stops it."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        stop = threading.Event()

        def trickle() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                while not stop.is_set():
                    try:
                        conn.sendall(b"x")
                    except OSError:
                        return
                    time.sleep(0.1)

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        limits = FetchLimits(allow_hosts=LOCAL.allow_hosts, read_timeout=1.0, deadline=1.0)
        started = time.monotonic()
        try:
            error = _refused(f"http://127.0.0.1:{port}/", tmp_path / "x", limits)
        finally:
            stop.set()
    assert error.code == "timeout" and "within 1 s" in error.message
    assert time.monotonic() - started < 3.0


def test_conditional_fetch_answers_not_modified_and_writes_nothing(
    server: Server, tmp_path: Path
) -> None:
    """The validators of a first fetch make the next one conditional; a 304 writes no file."""
    server.routes["/a.jpg"] = Route(body=JPEG, headers={"ETag": '"v1"'})
    first = fetch(server.url("/a.jpg"), tmp_path / "a.jpg", LOCAL)
    assert first.etag == '"v1"' and not first.not_modified
    server.routes["/a.jpg"] = Route(status=304, headers={"ETag": '"v1"'})
    again = fetch(server.url("/a.jpg"), tmp_path / "b.jpg", LOCAL, etag=first.etag)
    assert again.not_modified and again.etag == '"v1"'
    assert not (tmp_path / "b.jpg").exists()
