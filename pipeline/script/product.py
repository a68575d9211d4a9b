"""The offline product script writer: one product, or a numbered compilation, becomes a Script.

Everything said comes from the product itself (title, description sentences, price, brand,
link) or from one language's phrases in `product_words`; a language without phrases gets the
product's own words only, since one voice reads the whole script. The narration is sized to
`target_seconds` at a per-language speaking rate, and the same input always gives the same
script.

The words themselves (sentences, titles, headlines, hashtags) are shaped in
`pipeline.script.sentences`; this module decides which of them make the script and how long
it runs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from pipeline.script.prices import format_price
from pipeline.script.product_words import PRODUCT_WORDS, ProductWords
from pipeline.script.sentences import (
    MAX_HEADLINE_CHARS,
    MAX_HEADLINE_WORDS,
    SENTENCE_ENDS,
    Language,
    as_sentence,
    derive_headline,
    domain_of,
    fit_title,
    hashtags,
    shorten,
    spoken_words,
    text_key,
    usable_sentences,
)
from pipeline.sources.product import Product, ProductSource
from pipeline.text.clean import clean_text, has_words
from pipeline.text.language import base_language, detect_language
from pipeline.types import Scene, Script, StageError

MAX_TITLE_CHARS = 60
SPOKEN_TITLE_CHARS, SPOKEN_TITLE_WORDS = 40, 6
SHORT_TITLE_CHARS = 28  # "10. " before it still fits a headline
SHORT_TITLE_WORDS = 4
MAX_SENTENCE_WORDS = 18
MIN_BENEFITS, MAX_BENEFITS = 2, 4
MIN_COMPILATION, MAX_COMPILATION = 2, 10
# The narration aims at the target and may run this far over it, never further; a long enough
# description fills at least MIN_FILL of it.
MIN_FILL, MAX_FILL = 0.6, 1.15
# Sentence lengths tried, longest first, until the benefits fit.
_CAPS = (MAX_SENTENCE_WORDS, 14, 11, 8, 6)
_COMPILATION_CAPS = (12, 9, 6, 0)

_ENGLISH_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)

# A compilation's product: number, short title, price, regular price, spoken price line,
# its first usable sentence (or none) and its visuals' indices.
_Entry = tuple[int, str, str, str, str, list[str], tuple[int, ...]]


class ProductScriptGenerator:
    """Offline, deterministic product and compilation scripts: the default for product jobs."""

    name = "product_template"

    def available(self) -> bool:
        """Always: it needs nothing but Python."""
        return True

    def generate(self, source: ProductSource) -> Script:
        """Write the script for one product ("single") or several ("compilation")."""
        count = len(source.products)
        if source.mode == "single":
            if count != 1:
                raise StageError("script", "invalid_product_source",
                                 f"products: a single-product video takes exactly one product, "
                                 f"got {count}")
        elif source.mode == "compilation":
            if not MIN_COMPILATION <= count <= MAX_COMPILATION:
                raise StageError("script", "invalid_product_source",
                                 f"products: a compilation takes {MIN_COMPILATION} to "
                                 f"{MAX_COMPILATION} "
                                 f"products, got {count}")
        else:
            raise StageError("script", "invalid_product_source",
                             f"mode: must be 'single' or 'compilation', not {source.mode!r}")
        for product in source.products:
            if not has_words(clean_text(product.title)):
                raise StageError("script", "invalid_product",
                                 f"products: product {product.id!r} needs a title with words")
        language = _language_of(source)
        if source.mode == "single":
            return _single(source.products[0], source, language)
        return _compilation(source, language)


def generate_product_script(source: ProductSource) -> Script:
    """Run the script stage for a product source with the offline generator."""
    return ProductScriptGenerator().generate(source)


# --- the two kinds of script ---------------------------------------------------------------


def _single(product: Product, source: ProductSource, lang: Language) -> Script:
    title = fit_title(product.title, MAX_TITLE_CHARS, None, lang)
    # Said aloud, "Acme Runner 2 – Men's Trail Shoe, Black" is just "Acme Runner 2".
    spoken = fit_title(product.title, SPOKEN_TITLE_CHARS, SPOKEN_TITLE_WORDS, lang)
    short = fit_title(product.title, SHORT_TITLE_CHARS, SHORT_TITLE_WORDS, lang)
    brand = clean_text(product.brand)
    digest = _digest(product.id, product.title)
    domain = domain_of(product.link)
    price, was, percent = sale_prices(product, lang.code)
    words = lang.words

    hook_visuals = (0,) if product.images else ()
    compact_hook = Scene(as_sentence(spoken), title, visuals=hook_visuals)
    if words is None:
        hooks = [compact_hook]
        price_lines = [price] if price else []
    else:
        brand_named = not brand or text_key(brand) in text_key(title)
        templates = words.hooks if brand_named else words.brand_hooks
        hook = _fill(templates[digest % len(templates)], lang, title=spoken, brand=brand)
        hooks = [Scene(hook, title, visuals=hook_visuals), compact_hook]
        if percent is not None:
            price_lines = [_fill(t, lang, percent=percent, price=price, was=was)
                           for t in (words.sale, words.sale_short)]
        else:
            price_lines = [_fill(words.price, lang, price=price)] if price else []
    cta = _call_to_action(source, lang, domain, compilation=False)

    real = usable_sentences(product, lang)
    candidates: list[tuple[str, str]] = [(s, "") for s in real]
    if words is not None and len(real) < MIN_BENEFITS:
        candidates += _fillers(words, lang, short, brand, digest, MIN_BENEFITS - len(real))
    need = min(MIN_BENEFITS, len(candidates))

    target = source.target_seconds * lang.rate
    fixed_options = [(h, p) for h in hooks for p in (price_lines or [""])]
    chosen = _fit_single(fixed_options, candidates, cta, need, target, lang)
    hook_scene, price_line, benefits = chosen

    scenes = [hook_scene, *benefits]
    if price_line:
        scenes.append(Scene(price_line, price))
    if cta:
        scenes.append(Scene(*cta))
    return Script(
        title=title,
        scenes=tuple(scenes),
        call_to_action=cta[1] if cta else "",
        hashtags=hashtags([brand], [title], lang),
        language=lang.code,
        kind="product",
        price=price,
        was_price=was,
        end_title=brand or title,
        end_subtitle=domain,
    )


def _fit_single(fixed_options: Sequence[tuple[Scene, str]], candidates: Sequence[tuple[str, str]],
                cta: tuple[str, str] | None, need: int, target: float,
                lang: Language) -> tuple[Scene, str, list[Scene]]:
    """The richest hook, price line and benefits whose narration fits the target.

    The target itself first, then its upper bound; within each, the fuller hook and price line
    before the shorter ones, and longer sentences before shorter ones.
    """
    cta_words = spoken_words(cta[0]) if cta else 0
    for limit in (target, target * MAX_FILL):
        for hook, price_line in fixed_options:
            fixed = spoken_words(hook.narration) + spoken_words(price_line) + cta_words
            for cap in _CAPS:
                picked = _greedy(candidates, cap, limit - fixed, MAX_BENEFITS, lang)
                if len(picked) < need:
                    continue
                if len(picked) == MAX_BENEFITS:
                    # A long target with four short scenes would leave the video half empty:
                    # then each benefit scene carries a run of consecutive sentences.
                    total = fixed + sum(spoken_words(s) for s, _ in picked)
                    if total < MIN_FILL * target:
                        more = _greedy(candidates, cap, limit - fixed, len(candidates), lang)
                        return hook, price_line, _grouped(more, lang)
                return hook, price_line, [_benefit(s, h, lang) for s, h in picked]
    # Nothing fits (a target of a few seconds): the shortest of everything, even if long.
    hook, price_line = fixed_options[-1]
    picked = _greedy(candidates, _CAPS[-1], float("inf"), need, lang)
    return hook, price_line, [_benefit(s, h, lang) for s, h in picked]


def _greedy(candidates: Sequence[tuple[str, str]], cap: int, budget: float, most: int,
            lang: Language) -> list[tuple[str, str]]:
    """Candidates in order, each shortened to `cap` words, while they fit the word budget."""
    picked: list[tuple[str, str]] = []
    used = 0
    for sentence, headline in candidates:
        if len(picked) >= most:
            break
        # Our own filler lines (they come with a headline) are written to length: whole or not
        # at all, since a shortened one would say something else.
        short = sentence if headline else shorten(sentence, cap, lang)
        if short is None:
            continue
        count = spoken_words(short)
        if used + count <= budget:
            picked.append((short, headline))
            used += count
    return picked


def _benefit(sentence: str, headline: str, lang: Language) -> Scene:
    return Scene(sentence, headline or derive_headline(sentence, lang))


def _grouped(picked: Sequence[tuple[str, str]], lang: Language) -> list[Scene]:
    """Consecutive sentences in at most MAX_BENEFITS scenes, headed by their first sentence."""
    count = min(MAX_BENEFITS, len(picked))
    sizes = [len(picked) // count + (1 if i < len(picked) % count else 0) for i in range(count)]
    starts = [sum(sizes[:i]) for i in range(count)]
    groups = [picked[start:start + size] for start, size in zip(starts, sizes, strict=True)]
    return [Scene(" ".join(s for s, _ in group), group[0][1] or derive_headline(group[0][0], lang))
            for group in groups]


def _compilation(source: ProductSource, lang: Language) -> Script:
    products = source.products
    words = lang.words
    n = len(products)
    brands = {text_key(p.brand): clean_text(p.brand) for p in products}
    common_brand = next(iter(brands.values())) if len(brands) == 1 else ""
    domains = {domain_of(p.link) for p in products}
    common_domain = next(iter(domains)) if len(domains) == 1 else ""
    own_title = fit_title(source.title, MAX_TITLE_CHARS, None, lang) if has_words(
        clean_text(source.title)) else ""
    title = own_title or _default_title(products, common_brand, lang)
    hooks: list[Scene | None] = [None]
    if words is not None:
        lines = [_fill(t, lang, n=n) for t in words.compilation_hooks]
        chosen_line = lines[_digest(*(p.id for p in products)) % len(lines)]
        # The shortest hook is the fallback when many products share a short video.
        hooks = [Scene(line, title) for line in dict.fromkeys(
            [chosen_line, min(lines, key=spoken_words)])]
    elif own_title:
        hooks = [Scene(as_sentence(own_title), own_title)]
    cta = _call_to_action(source, lang, common_domain, compilation=True)

    entries: list[_Entry] = []
    offset = 0
    for k, product in enumerate(products, start=1):
        short = fit_title(product.title, SHORT_TITLE_CHARS, SHORT_TITLE_WORDS, lang)
        price, was, percent = sale_prices(product, lang.code)
        if words is None:
            price_line = price
        elif percent is not None:
            price_line = _fill(words.sale_short, lang, percent=percent, price=price)
        else:
            price_line = _fill(words.price, lang, price=price) if price else ""
        sentences = usable_sentences(product, lang)
        visuals = tuple(range(offset, offset + len(product.images)))
        offset += len(product.images)
        entries.append((k, short, price, was, price_line, sentences[:1], visuals))

    cta_words = spoken_words(cta[0]) if cta else 0
    hook, chosen = _fit_compilation(entries, hooks, cta_words, source.target_seconds * lang.rate,
                                    lang)
    scenes = ([hook] if hook else []) + chosen + ([Scene(*cta)] if cta else [])
    title_words = [title] + [entry[1] for entry in entries]
    return Script(
        title=title,
        scenes=tuple(scenes),
        call_to_action=cta[1] if cta else "",
        hashtags=hashtags([common_brand], title_words, lang),
        language=lang.code,
        kind="compilation",
        end_title=own_title or common_brand or title,
        end_subtitle=common_domain,
    )


def _default_title(products: Sequence[Product], common_brand: str, lang: Language) -> str:
    """"Top 5 picks", "Top 5 Acme picks"; the brand or first title without phrases."""
    if lang.words is None:
        return common_brand or fit_title(products[0].title, MAX_TITLE_CHARS, None, lang)
    words = lang.words
    template = words.compilation_brand_title if common_brand else words.compilation_title
    return fit_title(_fill(template, lang, n=len(products), brand=common_brand),
                     MAX_TITLE_CHARS, None, lang)


def _fit_compilation(entries: Sequence[_Entry], hooks: Sequence[Scene | None], cta_words: int,
                     target: float, lang: Language) -> tuple[Scene | None, list[Scene]]:
    """The richest hook and numbered scenes within the target's upper bound, else the leanest.

    Richest first: benefit sentences shortened step by step, then none, then no spoken price
    (the badge still shows it), then not even the spoken number (the headline has it). The
    upper bound is the limit at once: a benefit sentence per product is worth a little length,
    where dropping them all to meet the target exactly would leave a bare list of names.
    """
    levels = [(cap, True, True) for cap in _COMPILATION_CAPS] + [(0, False, True),
                                                                  (0, False, False)]
    for cap, say_price, say_number in levels:
        scenes = [_numbered(entry, cap, say_price, say_number, lang) for entry in entries]
        said = cta_words + sum(spoken_words(s.narration) for s in scenes)
        for hook in hooks:
            if said + (spoken_words(hook.narration) if hook else 0) <= target * MAX_FILL:
                return hook, scenes
    return hooks[-1], scenes


def _numbered(entry: _Entry, cap: int,
              say_price: bool, say_number: bool, lang: Language) -> Scene:
    """One product of a compilation: its number and name, a benefit, its price."""
    k, short, price, was, price_line, sentences, visuals = entry
    if lang.words is not None and say_number:
        parts = [_fill(lang.words.number, lang, k=k, title=short)]
    else:
        parts = [as_sentence(short)]
    benefit = shorten(sentences[0], cap, lang) if sentences and cap else None
    if benefit:
        parts.append(benefit)
    if say_price and price_line:
        parts.append(price_line)
    return Scene(" ".join(parts), f"{k}. {short}", price=price, was_price=was, visuals=visuals)


# --- pieces of a script -----------------------------------------------------------------------


def _language_of(source: ProductSource) -> Language:
    if source.language:
        code = base_language(source.language)
    else:
        code = detect_language("\n".join(f"{p.title}\n{p.description}" for p in source.products))
    return Language(code, PRODUCT_WORDS.get(code))


def _digest(*parts: str) -> int:
    """A stable number from the product, so the same product always gets the same phrasing."""
    return int(hashlib.sha256("\0".join(parts).encode()).hexdigest(), 16)


def _fill(template: str, lang: Language, **slots: object) -> str:
    """Fill a phrase's slots; English "the {title}" drops the title's own leading article."""
    title = slots.get("title")
    if isinstance(title, str) and lang.code == "en" and "the {title}" in template.lower():
        slots["title"] = _ENGLISH_ARTICLE.sub("", title) or title
    return template.format(**slots)


def sale_prices(product: Product, language: str) -> tuple[str, str, int | None]:
    """(what it costs now, its regular price when on sale, the saving in percent)."""
    percent = product.saving_percent
    if percent is not None and product.price is not None and product.sale_price is not None:
        return (format_price(product.sale_price, language),
                format_price(product.price, language), percent)
    sale, regular = product.sale_price, product.price
    # A sale price that saves under 1 % is still what the product costs; a "sale" above the
    # regular price is a feed's mistake, and the regular price stands.
    current = sale if sale is not None and (regular is None or sale.amount <= regular.amount) \
        else regular
    return (format_price(current, language) if current is not None else "", "", None)


def _call_to_action(source: ProductSource, lang: Language, domain: str, *,
                    compilation: bool) -> tuple[str, str] | None:
    """(narration, headline): the profile's own words when it has them, else ours."""
    own = clean_text(source.call_to_action)
    if has_words(own):
        narration = own if own.endswith(SENTENCE_ENDS) else f"{own}."
        bare = own.rstrip("".join(SENTENCE_ENDS)).strip()
        fits = len(bare.split()) <= MAX_HEADLINE_WORDS and len(bare) <= MAX_HEADLINE_CHARS
        return narration, bare if fits else (derive_headline(own, lang) or bare)
    words = lang.words
    if words is None:
        return None
    if compilation:
        if domain:
            return _fill(words.compilation_cta_shop, lang, domain=domain), \
                words.compilation_cta_headline
        return words.compilation_cta, words.compilation_cta_headline
    if domain:
        return _fill(words.cta_shop, lang, domain=domain), words.cta_shop_headline
    return words.cta, words.cta_headline


def _fillers(words: ProductWords, lang: Language, title: str, brand: str, digest: int,
             count: int) -> list[tuple[str, str]]:
    """Product-aware lines for a thin description, picked by the product's hash."""
    pool = [(t, h) for t, h in words.brand_fillers] if brand else []
    pool += list(words.fillers)
    start = digest % len(pool)
    ordered = pool[start:] + pool[:start]
    return [(_fill(t, lang, title=title, brand=brand),
             fit_title(_fill(h, lang, title=title, brand=brand), MAX_HEADLINE_CHARS,
                       MAX_HEADLINE_WORDS, lang))
            for t, h in ordered[:count]]
