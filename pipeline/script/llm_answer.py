"""What an LLM must answer for a script, how its text becomes a checked answer, and how that
answer becomes the pipeline's Script.

One pydantic model validates every answer, whether the endpoint enforced the JSON schema, only
promised JSON, or was merely asked for it: the schema is a request, the model is the check.
The schema is written by hand rather than generated, because OpenAI's strict mode accepts only
a subset of JSON Schema (no string lengths, every property required, no extra keys); the
limits it cannot express live in the model and in the field descriptions.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from pipeline.script.product import MAX_TITLE_CHARS, sale_prices  # one rule for sale prices
from pipeline.script.product_words import PRODUCT_WORDS
from pipeline.script.sentences import MAX_HEADLINE_CHARS as SHORT_HEADLINE_CHARS
from pipeline.script.sentences import MAX_HEADLINE_WORDS as SHORT_HEADLINE_WORDS
from pipeline.script.sentences import (
    SENTENCE_ENDS,
    Language,
    as_sentence,
    derive_headline,
    domain_of,
    fit_title,
)
from pipeline.sources.product import Product
from pipeline.text.clean import clean_text, has_words
from pipeline.text.language import base_language
from pipeline.types import Scene, Script

MIN_SCENES, MAX_SCENES = 2, 8
MIN_SEARCH_TERMS, MAX_SEARCH_TERMS = 2, 4
MAX_HASHTAGS = 8
MAX_HEADLINE_WORDS, MAX_HEADLINE_CHARS = 6, 60
MAX_HOOK_CHARS = 300
MAX_NARRATION_CHARS = 600
MAX_CTA_CHARS = 150
MAX_CAPTION_CHARS = 300
MAX_SEARCH_TERM_CHARS, MAX_SEARCH_TERM_WORDS = 50, 5
MAX_HASHTAG_CHARS = 40

# Reasoning models put their thoughts before the answer; some servers leave the opening tag in
# the prompt and send only the closing one, some cut the answer off inside the thoughts.
_THINK_BLOCK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_THINK_CLOSE = re.compile(r"^.*?</(?:think|thinking|reasoning)>", re.DOTALL | re.IGNORECASE)
_THINK_OPEN = re.compile(r"^\s*<(?:think|thinking|reasoning)>", re.IGNORECASE)
_ANSWER_LINE = re.compile(r"^\s*\{", re.MULTILINE)
_FENCE = re.compile(r"^\s*```[\w-]*\s*$", re.MULTILINE)
_ALLOWED_CONTROLS = "\t\n\r"  # whitespace, collapsed by clean_text
_TRAILING_PUNCTUATION = ".!?。！？…,;:؟"


AnswerT = TypeVar("AnswerT", bound=BaseModel)


class InvalidAnswer(Exception):
    """The model's text is not JSON or does not fit the answer model; says which field."""


def _checked(limit: int, *, words: int | None = None,
             optional: bool = False) -> Callable[[str], str]:
    """A string check: no control characters, emoji dropped, spaces collapsed, within limits."""

    def check(value: str) -> str:
        bad = [ch for ch in value
               if unicodedata.category(ch) == "Cc" and ch not in _ALLOWED_CONTROLS]
        if bad:
            raise ValueError(f"contains the control character {bad[0]!r}")
        cleaned = clean_text(value)
        if not has_words(cleaned):
            if optional and not cleaned:
                return ""
            raise ValueError("must contain words")
        if len(cleaned) > limit:
            raise ValueError(f"is {len(cleaned)} characters, at most {limit} are allowed")
        if words is not None and len(cleaned.split()) > words:
            raise ValueError(f"is {len(cleaned.split())} words, at most {words} are allowed")
        return cleaned

    return check


def _hashtag(value: str) -> str:
    """A hashtag as a bare word: "#Summer Sale" is "SummerSale"."""
    tag = "".join(re.findall(r"\w+", clean_text(value)))
    if not tag:
        raise ValueError("must contain letters or digits")
    if len(tag) > MAX_HASHTAG_CHARS:
        raise ValueError(f"is {len(tag)} characters, at most {MAX_HASHTAG_CHARS} are allowed")
    return tag


Hook = Annotated[str, AfterValidator(_checked(MAX_HOOK_CHARS))]
Narration = Annotated[str, AfterValidator(_checked(MAX_NARRATION_CHARS))]
Headline = Annotated[str, AfterValidator(_checked(MAX_HEADLINE_CHARS, words=MAX_HEADLINE_WORDS))]
SearchTerm = Annotated[str, AfterValidator(_checked(MAX_SEARCH_TERM_CHARS,
                                                    words=MAX_SEARCH_TERM_WORDS))]
CallToAction = Annotated[str, AfterValidator(_checked(MAX_CTA_CHARS, optional=True))]
Caption = Annotated[str, AfterValidator(_checked(MAX_CAPTION_CHARS, optional=True))]
Hashtag = Annotated[str, AfterValidator(_hashtag)]


class SceneAnswer(BaseModel):
    """One scene as the model writes it."""

    model_config = ConfigDict(extra="ignore")

    narration: Narration
    headline: Headline
    search_terms: list[SearchTerm] = Field(min_length=MIN_SEARCH_TERMS,
                                           max_length=MAX_SEARCH_TERMS)


class ScriptAnswer(BaseModel):
    """A whole script as the model writes it."""

    model_config = ConfigDict(extra="ignore")

    hook: Hook
    scenes: list[SceneAnswer] = Field(min_length=MIN_SCENES, max_length=MAX_SCENES)
    call_to_action: CallToAction
    hashtags: list[Hashtag] = Field(max_length=MAX_HASHTAGS)
    caption: Caption


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def scene_json_schema() -> dict[str, Any]:
    """The JSON schema of one scene (strict-mode subset), as `rewrite_scene` asks for it."""
    return {
        "type": "object",
        "properties": {
            "narration": _string("What the voice says in this scene: one or two sentences."),
            "headline": _string(f"Shown on screen: at most {MAX_HEADLINE_WORDS} words, "
                                f"{MAX_HEADLINE_CHARS} characters."),
            "search_terms": {
                "type": "array", "minItems": MIN_SEARCH_TERMS, "maxItems": MAX_SEARCH_TERMS,
                "description": "Stock footage searches for this scene, in English, most "
                               "specific first; each a few words.",
                "items": {"type": "string"},
            },
        },
        "required": ["narration", "headline", "search_terms"],
        "additionalProperties": False,
    }


def script_json_schema() -> dict[str, Any]:
    """The JSON schema of a whole script (strict-mode subset), sent as `response_format`."""
    return {
        "type": "object",
        "properties": {
            "hook": _string("The opening line that makes viewers stay: one short sentence."),
            "scenes": {"type": "array", "minItems": MIN_SCENES, "maxItems": MAX_SCENES,
                       "items": scene_json_schema()},
            "call_to_action": _string("The closing line, spoken last."),
            "hashtags": {"type": "array", "maxItems": MAX_HASHTAGS,
                         "description": "Hashtags without spaces.",
                         "items": {"type": "string"}},
            "caption": _string(f"The post's caption: at most {MAX_CAPTION_CHARS} characters."),
        },
        "required": ["hook", "scenes", "call_to_action", "hashtags", "caption"],
        "additionalProperties": False,
    }


def extract_json(text: str) -> str:
    """The JSON object in a model's text: thoughts, code fences and prose around it removed."""
    text = _THINK_BLOCK.sub("", text)
    text = _THINK_CLOSE.sub("", text, count=1)
    unterminated = _THINK_OPEN.match(text)
    if unterminated:
        # Thoughts that never ended: the answer, if any, starts on a line of its own.
        start = _ANSWER_LINE.search(text, unterminated.end())
        text = text[start.start():] if start else ""
    text = _FENCE.sub("", text)
    first, last = text.find("{"), text.rfind("}")
    return text[first:last + 1] if 0 <= first < last else text.strip()


def _describe(error: ValidationError) -> str:
    """The errors one per field ("scenes.1.headline: is 9 words, …"), without pydantic's links."""
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "answer"
        parts.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def parse_answer(text: str, model: type[AnswerT]) -> AnswerT:
    """The model's text as a checked answer.

    Raises:
        InvalidAnswer: the text holds no JSON object, or it does not fit `model`.
    """
    candidate = extract_json(text)
    try:
        data = json.loads(candidate)
    except json.JSONDecodeError as exc:
        raise InvalidAnswer(f"the answer is not JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(data, dict):
        raise InvalidAnswer("the answer must be one JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidAnswer(_describe(exc)) from None


# --- the answer as a Script ------------------------------------------------------------------


def build_script(answer: ScriptAnswer, *, language: str, idea: str = "",
                 call_to_action: str = "", product: Product | None = None) -> Script:
    """The answer as the pipeline's Script: of a product when `product` is given, else of an idea.

    The hook is the first scene, under the title; the call to action, the brand's own when it
    has one (whatever the model wrote), is the last, so the voice says it. The title is the
    product's title (as the offline writer shortens it), or the idea when it is short enough to
    be a headline, else the first scene's headline. The hook takes the first scene's search
    terms and the call to action the last one's, so every scene has footage to look for.
    """
    lang = Language(base_language(language), PRODUCT_WORDS.get(base_language(language)))
    body = [Scene(s.narration, s.headline, search_terms=tuple(s.search_terms))
            for s in answer.scenes]
    if product is not None:
        title = fit_title(product.title, MAX_TITLE_CHARS, None, lang)
        headline = fit_title(product.title, MAX_HEADLINE_CHARS, MAX_HEADLINE_WORDS, lang)
    else:
        topic = clean_text(idea).rstrip(_TRAILING_PUNCTUATION).strip()
        fits = has_words(topic) and len(topic) <= MAX_HEADLINE_CHARS \
            and len(topic.split()) <= MAX_HEADLINE_WORDS
        title = headline = topic if fits else body[0].headline
    scenes = [Scene(as_sentence(answer.hook), headline, search_terms=body[0].search_terms),
              *body]
    own = clean_text(call_to_action)
    cta = own if has_words(own) else answer.call_to_action
    cta_headline = ""
    if cta:
        cta_headline = _cta_headline(cta, lang)
        scenes.append(Scene(as_sentence(cta), cta_headline, search_terms=body[-1].search_terms))
    price, was = sale_prices(product, lang.code)[:2] if product is not None else ("", "")
    # Hashtags are written with their "#", as the offline writers give them to the publishers.
    tags: dict[str, str] = {}
    for tag in answer.hashtags:
        tags.setdefault(tag.casefold(), f"#{tag}")
    return Script(
        title=title,
        scenes=tuple(scenes),
        call_to_action=cta_headline,
        hashtags=tuple(tags.values()),
        language=language,
        kind="product" if product is not None else "idea",
        price=price,
        was_price=was,
        end_title=(clean_text(product.brand) or title) if product is not None else "",
        end_subtitle=domain_of(product.link) if product is not None else "",
        caption=answer.caption,
    )


def _cta_headline(cta: str, lang: Language) -> str:
    """The call to action as the end card shows it: itself when short, else its first phrase."""
    bare = cta.rstrip("".join(SENTENCE_ENDS)).strip()
    if len(bare.split()) <= SHORT_HEADLINE_WORDS and len(bare) <= SHORT_HEADLINE_CHARS:
        return bare
    return derive_headline(cta, lang) or bare
