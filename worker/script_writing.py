"""Which generator writes a job's script, and the LLM it uses: the script stage's choices.

`script.generator` (request over profile) is template, llm or auto (llm when one is
configured); the LLM endpoint is the profile's over the server's settings, with the profile's
key opened from its sealed copy. Every call is recorded as usage with its tokens and prices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.script.llm import (
    LLMCall,
    LLMConfig,
    LLMError,
    ScriptBrief,
    rewrite_scene,
    write_script,
)
from pipeline.script.product_words import PRODUCT_WORDS
from pipeline.script.template import generate_script
from pipeline.sources.fetch import FetchRefused, check_url
from pipeline.sources.product import ProductSource
from pipeline.text.language import base_language, detect_language
from pipeline.types import IdeaSource, Script, ScriptSource, StageError
from store.costs import Usage
from store.secrets import SecretBox, SecretsUnavailable, SecretUnreadable
from store.settings import Settings

DEFAULT_WORDS_PER_SECOND = 2.5  # our voices' pace where no measured rate is known


@dataclass(frozen=True)
class WrittenScript:
    """The stage's script, who wrote it, and what the person reviewing it should know."""

    script: Script
    generator: str  # "template", "user" or "llm:<model>"
    warnings: tuple[str, ...] = ()


def llm_config(settings: Settings, options: dict[str, Any]) -> LLMConfig | None:
    """The job's LLM endpoint (its profile's over the server's), or None when there is none.

    Raises:
        StageError: the profile's key cannot be opened, or its endpoint is at a forbidden
            address.
    """
    own = options.get("llm") or {}
    base_url = own.get("base_url") or settings.llm_base_url
    model = own.get("model") or settings.llm_model
    if not (base_url and model):
        return None
    if own.get("base_url"):
        # A profile's endpoint is a user's URL: it may not reach what the server can.
        try:
            check_url(f"{base_url}/chat/completions", settings.fetch_allow_hosts)
        except FetchRefused as exc:
            raise StageError("script", "llm_blocked_address", exc.message) from None
    key = _profile_key(settings, options) if own.get("base_url") else None
    return LLMConfig(base_url=base_url, model=model,
                     api_key=key if key is not None else (settings.llm_api_key or ""),
                     timeout=float(own.get("timeout") or settings.llm_timeout))


def _profile_key(settings: Settings, options: dict[str, Any]) -> str | None:
    sealed = (options.get("secrets") or {}).get("llm_api_key")
    if not sealed:
        return None
    try:
        return SecretBox.from_settings(settings).open(sealed)
    except (SecretsUnavailable, SecretUnreadable) as exc:
        raise StageError("script", "secret_unreadable",
                         f"the profile's LLM key cannot be read: {exc}") from None


def write_job_script(settings: Settings, options: dict[str, Any],
                     source: IdeaSource | ProductSource | ScriptSource,
                     target_seconds: float, earlier: Script | None,
                     record: Any) -> WrittenScript:
    """The job's script from the generator its options choose; LLM calls go to `record`
    (a Callable[[Usage], None]). `earlier` is the script under review, for a one-scene
    regeneration."""
    if isinstance(source, ScriptSource):
        return WrittenScript(generate_script(source), "user")
    wanted = (options.get("script") or {}).get("generator") or "auto"
    if isinstance(source, ProductSource) and source.mode == "compilation":
        # A compilation's numbered scenes and prices are the template's own craft.
        return WrittenScript(generate_script(source), "template")
    config = llm_config(settings, options) if wanted != "template" else None
    if config is None:
        if wanted == "llm":
            raise StageError("script", "llm_not_configured",
                             "the job asks for an LLM script but no LLM is configured: set "
                             "LLM_BASE_URL and LLM_MODEL, or the profile's llm settings")
        return WrittenScript(generate_script(source), "template")
    brief = script_brief(source, options, target_seconds)
    scene = (options.get("regenerate") or {}).get("scene")
    try:
        if scene is not None and earlier is not None and 0 <= scene < len(earlier.scenes):
            written = rewrite_scene(earlier, scene, brief, config)
        else:
            written = write_script(brief, config)
    except LLMError as exc:
        _record_calls(settings, exc.calls, record)  # answers that came are paid for
        raise
    _record_calls(settings, written.calls, record)
    return WrittenScript(written.script, f"llm:{config.model}", written.warnings)


def _record_calls(settings: Settings, calls: tuple[LLMCall, ...], record: Any) -> None:
    for call in calls:
        record(Usage(provider=f"llm:{call.model}", operation="script",
                     units=call.prompt_tokens + call.completion_tokens, unit="tokens",
                     seconds=round(call.seconds, 3), prompt_tokens=call.prompt_tokens,
                     completion_tokens=call.completion_tokens,
                     price_input_per_1k=settings.llm_price_input_per_1k,
                     price_output_per_1k=settings.llm_price_output_per_1k))


def script_brief(source: IdeaSource | ProductSource, options: dict[str, Any],
                 target_seconds: float) -> ScriptBrief:
    """What the LLM is told: the source, language, the brand's tone and CTA, and the length
    as words at our voices' pace in that language (times the voice's speed)."""
    script_options = options.get("script") or {}
    if isinstance(source, IdeaSource):
        language = base_language(source.language) if source.language else detect_language(
            " ".join([source.idea, *source.points]))
        kind, fields = "idea", {}
    else:
        product = source.products[0]
        language = base_language(source.language) if source.language else detect_language(
            f"{product.title}\n{product.description}")
        kind = "product"
        fields = {"title": product.title, "description": product.description,
                  "brand": product.brand, "link": product.link,
                  "price": _money(product.price), "sale_price": _money(product.sale_price)}
    speed = float((options.get("voice") or {}).get("speed") or 1.0)
    words = PRODUCT_WORDS.get(language)
    rate = (words.rate if words else DEFAULT_WORDS_PER_SECOND) * speed
    return ScriptBrief(kind=kind, idea=source.idea if isinstance(source, IdeaSource) else "",
                       points=tuple(source.points) if isinstance(source, IdeaSource) else (),
                       product=fields or None, language=language,
                       tone=str(script_options.get("tone") or ""),
                       call_to_action=str(options.get("call_to_action") or ""),
                       target_words=max(10, round(target_seconds * rate)),
                       target_seconds=target_seconds)


def _money(money: Any) -> str:
    if money is None:
        return ""
    return f"{money.amount} {money.currency}".strip()
