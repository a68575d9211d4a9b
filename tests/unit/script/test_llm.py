"""The LLM script writer against a real local chat-completions server."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import httpx
import pytest

from pipeline.script.llm import (
    LLMConfig,
    LLMError,
    ScriptBrief,
    rewrite_scene,
    script_json_schema,
    write_script,
)
from pipeline.script.llm_answer import (
    InvalidAnswer,
    SceneAnswer,
    ScriptAnswer,
    extract_json,
    parse_answer,
    scene_json_schema,
)
from pipeline.script.sentences import spoken_words
from pipeline.types import Scene, Script, StageError
from tests.support.chat_server import HANG, ChatRequest, chat_server, completion, error

KEY = "sk-test-secret-key"
IDEA = ScriptBrief(kind="idea", idea="Why cats sleep so much", target_words=75)


def sentence(words: int, start: str = "Cats") -> str:
    """A sentence of exactly `words` spoken words."""
    return " ".join([start, *["nap"] * (words - 2), "daily."])


def answer(*, scene_words: int = 15, scene_count: int = 4, **overrides: Any) -> dict[str, Any]:
    """A valid answer; the default narration is 8 + 4 × 15 + 5 = 73 words, on a 75 target."""
    data: dict[str, Any] = {
        "hook": sentence(8, "Ever"),
        "scenes": [{"narration": sentence(scene_words), "headline": f"Reason {n}",
                    "search_terms": ["sleeping cat", "cat nap"]}
                   for n in range(1, scene_count + 1)],
        "call_to_action": "Follow for more cat facts.",
        "hashtags": ["#cats", "Cat Facts", "#cats"],
        "caption": "Why your cat sleeps all day.",
    }
    data.update(overrides)
    return data


def good(**overrides: Any) -> str:
    """A valid answer as the model's text."""
    return json.dumps(answer(**overrides))


def config(server: Any, **overrides: Any) -> LLMConfig:
    """The config for the test's server, with short timeouts and backoff."""
    values: dict[str, Any] = {"base_url": server.base_url, "model": "test-model",
                              "timeout": 5.0, "retry_backoff": 0.01}
    values.update(overrides)
    return LLMConfig(**values)


def last_user(request: ChatRequest) -> str:
    """The last user message of a request."""
    return next(m["content"] for m in reversed(request.messages) if m["role"] == "user")


# --- a good answer --------------------------------------------------------------------------


def test_structured_answer_becomes_the_script() -> None:
    """A schema-conforming answer gives the Script, and the request is OpenAI's structured one."""
    with chat_server(completion(good(), prompt_tokens=321, completion_tokens=123)) as server:
        result = write_script(IDEA, config(server, api_key=KEY))
    [request] = server.received()
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == "test-model"
    assert [m["role"] for m in request.messages] == ["system", "user"]
    assert request.response_format == {"type": "json_schema", "json_schema": {
        "name": "video_script", "strict": True, "schema": script_json_schema()}}

    script = result.script
    assert script.title == "Why cats sleep so much"
    assert script.kind == "idea" and script.language == "en"
    assert [s.narration for s in script.scenes] == (
        [sentence(8, "Ever")] + [sentence(15)] * 4 + ["Follow for more cat facts."])
    assert script.scenes[0].headline == "Why cats sleep so much"
    assert [s.headline for s in script.scenes[1:5]] == [f"Reason {n}" for n in range(1, 5)]
    assert all(s.search_terms == ("sleeping cat", "cat nap") for s in script.scenes)
    assert script.call_to_action == "Follow for more cat facts"
    assert script.hashtags == ("#cats", "#CatFacts")
    assert script.caption == "Why your cat sleeps all day."
    assert result.warnings == ()
    [call] = result.calls
    assert (call.model, call.prompt_tokens, call.completion_tokens, call.purpose) == (
        "test-model", 321, 123, "script")
    assert call.seconds >= 0


def test_no_key_sends_no_authorization_and_missing_usage_counts_zero() -> None:
    """Without a key no Authorization header goes out; an answer without usage costs 0 tokens."""
    with chat_server(completion(good(), prompt_tokens=None)) as server:
        result = write_script(IDEA, config(server))
    [request] = server.received()
    assert "authorization" not in request.headers
    assert (result.calls[0].prompt_tokens, result.calls[0].completion_tokens) == (0, 0)


def test_given_client_is_used_and_left_open() -> None:
    """A caller's httpx client carries the request and stays usable afterwards."""
    with chat_server(completion(good())) as server, httpx.Client() as client:
        write_script(IDEA, config(server), client=client)
        assert not client.is_closed
    assert len(server.received()) == 1


def test_fenced_answer_after_thinking_is_read() -> None:
    """<think> blocks, ```json fences and prose around the object do not stop a valid answer."""
    content = ("<think>The user wants {a script}; keep it short.</think>\nSure, here it is:\n"
               f"```json\n{good()}\n```\nEnjoy!")
    with chat_server(completion(content)) as server:
        result = write_script(IDEA, config(server))
    assert len(server.received()) == 1
    assert result.script.scenes[1].narration == sentence(15)


@pytest.mark.parametrize("text", [
    '<think>unfinished thoughts with {braces}\n{"a": 1}',
    'thoughts whose opening tag was in the prompt {x}</think>\n{"a": 1}',
    '```\n{"a": 1}\n```',
    'The answer: {"a": 1} -- hope it helps',
    '<THINKING>a</THINKING><think>b</think>{"a": 1}',
])
def test_extract_json_finds_the_object(text: str) -> None:
    """Reasoning, fences and prose are stripped, leaving the one JSON object."""
    assert json.loads(extract_json(text)) == {"a": 1}


def test_unterminated_thinking_without_answer_is_not_json() -> None:
    """A reply cut off inside its thoughts holds no answer, even if the thoughts had braces."""
    with pytest.raises(InvalidAnswer, match="not JSON"):
        parse_answer("<think>maybe {hook} then {scenes", ScriptAnswer)


# --- invalid answers ---------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "field"), [
    ({"scenes": answer()["scenes"][:1]}, "scenes"),
    ({"hook": "   "}, "hook"),
    ({"scenes": [{**answer()["scenes"][0], "narration": "🚀🔥"}] * 2}, "scenes.0.narration"),
    ({"scenes": [{**answer()["scenes"][0], "headline": "one two three four five six seven"}] * 2},
     "scenes.0.headline"),
    ({"scenes": [{**answer()["scenes"][0], "search_terms": ["cat"]}] * 2},
     "scenes.0.search_terms"),
    ({"caption": "x" * 301}, "caption"),
    ({"hashtags": [f"tag{n}" for n in range(9)]}, "hashtags"),
    ({"call_to_action": "Follow\x1b[31m now"}, "call_to_action"),
])
def test_answer_model_rejects_bad_fields(change: dict[str, Any], field: str) -> None:
    """Too few scenes, empty or emoji-only text, long fields and control characters are named."""
    with pytest.raises(InvalidAnswer) as caught:
        parse_answer(json.dumps(answer(**change)), ScriptAnswer)
    assert str(caught.value).startswith(f"{field}:")


def test_invalid_then_good_answer_quotes_the_error() -> None:
    """An invalid answer is sent back as the assistant's turn with the validation error quoted."""
    bad = good(hook="")
    with chat_server(completion(bad), completion(good())) as server:
        result = write_script(IDEA, config(server))
    first, second = server.received()
    assert second.messages[:2] == first.messages
    assert second.messages[-2] == {"role": "assistant", "content": bad}
    retry = second.messages[-1]
    assert retry["role"] == "user"
    assert retry["content"].startswith("Your answer was not valid: hook: must contain words")
    assert "JSON only" in retry["content"]
    assert [c.purpose for c in result.calls] == ["script", "retry"]


def test_invalid_twice_fails_with_the_answers_start() -> None:
    """Two invalid answers fail as script_invalid, quoting the first 300 characters of the last."""
    last = "I cannot write JSON today, sorry. " * 20
    with chat_server(completion("not json"), completion(last)) as server:
        with pytest.raises(LLMError) as caught:
            write_script(IDEA, config(server))
    assert (caught.value.stage, caught.value.code) == ("script", "script_invalid")
    assert last[:300] in caught.value.message and last[:301] not in caught.value.message
    assert [c.purpose for c in caught.value.calls] == ["script", "retry"]
    assert len(server.received()) == 2


# --- HTTP failures ---------------------------------------------------------------------------


def test_rate_limit_waits_for_retry_after() -> None:
    """A 429 with Retry-After: 1 is retried after about a second, then the answer is used."""
    with chat_server(error(429, "slow down", **{"Retry-After": "1"}),
                     completion(good())) as server:
        started = time.monotonic()
        result = write_script(IDEA, config(server, retry_backoff=5.0))
        elapsed = time.monotonic() - started
    assert len(server.received()) == 2
    assert 0.95 <= elapsed < 4
    assert [c.purpose for c in result.calls] == ["script"]


def test_server_errors_give_up_after_four_attempts() -> None:
    """Five 500s in a row: four attempts, then llm_unavailable naming the status."""
    with chat_server(*[error(500, "boom")] * 5) as server:
        with pytest.raises(StageError) as caught:
            write_script(IDEA, config(server))
    assert caught.value.code == "llm_unavailable"
    assert "HTTP 500" in caught.value.message and server.base_url in caught.value.message
    assert len(server.received()) == 4


def test_server_that_never_answers_times_out() -> None:
    """A silent endpoint fails as llm_unavailable after about `timeout`, naming the URL only."""
    with chat_server(HANG) as server:
        started = time.monotonic()
        with pytest.raises(StageError) as caught:
            write_script(IDEA, config(server, timeout=1.0, api_key=KEY))
        elapsed = time.monotonic() - started
    assert caught.value.code == "llm_unavailable"
    assert server.base_url in caught.value.message and KEY not in caught.value.message
    assert elapsed < 3
    assert len(server.received()) == 1


def test_nothing_listening_is_unavailable() -> None:
    """A refused connection fails at once as llm_unavailable."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StageError) as caught:
        write_script(IDEA, LLMConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m",
                                     timeout=2.0))
    assert caught.value.code == "llm_unavailable"
    assert f"127.0.0.1:{port}" in caught.value.message


def test_refused_key_is_unauthorized_without_echoing_it() -> None:
    """A 401 says the key was refused, and never repeats the key the server echoed."""
    with chat_server(error(401, f"Incorrect API key provided: {KEY}")) as server:
        with pytest.raises(StageError) as caught:
            write_script(IDEA, config(server, api_key=KEY))
    assert caught.value.code == "llm_unauthorized"
    assert "refused the API key" in caught.value.message and KEY not in caught.value.message
    assert len(server.received()) == 1


# --- response_format fallbacks -----------------------------------------------------------------


def test_json_schema_refused_falls_back_to_json_object_for_the_whole_call() -> None:
    """A 400 to json_schema brings json_object, kept for the follow-ups, with the schema told."""
    too_long = good(scene_words=40)
    with chat_server(error(400, "Unknown parameter"), completion(too_long),
                     completion(good())) as server:
        result = write_script(IDEA, config(server))
    first, second, third = server.received()
    assert first.response_format["type"] == "json_schema"
    assert second.response_format == {"type": "json_object"}
    assert third.response_format == {"type": "json_object"}
    assert json.dumps(script_json_schema(), ensure_ascii=False) in second.messages[0]["content"]
    # The refused request cost nothing; the two answers are the calls.
    assert [c.purpose for c in result.calls] == ["script", "shorten"]


def test_json_object_refused_too_falls_back_to_prompt_only() -> None:
    """When json_object is refused as well, the third request has no response_format."""
    with chat_server(error(400, "response_format json_schema is not supported"),
                     error(422, "response_format: unsupported type json_object"),
                     completion(good())) as server:
        write_script(IDEA, config(server))
    third = server.received()[2]
    assert "response_format" not in third.body
    system = third.messages[0]["content"]
    assert "JSON object only" in system and '"video_script"' not in system
    assert json.dumps(script_json_schema(), ensure_ascii=False) in system


def test_later_unrelated_400_is_not_a_format_problem() -> None:
    """Once the endpoint has answered, a 400 that does not mention the format fails the call."""
    with chat_server(completion(good(scene_words=40)), error(400, "context too long")) as server:
        with pytest.raises(LLMError) as caught:
            write_script(IDEA, config(server))
    assert caught.value.code == "llm_rejected" and "context too long" in caught.value.message
    assert [c.purpose for c in caught.value.calls] == ["script"]
    assert len(server.received()) == 2


# --- length ------------------------------------------------------------------------------------


def test_too_long_answer_is_shortened_once() -> None:
    """A narration far over the target is sent back with its count; the fitting one is kept."""
    with chat_server(completion(good(scene_words=30)), completion(good())) as server:
        result = write_script(IDEA, config(server))
    shorten = server.received()[1]
    assert shorten.messages[-2] == {"role": "assistant", "content": good(scene_words=30)}
    assert "is 133 words; the target is 75 words" in last_user(shorten)
    assert "Shorten" in last_user(shorten)
    assert spoken_words(result.script.narration) == 73
    assert result.warnings == ()
    assert [c.purpose for c in result.calls] == ["script", "shorten"]


def test_still_too_long_is_kept_with_a_warning() -> None:
    """A narration still off the target after one try is accepted with a warning saying so."""
    with chat_server(completion(good(scene_words=30)),
                     completion(good(scene_words=26))) as server:
        result = write_script(IDEA, config(server))
    assert len(server.received()) == 2
    assert spoken_words(result.script.narration) == 117
    assert result.warnings == ("narration is 117 words, the target was 75 (±15 %)",)


def test_too_short_asks_to_lengthen() -> None:
    """A narration far under the target asks to lengthen it."""
    with chat_server(completion(good(scene_words=4, scene_count=2)), completion(good())) as server:
        write_script(IDEA, config(server))
    assert "Lengthen it to about 75 words" in last_user(server.received()[1])


# --- the prompt ----------------------------------------------------------------------------------


def test_prompt_carries_language_tone_cta_length_and_source() -> None:
    """The messages name the language, tone, call to action, target and every point."""
    brief = ScriptBrief(kind="idea", idea="Kaffee richtig lagern", points=("Luft", "Licht"),
                        language="de", tone="playful", call_to_action="Folge uns für mehr!",
                        target_words=75, target_seconds=30)
    with chat_server(completion(good(call_to_action="Something else"))) as server:
        result = write_script(brief, config(server))
    prompt = server.received()[0].prompt
    for expected in ("Write in German (de)", "Tone: playful.",
                     "End with exactly this call to action: Folge uns für mehr!",
                     "about 75 words",
                     "about 30 seconds", "Kaffee richtig lagern", "- Luft\n- Licht",
                     "search_terms in English", "Never invent prices"):
        assert expected in prompt
    # The brand's call to action is said verbatim whatever the model wrote.
    assert result.script.scenes[-1].narration == "Folge uns für mehr!"
    assert result.script.language == "de"


def test_long_idea_takes_the_first_headline_as_title() -> None:
    """An idea too long for a headline leaves the title to the model's first headline."""
    brief = ScriptBrief(kind="idea", idea="A video about why cats sleep sixteen hours a day")
    with chat_server(completion(good())) as server:
        script = write_script(brief, config(server)).script
    assert script.title == script.scenes[0].headline == "Reason 1"
    assert "The idea: A video about why cats sleep sixteen hours a day" in (
        server.received()[0].prompt)


def test_product_brief_gives_a_product_script() -> None:
    """Every product field reaches the prompt; the script keeps its prices, brand and shop."""
    product = {"title": "Acme Runner 2 – Men's Trail Shoe", "description": "Light and grippy.",
               "price": "129.00", "sale_price": "99.00", "currency": "EUR", "brand": "Acme",
               "link": "https://www.shop.example.com/p/runner"}
    brief = ScriptBrief(kind="product", product=product, language="de")
    with chat_server(completion(good())) as server:
        result = write_script(brief, config(server))
    prompt = server.received()[0].prompt
    for name, value in product.items():
        assert f"{name}: {value}" in prompt
    assert "written as: 99,00 €" in prompt and "written as: 129,00 €" in prompt
    script = result.script
    assert script.kind == "product"
    assert (script.price, script.was_price) == ("99,00 €", "129,00 €")
    assert script.title == "Acme Runner 2 – Men's Trail Shoe"
    assert script.scenes[0].headline == "Acme Runner 2"
    assert (script.end_title, script.end_subtitle) == ("Acme", "shop.example.com")


@pytest.mark.parametrize(("brief", "code"), [
    (ScriptBrief(kind="idea", idea="🚀🔥"), "empty_idea"),
    (ScriptBrief(kind="video", idea="x"), "invalid_brief"),
    (ScriptBrief(kind="product"), "invalid_brief"),
    (ScriptBrief(kind="product", product={"description": "no title"}), "invalid_product"),
])
def test_unusable_brief_fails_before_any_request(brief: ScriptBrief, code: str) -> None:
    """A brief without words or a product fails at once, and nothing is sent."""
    with chat_server() as server:
        with pytest.raises(StageError) as caught:
            write_script(brief, config(server))
    assert caught.value.code == code
    assert server.received() == []


def test_schema_matches_the_answer_model_and_strict_rules() -> None:
    """The schema names exactly the model's fields, all required, no extra keys, at each level."""
    schema = script_json_schema()
    assert set(schema["properties"]) == set(ScriptAnswer.model_fields)
    scene = schema["properties"]["scenes"]["items"]
    assert scene == scene_json_schema()
    assert set(scene["properties"]) == set(SceneAnswer.model_fields)
    for level in (schema, scene):
        assert level["required"] == list(level["properties"])
        assert level["additionalProperties"] is False


# --- one scene -----------------------------------------------------------------------------------


def test_rewrite_scene_replaces_only_that_scene() -> None:
    """rewrite_scene asks for one scene and swaps it in, keeping the scene's price badge."""
    script = Script(title="T", scenes=(Scene("Hook here.", "T"),
                                       Scene("Old middle scene.", "Old", price="9,99 €"),
                                       Scene("Last one.", "End")),
                    call_to_action="", hashtags=("#t",), language="en")
    new = {"narration": "A fresh middle scene.", "headline": "Fresh",
           "search_terms": ["fresh bread", "bakery"]}
    with chat_server(completion(json.dumps(new))) as server:
        result = rewrite_scene(script, 1, IDEA, config(server))
    [request] = server.received()
    assert request.response_format == {"type": "json_schema", "json_schema": {
        "name": "video_scene", "strict": True, "schema": scene_json_schema()}}
    assert 'replace "Old middle scene."' in last_user(request)
    assert result.script.scenes[0] == script.scenes[0]
    assert result.script.scenes[2] == script.scenes[2]
    assert result.script.scenes[1] == Scene("A fresh middle scene.", "Fresh", price="9,99 €",
                                            search_terms=("fresh bread", "bakery"))
    assert result.script.hashtags == script.hashtags
    assert [c.purpose for c in result.calls] == ["scene"]


def test_rewrite_scene_rejects_an_index_outside_the_script() -> None:
    """An index past the last scene fails without a request."""
    script = Script(title="T", scenes=(Scene("a.", "A"),), call_to_action="", hashtags=())
    with chat_server() as server:
        with pytest.raises(StageError) as caught:
            rewrite_scene(script, 1, IDEA, config(server))
    assert caught.value.code == "invalid_scene"
    assert server.received() == []
