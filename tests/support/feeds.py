"""A local HTTP server for feeds and pictures, and the feeds and pictures it serves.

The server runs on 127.0.0.1 in a thread and records every request it answers (path, headers,
status), so that a test can tell what the fetcher asked for: nothing for an XXE entity, an
If-None-Match on a re-run, no request at all for a refused address.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from PIL import Image

G_NS = "http://base.google.com/ns/1.0"


@dataclass
class Route:
    """What one path answers. With `etag`, the ETag is the body's hash and a request whose
    If-None-Match names it gets 304 without a body."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: bool = True


@dataclass(frozen=True)
class Seen:
    """One request the server answered."""

    path: str
    headers: dict[str, str]
    status: int


@dataclass
class FeedServer:
    """The running server: set `routes`, read `requests`."""

    port: int = 0
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: bytes, *, etag: bool = True, **headers: str) -> str:
        """Serve `body` at `path` (replacing what was there); its URL."""
        self.routes[path] = Route(body=body, etag=etag, headers=dict(headers))
        return self.url(path)

    def redirect(self, path: str, location: str) -> str:
        """Answer `path` with a 302 to `location`; its URL."""
        self.routes[path] = Route(status=302, headers={"Location": location}, etag=False)
        return self.url(path)

    def seen(self, path: str) -> list[Seen]:
        """The requests for one path, in order."""
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def paths(self) -> list[str]:
        with self.lock:
            return [r.path for r in self.requests]

    def forget(self) -> None:
        with self.lock:
            self.requests.clear()


def _handler(state: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            route = state.routes.get(self.path, Route(status=404, body=b"missing", etag=False))
            tag = f'"{hashlib.sha256(route.body).hexdigest()[:16]}"' if route.etag else ""
            status = route.status
            if tag and status == 200 and self.headers.get("If-None-Match") == tag:
                status = 304
            with state.lock:
                state.requests.append(Seen(self.path, dict(self.headers.items()), status))
            body = b"" if status == 304 else route.body
            self.send_response(status)
            for name, value in route.headers.items():
                self.send_header(name, value)
            if tag:
                self.send_header("ETag", tag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass  # the client hung up, as a fetcher refusing a body does

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


@contextmanager
def feed_server() -> Iterator[FeedServer]:
    """A FeedServer running on 127.0.0.1 for the duration of the block."""
    state = FeedServer()
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


# --- pictures ------------------------------------------------------------------------------

def picture(colour: tuple[int, int, int], fmt: str = "PNG", size: tuple[int, int] = (32, 24)
            ) -> bytes:
    """A small one-colour picture; different colours give different bytes."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims width × height pixels (a decompression bomb's header)."""
    data = bytearray(picture((0, 0, 0), "PNG", (16, 16)))
    ihdr = 8 + 8  # the signature, then the IHDR chunk's length and type
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4:ihdr + 13])))
    return bytes(data)


# --- feeds ---------------------------------------------------------------------------------

def merchant_item(*, id: str = "", title: str = "", price: str = "", image: str = "",  # noqa: A002
                  extra_images: tuple[str, ...] = (), availability: str = "in stock",
                  group: str = "", description: str = "", link: str = "") -> str:
    """One <item> of a Google Merchant RSS feed; empty values are left out."""
    parts = [("g:id", id), ("title", title), ("description", description),
             ("link", link), ("g:price", price), ("g:image_link", image),
             ("g:availability", availability), ("g:item_group_id", group)]
    parts += [("g:additional_image_link", url) for url in extra_images]
    return "<item>" + "".join(f"<{tag}>{escape(value)}</{tag}>"
                              for tag, value in parts if value) + "</item>"


def merchant_rss(*items: str, prolog: str = "") -> bytes:
    """A Merchant RSS 2.0 feed of the given items."""
    return (f'<?xml version="1.0" encoding="utf-8"?>{prolog}<rss version="2.0" '
            f'xmlns:g="{G_NS}"><channel><title>Shop</title><link>https://shop.example/</link>'
            + "".join(items) + "</channel></rss>").encode()


def shopify_products(*products: dict[str, Any]) -> bytes:
    """A Shopify products.json document."""
    return json.dumps({"products": list(products)}).encode()


def shopify_product(id: int, title: str, price: str, image: str = "") -> dict[str, Any]:  # noqa: A002
    """One Shopify product with one variant in stock."""
    return {"id": id, "title": title, "handle": title.lower().replace(" ", "-"),
            "body_html": f"<p>{title}, made to last.</p>", "vendor": "Acme",
            "variants": [{"id": id * 10, "price": price, "available": True}],
            "images": [{"src": image, "position": 1}] if image else []}


def stored_fetched(media_root: Path) -> list[Path]:
    """The fetched pictures in local media storage (not the per-URL records)."""
    root = media_root / "fetched"
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.parent.name != "urls")
