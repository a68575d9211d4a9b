"""Local HTTP servers shaped like the Pexels and Pixabay APIs, and the files they point at.

Each runs on 127.0.0.1 in a thread and records every request (path, query, headers), so a
test can tell what a provider sent: the key where each API wants it, the documented
parameters, and no request at all where none should go. The servers answer what the test
configured per query (they do not filter by orientation themselves: the test says what the
site found). Builders make results in the documented JSON shapes, with file links back to the
same server, which serves them (or redirects them, when a test says so).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

# Enough of an MP4 for the fetcher's sniffing: an ftyp box, then padding.
CLIP_BYTES = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
PHOTO_BYTES = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PIXABAY_BAD_KEY = b"[ERROR 400] Invalid or missing API key (https://pixabay.com/api/docs/)."

Results = dict[Any, list[dict[str, Any]]]


@dataclass(frozen=True)
class Seen:
    """One request the server answered."""

    path: str
    query: dict[str, str]  # each parameter's last value
    raw_query: str
    headers: dict[str, str]


@dataclass
class Answer:
    """What the server sends back."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json(data: Any) -> Answer:
    return Answer(200, json.dumps(data).encode(), {"Content-Type": "application/json"})


@dataclass
class StockServer:
    """What both fake APIs share: served files, redirects, a forced answer, the record."""

    port: int = 0
    requests: list[Seen] = field(default_factory=list)
    files: dict[str, Answer] = field(default_factory=dict)
    forced: Answer | None = None  # answers every API request (a 429, a 500, a redirect)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def serve(self, path: str, body: bytes, content_type: str = "video/mp4") -> str:
        """Serve a file at `path`; its URL."""
        self.files[path] = Answer(200, body, {"Content-Type": content_type})
        return self.url(path)

    def redirect(self, path_or_url: str, location: str) -> None:
        """Answer a file's path (or URL on this server) with a 302 to `location`."""
        self.files[urlsplit(path_or_url).path] = Answer(302, b"", {"Location": location})

    def force(self, status: int, body: bytes = b"", **headers: str) -> None:
        """Answer every API request with `status` from now on."""
        self.forced = Answer(status, body, dict(headers))

    def api_requests(self) -> list[Seen]:
        """The requests for the API, not for files, in order."""
        with self.lock:
            return [r for r in self.requests if r.path not in self.files]

    def file_requests(self) -> list[str]:
        with self.lock:
            return [r.path for r in self.requests if r.path in self.files]

    def answer(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Answer:
        if path in self.files:
            return self.files[path]
        if self.forced is not None:
            return self.forced
        return self.api(path, query, headers)

    def api(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Answer:
        return Answer(404, b"not found")


def _lookup(results: Results, query: str, language: str) -> list[dict[str, Any]]:
    """The results for (query, language) if the test set them, else for the query alone."""
    return results.get((query, language), results.get(query, []))


@dataclass
class PexelsServer(StockServer):
    """`/videos/search` and `/v1/search` as Pexels answers them."""

    api_key: str = "pexels-test-key"
    # Keyed by query, or by (query, locale) for an answer in one locale only.
    videos: Results = field(default_factory=dict)
    photos: Results = field(default_factory=dict)

    def api(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Answer:
        if path not in ("/videos/search", "/v1/search"):
            return Answer(404, b'{"error": "not found"}')
        if headers.get("Authorization") != self.api_key:
            return Answer(401, b'{"error": "Unauthorized"}', {"Content-Type": "application/json"})
        per_page = int(query.get("per_page", "15"))
        kind = "videos" if path == "/videos/search" else "photos"
        found = _lookup(self.videos if kind == "videos" else self.photos,
                        query.get("query", ""), query.get("locale", "en-US"))
        return _json({"page": 1, "per_page": per_page, "total_results": len(found),
                      "url": f"https://www.pexels.com/search/{query.get('query', '')}/",
                      "next_page": None, kind: found[:per_page]})

    def video(self, video_id: int, width: int, height: int, duration: int, *,
              user: str = "Jane Doe", sizes: tuple[tuple[int, int], ...] = ()
              ) -> dict[str, Any]:
        """A Pexels video resource whose files (`sizes`, default its own size) are served
        here, plus an HLS entry without a size, as Pexels lists one."""
        files = [{"id": video_id * 10 + i, "quality": "hd" if min(w, h) >= 720 else "sd",
                  "file_type": "video/mp4", "width": w, "height": h, "fps": 25.0,
                  "link": self.serve(f"/files/pexels-{video_id}-{w}x{h}.mp4", CLIP_BYTES)}
                 for i, (w, h) in enumerate(sizes or ((width, height),))]
        files.append({"id": video_id * 10 + 9, "quality": "hls", "file_type": "video/mp4",
                      "width": None, "height": None, "fps": None,
                      "link": self.url(f"/files/pexels-{video_id}.m3u8")})
        slug = user.lower().replace(" ", "-")
        return {"id": video_id, "width": width, "height": height, "duration": duration,
                "url": f"https://www.pexels.com/video/clip-{video_id}/",
                "image": self.url(f"/files/pexels-{video_id}.jpeg"),
                "user": {"id": video_id + 1000, "name": user,
                         "url": f"https://www.pexels.com/@{slug}"},
                "video_files": files, "video_pictures": []}

    def photo(self, photo_id: int, width: int, height: int, *,
              photographer: str = "John Roe") -> dict[str, Any]:
        """A Pexels photo resource; `src` uses Pexels' resizing parameters on one file."""
        original = self.serve(f"/photos/{photo_id}/pexels-photo-{photo_id}.jpeg", PHOTO_BYTES,
                              "image/jpeg")
        sized = original + "?auto=compress&cs=tinysrgb"
        slug = photographer.lower().replace(" ", "-")
        return {"id": photo_id, "width": width, "height": height,
                "url": f"https://www.pexels.com/photo/picture-{photo_id}/",
                "photographer": photographer,
                "photographer_url": f"https://www.pexels.com/@{slug}",
                "photographer_id": photo_id + 2000, "avg_color": "#7E7E7E",
                "src": {"original": original, "large2x": sized + "&dpr=2&h=650&w=940",
                        "large": sized + "&h=650&w=940", "medium": sized + "&h=350",
                        "small": sized + "&h=130",
                        "portrait": sized + "&fit=crop&h=1200&w=800",
                        "landscape": sized + "&fit=crop&h=627&w=1200",
                        "tiny": sized + "&dpr=1&fit=crop&h=200&w=280"},
                "liked": False, "alt": "a picture"}


@dataclass
class PixabayServer(StockServer):
    """`/` (images) and `/videos/` as Pixabay answers them, key in the query string."""

    api_key: str = "pixabay-test-key"
    # Keyed by q, or by (q, lang) for an answer in one language only.
    images: Results = field(default_factory=dict)
    videos: Results = field(default_factory=dict)

    def api(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Answer:
        if path not in ("/", "/videos/"):
            return Answer(404, b"[ERROR 404] Not found")
        if query.get("key") != self.api_key:
            return Answer(400, PIXABAY_BAD_KEY, {"Content-Type": "text/plain"})
        per_page = int(query.get("per_page", "20"))
        if not 3 <= per_page <= 200:
            return Answer(400, b'[ERROR 400] "per_page" is out of valid range.')
        found = _lookup(self.videos if path == "/videos/" else self.images,
                        query.get("q", ""), query.get("lang", "en"))
        return _json({"total": len(found), "totalHits": len(found), "hits": found[:per_page]})

    def video(self, video_id: int, duration: int, *, user: str = "ana", user_id: int = 7,
              sizes: dict[str, tuple[int, int]] | None = None) -> dict[str, Any]:
        """A Pixabay video hit; sizes missing from `sizes` come empty, as Pixabay sends them."""
        sizes = sizes if sizes is not None else {"large": (3840, 2160), "medium": (1920, 1080),
                                                 "small": (1280, 720), "tiny": (960, 540)}
        videos = {}
        for name in ("large", "medium", "small", "tiny"):
            if name in sizes:
                w, h = sizes[name]
                videos[name] = {"url": self.serve(f"/files/pixabay-{video_id}-{name}.mp4",
                                                  CLIP_BYTES),
                                "width": w, "height": h, "size": 1000, "thumbnail": ""}
            else:
                videos[name] = {"url": "", "width": 0, "height": 0, "size": 0, "thumbnail": ""}
        return {"id": video_id, "pageURL": f"https://pixabay.com/videos/clip-{video_id}/",
                "type": "film", "tags": "beach, sea", "duration": duration, "videos": videos,
                "views": 1, "downloads": 1, "likes": 1, "comments": 0, "user_id": user_id,
                "user": user, "userImageURL": ""}

    def image(self, image_id: int, width: int, height: int, *, user: str = "ana",
              user_id: int = 7) -> dict[str, Any]:
        """A Pixabay image hit with the standard sizes (largeImageURL at most 1280 px)."""
        web = min(640 / width, 640 / height, 1.0)
        return {"id": image_id, "pageURL": f"https://pixabay.com/photos/picture-{image_id}/",
                "type": "photo", "tags": "beach", "previewURL": "",
                "previewWidth": 150, "previewHeight": 100,
                "webformatURL": self.serve(f"/files/pixabay-{image_id}_640.jpg", PHOTO_BYTES,
                                           "image/jpeg"),
                "webformatWidth": round(width * web), "webformatHeight": round(height * web),
                "largeImageURL": self.serve(f"/files/pixabay-{image_id}_1280.jpg",
                                            PHOTO_BYTES, "image/jpeg"),
                "imageWidth": width, "imageHeight": height, "imageSize": 100000,
                "views": 1, "downloads": 1, "likes": 1, "comments": 0,
                "user_id": user_id, "user": user, "userImageURL": ""}


def _handler(state: StockServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            headers = dict(self.headers.items())
            with state.lock:
                state.requests.append(Seen(parts.path, query, parts.query, headers))
            answer = state.answer(parts.path, query, headers)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            try:
                self.wfile.write(answer.body)
            except OSError:
                pass  # the client hung up

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


Server = TypeVar("Server", bound=StockServer)


@contextmanager
def _running(state: Server) -> Iterator[Server]:
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


@contextmanager
def pexels_server(api_key: str = "pexels-test-key") -> Iterator[PexelsServer]:
    """A fake Pexels API on 127.0.0.1 for the duration of the block."""
    with _running(PexelsServer(api_key=api_key)) as server:
        yield server


@contextmanager
def pixabay_server(api_key: str = "pixabay-test-key") -> Iterator[PixabayServer]:
    """A fake Pixabay API on 127.0.0.1 for the duration of the block."""
    with _running(PixabayServer(api_key=api_key)) as server:
        yield server
