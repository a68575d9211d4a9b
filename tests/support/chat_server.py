"""A local OpenAI-style chat-completions server with a scripted behaviour per test.

It runs on 127.0.0.1 in a thread and answers `POST /v1/chat/completions` from a queue of
canned replies (or a callable), recording every request it receives (path, headers, parsed
JSON body), so that a test can assert what the LLM client sent: the messages, the
response_format, the Authorization header.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT_PATH = "/v1/chat/completions"


@dataclass(frozen=True)
class ChatRequest:
    """One request the server received."""

    path: str
    headers: dict[str, str]  # names lowercased
    body: Any  # the parsed JSON, None when it was not JSON

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages sent, in order."""
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []

    @property
    def response_format(self) -> dict[str, Any] | None:
        """The response_format sent; None without one."""
        return self.body.get("response_format") if isinstance(self.body, dict) else None

    @property
    def prompt(self) -> str:
        """Every message's content, one after another: what the model was told."""
        return "\n".join(str(m.get("content", "")) for m in self.messages)


@dataclass(frozen=True)
class Reply:
    """What the server answers to one request; `hang` never answers at all."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


def completion(content: str, *, prompt_tokens: int | None = 100,
               completion_tokens: int | None = 50) -> Reply:
    """A 200 chat completion whose message says `content`; no usage when the tokens are None."""
    body: dict[str, Any] = {
        "id": "chatcmpl-test", "object": "chat.completion", "model": "test-model",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
    }
    if prompt_tokens is not None and completion_tokens is not None:
        body["usage"] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                         "total_tokens": prompt_tokens + completion_tokens}
    return Reply(body=json.dumps(body).encode())


def error(status: int, message: str = "error", **headers: str) -> Reply:
    """An OpenAI-shaped error answer."""
    body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
    return Reply(status=status, body=json.dumps(body).encode(), headers=dict(headers))


HANG = Reply(hang=True)

Behaviour = Callable[[ChatRequest], Reply]


@dataclass
class ChatServer:
    """The running server: queue replies with `reply`, or set `behaviour`; read `requests`."""

    port: int = 0
    replies: deque[Reply] = field(default_factory=deque)
    behaviour: Behaviour | None = None
    requests: list[ChatRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        """What LLMConfig.base_url takes: the /v1 prefix, without /chat/completions."""
        return f"http://127.0.0.1:{self.port}/v1"

    def reply(self, *replies: Reply) -> None:
        """Answer the next requests with these, in order."""
        with self.lock:
            self.replies.extend(replies)

    def received(self) -> list[ChatRequest]:
        """The requests so far, in order."""
        with self.lock:
            return list(self.requests)

    def _answer(self, request: ChatRequest) -> Reply:
        with self.lock:
            self.requests.append(request)
            if self.behaviour is not None:
                behaviour = self.behaviour
            elif self.replies:
                return self.replies.popleft()
            else:
                # An unusual status that no client retries: the test fails on it, visibly.
                return error(418, "chat_server: no reply scripted for this request")
        return behaviour(request)


def _handler(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            request = ChatRequest(self.path, {k.lower(): v for k, v in self.headers.items()},
                                  body)
            reply = (server._answer(request) if self.path == CHAT_PATH
                     else error(404, f"chat_server: no route {self.path}"))
            if reply.hang:
                # Until the test ends, so a client without a timeout would hang the test.
                server.stopping.wait(60)
                return
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def chat_server(*replies: Reply, behaviour: Behaviour | None = None) -> Iterator[ChatServer]:
    """A chat-completions server on 127.0.0.1 answering `replies` in order (or `behaviour`)."""
    state = ChatServer(replies=deque(replies), behaviour=behaviour)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    # A short poll interval: shutdown() waits for the next poll, once per test.
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                              name="chat-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
