"""The LLM script writer: any OpenAI-compatible chat-completions endpoint writes the script.

One call of `write_script` is one conversation: ask for the script, ask once more if the answer
does not validate, ask once to fix the length if it is off the target. The endpoint is asked
for OpenAI's structured output first; an endpoint that refuses it gets plain JSON mode, then a
prompt that carries the schema, and the mode that worked is kept for the rest of the call.
Rate limits and server errors are retried with backoff; a timeout or a refused connection fails
at once, since a script stage waiting on a dead endpoint helps nobody.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from pipeline.script.llm_answer import (
    InvalidAnswer,
    SceneAnswer,
    ScriptAnswer,
    build_script,
    parse_answer,
    scene_json_schema,
    script_json_schema,
)
from pipeline.script.llm_prompt import (
    ScriptBrief,
    brief_product,
    length_request,
    length_warning,
    price_lines,
    retry_request,
    scene_request,
    script_request,
    system_prompt,
    within_target,
)
from pipeline.script.sentences import spoken_words
from pipeline.sources.fetch import retry_after_seconds
from pipeline.sources.product import Product
from pipeline.types import Script, StageError

__all__ = ["LLMCall", "LLMConfig", "LLMError", "LLMScript", "ScriptBrief", "rewrite_scene",
           "script_json_schema", "write_script"]

_ATTEMPTS = 4  # for 429 and 5xx answers: the first try and three retries
_MAX_WAIT = 30.0  # seconds; a longer Retry-After is not worth holding a worker for
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})
_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
_ANSWER_EXCERPT = 300
_MODES = ("json_schema", "json_object", "prompt")
AnswerT = TypeVar("AnswerT", bound=BaseModel)
_MENTIONS_FORMAT = re.compile(r"response_format|json_schema|json_object|structured",
                              re.IGNORECASE)


@dataclass(frozen=True)
class LLMConfig:
    """Where the chat-completions endpoint is and how long to wait for it."""

    base_url: str  # "http://127.0.0.1:11434/v1"; requests go to <base_url>/chat/completions
    model: str
    api_key: str = ""  # sent as a bearer token when set
    timeout: float = 120.0  # seconds for one HTTP call, answer included
    # The first wait before retrying a 429 or 5xx without Retry-After; it doubles each time.
    retry_backoff: float = 1.0


@dataclass(frozen=True)
class LLMCall:
    """One HTTP call that got an answer, for the api_costs table."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    purpose: str  # "script", "retry", "shorten" or "scene"


@dataclass(frozen=True)
class LLMScript:
    """The script, what writing it cost, and what the caller should know about it."""

    script: Script
    calls: tuple[LLMCall, ...]
    warnings: tuple[str, ...]


class LLMError(StageError):
    """A script-stage failure that still carries the calls paid for before it."""

    def __init__(self, code: str, message: str, calls: tuple[LLMCall, ...] = ()) -> None:
        super().__init__("script", code, message)
        self.calls = calls


class _Transient(Exception):
    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class _Rejected(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass
class _Chat:
    """One conversation's HTTP side: the response_format mode that works, and the calls made."""

    config: LLMConfig
    http: httpx.Client
    brief: ScriptBrief
    schema_name: str
    schema: dict[str, Any]
    whole_script: bool = True
    calls: list[LLMCall] = field(default_factory=list)
    mode: int = 0
    confirmed: bool = False  # the endpoint has answered in the current mode

    @property
    def url(self) -> str:
        return f"{self.config.base_url.rstrip('/')}/chat/completions"

    def error(self, code: str, message: str) -> LLMError:
        return LLMError(code, message, tuple(self.calls))

    def ask(self, conversation: list[dict[str, str]], purpose: str) -> str:
        """Send the conversation; the model's text."""
        while True:
            body = self._body(conversation)
            try:
                data, seconds = self._post_retrying(body)
            except _Rejected as exc:
                # The first refusal of a fresh endpoint is most likely the response_format it
                # does not know, whatever its error says; later ones only when they say so.
                if self.mode + 1 < len(_MODES) and (
                        _MENTIONS_FORMAT.search(exc.detail)
                        or (exc.status == 400 and not self.confirmed)):
                    self.mode += 1
                    continue
                raise self.error("llm_rejected",
                                 f"{self.url} refused the request (HTTP {exc.status}): "
                                 f"{exc.detail}") from None
            self.confirmed = True
            usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
            self.calls.append(LLMCall(self.config.model, _count(usage.get("prompt_tokens")),
                                      _count(usage.get("completion_tokens")), seconds, purpose))
            return self._content(data)

    def _body(self, conversation: list[dict[str, str]]) -> dict[str, Any]:
        mode = _MODES[self.mode]
        system = system_prompt(self.brief, None if mode == "json_schema" else self.schema,
                               whole_script=self.whole_script)
        body: dict[str, Any] = {"model": self.config.model,
                                "messages": [{"role": "system", "content": system},
                                             *conversation]}
        if mode == "json_schema":
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": self.schema_name, "strict": True, "schema": self.schema}}
        elif mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    def _post_retrying(self, body: dict[str, Any]) -> tuple[dict[str, Any], float]:
        retrying = Retrying(retry=retry_if_exception_type(_Transient),
                            stop=stop_after_attempt(_ATTEMPTS), wait=self._wait, reraise=True)
        try:
            return retrying(self._post, body)
        except _Transient as exc:
            raise self.error("llm_unavailable",
                             f"{self.url} answered HTTP {exc.status} {_ATTEMPTS} times in a row; "
                             "try again later") from None

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return min(exc.retry_after, _MAX_WAIT)
        return min(self.config.retry_backoff * 2 ** (state.attempt_number - 1), _MAX_WAIT)

    def _post(self, body: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """One HTTP call: the parsed answer and its wall time, or the failure it means."""
        headers = {"Accept": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        started = time.monotonic()
        try:
            with self.http.stream("POST", self.url, json=body, headers=headers,
                                  timeout=self.config.timeout) as response:
                raw = self._read(response, started + self.config.timeout)
        except httpx.TimeoutException:
            raise self.error("llm_unavailable", f"{self.url} did not answer within "
                                                f"{self.config.timeout:g} s") from None
        except httpx.TransportError as exc:
            raise self.error("llm_unavailable",
                             f"could not reach {self.url}: {type(exc).__name__}: {exc}") from None
        seconds = time.monotonic() - started
        status = response.status_code
        if status in (401, 403):
            refused = "refused the API key" if self.config.api_key else "asks for an API key"
            raise self.error("llm_unauthorized", f"{self.url} {refused} (HTTP {status}); "
                                                 "check the LLM API key")
        if status in _TRANSIENT:
            raise _Transient(status, retry_after_seconds(response.headers.get("Retry-After")))
        if status in (400, 422):
            raise _Rejected(status, self._detail(raw))
        if not 200 <= status < 300:
            raise self.error("llm_rejected", f"{self.url} answered HTTP {status}: "
                                             f"{self._detail(raw)}")
        try:
            data = httpx.Response(200, content=raw).json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise self.error("llm_unavailable", f"{self.url} did not answer with JSON; is it an "
                                                "OpenAI-compatible endpoint?")
        return data, seconds

    def _read(self, response: httpx.Response, deadline: float) -> bytes:
        # httpx's timeout bounds each read; a server trickling bytes must not outlast the call.
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > _MAX_RESPONSE_BYTES:
                raise self.error("llm_unavailable", f"{self.url} sent more than "
                                                    f"{_MAX_RESPONSE_BYTES} bytes")
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("the whole answer took too long")
            chunks.append(chunk)
        return b"".join(chunks)

    def _detail(self, raw: bytes) -> str:
        """What an error answer says, short, never echoing the key."""
        text = raw.decode("utf-8", "replace")
        try:
            data = httpx.Response(200, content=raw).json()
        except ValueError:
            data = None
        if isinstance(data, dict):
            inner = data.get("error", data.get("detail", data.get("message")))
            if isinstance(inner, dict):
                inner = inner.get("message", inner)
            text = str(inner) if inner is not None else text
        text = " ".join(text.split())[:200] or "(no details)"
        return text.replace(self.config.api_key, "***") if self.config.api_key else text

    def _content(self, data: dict[str, Any]) -> str:
        choices = data.get("choices")
        message = choices[0].get("message") if isinstance(choices, list) and choices \
            and isinstance(choices[0], dict) else None
        if not isinstance(message, dict):
            raise self.error("llm_unavailable", f"{self.url} answered without choices[0].message; "
                                                "is it an OpenAI-compatible endpoint?")
        content = message.get("content")
        if isinstance(content, list):  # content parts, as some servers send them
            content = "".join(str(part.get("text", "")) for part in content
                              if isinstance(part, dict))
        # A structured-output refusal has no content; its text is the best explanation.
        return str(content if content is not None else message.get("refusal") or "")


def _count(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


@contextmanager
def _session(config: LLMConfig, client: httpx.Client | None) -> Iterator[httpx.Client]:
    if client is not None:
        yield client
        return
    with httpx.Client(timeout=config.timeout) as own:
        yield own


def _ask_valid(chat: _Chat, conversation: list[dict[str, str]], model: type[AnswerT],
               purpose: str) -> AnswerT:
    """Ask, and once more with the error quoted if the answer does not validate."""
    text = chat.ask(conversation, purpose)
    conversation.append({"role": "assistant", "content": text})
    try:
        return parse_answer(text, model)
    except InvalidAnswer as exc:
        conversation.append({"role": "user", "content": retry_request(str(exc))})
    text = chat.ask(conversation, "retry")
    conversation.append({"role": "assistant", "content": text})
    try:
        return parse_answer(text, model)
    except InvalidAnswer as exc:
        raise chat.error("script_invalid",
                         f"the model's answer was not a valid script twice ({exc}); it began: "
                         f"\"{text[:_ANSWER_EXCERPT]}\"") from None


def _script_of(answer: ScriptAnswer, brief: ScriptBrief, product: Product | None) -> Script:
    return build_script(answer, language=brief.language, idea=brief.idea,
                        call_to_action=brief.call_to_action, product=product)


def write_script(brief: ScriptBrief, config: LLMConfig, *,
                 client: httpx.Client | None = None) -> LLMScript:
    """Have the endpoint write the script for an idea or a product.

    Raises:
        StageError: the brief is unusable ("empty_idea", "invalid_brief", "invalid_product").
        LLMError: a StageError of the script stage that carries the calls made:
            "llm_unavailable" (timeout, no connection, 429/5xx after retries, not an
            OpenAI-compatible answer), "llm_unauthorized" (401/403), "llm_rejected" (another
            4xx), "script_invalid" (two invalid answers).
    """
    product = brief_product(brief)
    prices = price_lines(product, brief.language)
    with _session(config, client) as http:
        chat = _Chat(config, http, brief, "video_script", script_json_schema())
        conversation = [{"role": "user", "content": script_request(brief, prices)}]
        answer = _ask_valid(chat, conversation, ScriptAnswer, "script")
        script = _script_of(answer, brief, product)
        warnings: list[str] = []
        target = brief.target_words
        words = spoken_words(script.narration)
        if target > 0 and not within_target(words, target):
            conversation.append({"role": "user", "content": length_request(words, target)})
            text = chat.ask(conversation, "shorten")
            try:
                refit = _script_of(parse_answer(text, ScriptAnswer), brief, product)
            except InvalidAnswer as exc:
                # The first answer was valid: better a script of the wrong length than none.
                warnings.append(f"the answer with the length fixed was not valid ({exc}); "
                                "kept the first one")
            else:
                refit_words = spoken_words(refit.narration)
                if abs(refit_words - target) <= abs(words - target):
                    script, words = refit, refit_words
            if not within_target(words, target):
                warnings.append(length_warning(words, target))
    return LLMScript(script, tuple(chat.calls), tuple(warnings))


def rewrite_scene(script: Script, index: int, brief: ScriptBrief, config: LLMConfig, *,
                  client: httpx.Client | None = None) -> LLMScript:
    """Have the endpoint write a new scene `index`; the script with only that scene replaced.

    The new scene keeps the old one's price badge and visuals.

    Raises:
        StageError: "invalid_scene" for an index outside the script, and as `write_script`.
    """
    if not 0 <= index < len(script.scenes):
        raise StageError("script", "invalid_scene",
                         f"index: the script has scenes 0 to {len(script.scenes) - 1}, "
                         f"not {index}")
    product = brief_product(brief)
    prices = price_lines(product, brief.language)
    with _session(config, client) as http:
        chat = _Chat(config, http, brief, "video_scene", scene_json_schema(), whole_script=False)
        conversation = [{"role": "user",
                         "content": scene_request(script, index, brief, prices)}]
        answer = _ask_valid(chat, conversation, SceneAnswer, "scene")
    new = replace(script.scenes[index], narration=answer.narration, headline=answer.headline,
                  search_terms=tuple(answer.search_terms))
    scenes = (*script.scenes[:index], new, *script.scenes[index + 1:])
    return LLMScript(replace(script, scenes=scenes), tuple(chat.calls), ())
