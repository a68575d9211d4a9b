"""The offline product script writer: one product, or a numbered compilation, becomes a Script.

Everything said comes from the product itself (title, description sentences, price, brand,
link) or from one language's phrases in `product_words`; a language without phrases gets the
product's own words only, since one voice reads the whole script. The narration is sized to
`target_seconds` at a per-language speaking rate, and the same input always gives the same
script.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from pipeline.script.prices import format_price
from pipeline.script.product_words import JUNK_PHRASES, PRODUCT_WORDS, ProductWords
from pipeline.sources.product import Product, ProductSource
from pipeline.text.clean import clean_text, has_words
from pipeline.text.language import base_language, detect_language
from pipeline.text.normalize import is_abbreviation
from pipeline.types import Scene, Script, StageError

DEFAULT_RATE = 2.5  # words per second for languages without phrases
MAX_TITLE_CHARS = 60
SPOKEN_TITLE_CHARS, SPOKEN_TITLE_WORDS = 40, 6
SHORT_TITLE_CHARS = 28  # "10. " before it still fits a headline
SHORT_TITLE_WORDS = 4
MAX_SENTENCE_WORDS = 18
MAX_HEADLINE_WORDS = 5
MAX_HEADLINE_CHARS = 32
MIN_BENEFITS, MAX_BENEFITS = 2, 4
MIN_COMPILATION, MAX_COMPILATION = 2, 10
# The narration aims at the target and may run this far over it, never further; a long enough
# description fills at least MIN_FILL of it.
MIN_FILL, MAX_FILL = 0.6, 1.15
# Sentence lengths tried, longest first, until the benefits fit.
_CAPS = (MAX_SENTENCE_WORDS, 14, 11, 8, 6)
_COMPILATION_CAPS = (12, 9, 6, 0)

_SENTENCE_ENDS = (".", "!", "?", "。", "！", "？", "؟", "…")
_EDGE_PUNCTUATION = ".,;:!?…\"'“”‘’„«»‹›()[]{}-–—/*•·|"
_SOFT_END = ",;:-–—/(&+|"
_QUOTES = str.maketrans("", "", "\"“”„«»‹›")
# Japanese and Chinese end sentences without a space; one is put in so words can be counted.
_CJK_STOP = re.compile(r"([。！？])(?=\S)")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_BULLET = re.compile(r"^[\s\-–—•·*▪►>+]+")
_URL = re.compile(r"https?://|www\.|\b[\w-]+\.(?:com|net|org|io|co|de|fr|es|uk|eu|shop|store)\b",
                  re.IGNORECASE)
_EMAIL = re.compile(r"\S+@\S+\.\w+")
_CODE_LABEL = re.compile(r"^(?:sku|ean|upc|gtin|mpn|isbn|asin|art(?:ikel)?[.\s-]*nr|item|model|"
                         r"modell|modèle|modelo|ref|réf|référence|referencia|code|part)\b",
                         re.IGNORECASE)
_UNIT_WORDS = frozenset("x × mm cm m km g kg mg ml l cl oz lb lbs in ft w kw v mah gb tb mb "
                        "hz ghz".split())
_CLAUSE = re.compile(r"[,;:()\[\]–—、，：；。！？]|[.!?…](?=\s|$)|\s-\s")
_TITLE_SEPARATOR = re.compile(r"\s+[|–—-]\s+|,\s+|\s+\(|\s+/\s+|:\s+")
_ENGLISH_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)

# A compilation's product: number, short title, price, regular price, spoken price line,
# its first usable sentence (or none) and its visuals' indices.
_Entry = tuple[int, str, str, str, str, list[str], tuple[int, ...]]


@dataclass(frozen=True)
class _Language:
    """The language a script is written in, and what we have for it."""

    code: str
    words: ProductWords | None  # None: the product's own words only

    @property
    def rate(self) -> float:
        return self.words.rate if self.words else DEFAULT_RATE

    @property
    def connectors(self) -> frozenset[str]:
        return self.words.connectors if self.words else frozenset()

    @property
    def breaks(self) -> frozenset[str]:
        return self.words.connectors | self.words.verbs if self.words else frozenset()


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


def _single(product: Product, source: ProductSource, lang: _Language) -> Script:
    title = _fit_title(product.title, MAX_TITLE_CHARS, None, lang)
    # Said aloud, "Acme Runner 2 – Men's Trail Shoe, Black" is just "Acme Runner 2".
    spoken = _fit_title(product.title, SPOKEN_TITLE_CHARS, SPOKEN_TITLE_WORDS, lang)
    short = _fit_title(product.title, SHORT_TITLE_CHARS, SHORT_TITLE_WORDS, lang)
    brand = clean_text(product.brand)
    digest = _digest(product.id, product.title)
    domain = _domain(product.link)
    price, was, percent = _prices(product, lang.code)
    words = lang.words

    hook_visuals = (0,) if product.images else ()
    compact_hook = Scene(_as_sentence(spoken), title, visuals=hook_visuals)
    if words is None:
        hooks = [compact_hook]
        price_lines = [price] if price else []
    else:
        brand_named = not brand or _key(brand) in _key(title)
        templates = words.hooks if brand_named else words.brand_hooks
        hook = _fill(templates[digest % len(templates)], lang, title=spoken, brand=brand)
        hooks = [Scene(hook, title, visuals=hook_visuals), compact_hook]
        if percent is not None:
            price_lines = [_fill(t, lang, percent=percent, price=price, was=was)
                           for t in (words.sale, words.sale_short)]
        else:
            price_lines = [_fill(words.price, lang, price=price)] if price else []
    cta = _call_to_action(source, lang, domain, compilation=False)

    real = _usable_sentences(product, lang)
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
        hashtags=_hashtags([brand], [title], lang),
        language=lang.code,
        kind="product",
        price=price,
        was_price=was,
        end_title=brand or title,
        end_subtitle=domain,
    )


def _fit_single(fixed_options: Sequence[tuple[Scene, str]], candidates: Sequence[tuple[str, str]],
                cta: tuple[str, str] | None, need: int, target: float,
                lang: _Language) -> tuple[Scene, str, list[Scene]]:
    """The richest hook, price line and benefits whose narration fits the target.

    The target itself first, then its upper bound; within each, the fuller hook and price line
    before the shorter ones, and longer sentences before shorter ones.
    """
    cta_words = _spoken_words(cta[0]) if cta else 0
    for limit in (target, target * MAX_FILL):
        for hook, price_line in fixed_options:
            fixed = _spoken_words(hook.narration) + _spoken_words(price_line) + cta_words
            for cap in _CAPS:
                picked = _greedy(candidates, cap, limit - fixed, MAX_BENEFITS, lang)
                if len(picked) < need:
                    continue
                if len(picked) == MAX_BENEFITS:
                    # A long target with four short scenes would leave the video half empty:
                    # then each benefit scene carries a run of consecutive sentences.
                    total = fixed + sum(_spoken_words(s) for s, _ in picked)
                    if total < MIN_FILL * target:
                        more = _greedy(candidates, cap, limit - fixed, len(candidates), lang)
                        return hook, price_line, _grouped(more, lang)
                return hook, price_line, [_benefit(s, h, lang) for s, h in picked]
    # Nothing fits (a target of a few seconds): the shortest of everything, even if long.
    hook, price_line = fixed_options[-1]
    picked = _greedy(candidates, _CAPS[-1], float("inf"), need, lang)
    return hook, price_line, [_benefit(s, h, lang) for s, h in picked]


def _greedy(candidates: Sequence[tuple[str, str]], cap: int, budget: float, most: int,
            lang: _Language) -> list[tuple[str, str]]:
    """Candidates in order, each shortened to `cap` words, while they fit the word budget."""
    picked: list[tuple[str, str]] = []
    used = 0
    for sentence, headline in candidates:
        if len(picked) >= most:
            break
        # Our own filler lines (they come with a headline) are written to length: whole or not
        # at all, since a shortened one would say something else.
        short = sentence if headline else _shorten(sentence, cap, lang)
        if short is None:
            continue
        count = _spoken_words(short)
        if used + count <= budget:
            picked.append((short, headline))
            used += count
    return picked


def _benefit(sentence: str, headline: str, lang: _Language) -> Scene:
    return Scene(sentence, headline or _headline(sentence, lang))


def _grouped(picked: Sequence[tuple[str, str]], lang: _Language) -> list[Scene]:
    """Consecutive sentences in at most MAX_BENEFITS scenes, headed by their first sentence."""
    count = min(MAX_BENEFITS, len(picked))
    sizes = [len(picked) // count + (1 if i < len(picked) % count else 0) for i in range(count)]
    starts = [sum(sizes[:i]) for i in range(count)]
    groups = [picked[start:start + size] for start, size in zip(starts, sizes, strict=True)]
    return [Scene(" ".join(s for s, _ in group), group[0][1] or _headline(group[0][0], lang))
            for group in groups]


def _compilation(source: ProductSource, lang: _Language) -> Script:
    products = source.products
    words = lang.words
    n = len(products)
    brands = {_key(p.brand): clean_text(p.brand) for p in products}
    common_brand = next(iter(brands.values())) if len(brands) == 1 else ""
    domains = {_domain(p.link) for p in products}
    common_domain = next(iter(domains)) if len(domains) == 1 else ""
    own_title = _fit_title(source.title, MAX_TITLE_CHARS, None, lang) if has_words(
        clean_text(source.title)) else ""
    title = own_title or _default_title(products, common_brand, lang)
    hooks: list[Scene | None] = [None]
    if words is not None:
        lines = [_fill(t, lang, n=n) for t in words.compilation_hooks]
        chosen_line = lines[_digest(*(p.id for p in products)) % len(lines)]
        # The shortest hook is the fallback when many products share a short video.
        hooks = [Scene(line, title) for line in dict.fromkeys(
            [chosen_line, min(lines, key=_spoken_words)])]
    elif own_title:
        hooks = [Scene(_as_sentence(own_title), own_title)]
    cta = _call_to_action(source, lang, common_domain, compilation=True)

    entries: list[_Entry] = []
    offset = 0
    for k, product in enumerate(products, start=1):
        short = _fit_title(product.title, SHORT_TITLE_CHARS, SHORT_TITLE_WORDS, lang)
        price, was, percent = _prices(product, lang.code)
        if words is None:
            price_line = price
        elif percent is not None:
            price_line = _fill(words.sale_short, lang, percent=percent, price=price)
        else:
            price_line = _fill(words.price, lang, price=price) if price else ""
        sentences = _usable_sentences(product, lang)
        visuals = tuple(range(offset, offset + len(product.images)))
        offset += len(product.images)
        entries.append((k, short, price, was, price_line, sentences[:1], visuals))

    cta_words = _spoken_words(cta[0]) if cta else 0
    hook, chosen = _fit_compilation(entries, hooks, cta_words, source.target_seconds * lang.rate,
                                    lang)
    scenes = ([hook] if hook else []) + chosen + ([Scene(*cta)] if cta else [])
    title_words = [title] + [entry[1] for entry in entries]
    return Script(
        title=title,
        scenes=tuple(scenes),
        call_to_action=cta[1] if cta else "",
        hashtags=_hashtags([common_brand], title_words, lang),
        language=lang.code,
        kind="compilation",
        end_title=own_title or common_brand or title,
        end_subtitle=common_domain,
    )


def _default_title(products: Sequence[Product], common_brand: str, lang: _Language) -> str:
    """"Top 5 picks", "Top 5 Acme picks"; the brand or first title without phrases."""
    if lang.words is None:
        return common_brand or _fit_title(products[0].title, MAX_TITLE_CHARS, None, lang)
    words = lang.words
    template = words.compilation_brand_title if common_brand else words.compilation_title
    return _fit_title(_fill(template, lang, n=len(products), brand=common_brand),
                      MAX_TITLE_CHARS, None, lang)


def _fit_compilation(entries: Sequence[_Entry], hooks: Sequence[Scene | None], cta_words: int,
                     target: float, lang: _Language) -> tuple[Scene | None, list[Scene]]:
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
        said = cta_words + sum(_spoken_words(s.narration) for s in scenes)
        for hook in hooks:
            if said + (_spoken_words(hook.narration) if hook else 0) <= target * MAX_FILL:
                return hook, scenes
    return hooks[-1], scenes


def _numbered(entry: _Entry, cap: int,
              say_price: bool, say_number: bool, lang: _Language) -> Scene:
    """One product of a compilation: its number and name, a benefit, its price."""
    k, short, price, was, price_line, sentences, visuals = entry
    if lang.words is not None and say_number:
        parts = [_fill(lang.words.number, lang, k=k, title=short)]
    else:
        parts = [_as_sentence(short)]
    benefit = _shorten(sentences[0], cap, lang) if sentences and cap else None
    if benefit:
        parts.append(benefit)
    if say_price and price_line:
        parts.append(price_line)
    return Scene(" ".join(parts), f"{k}. {short}", price=price, was_price=was, visuals=visuals)


# --- pieces of a script -----------------------------------------------------------------------


def _language_of(source: ProductSource) -> _Language:
    if source.language:
        code = base_language(source.language)
    else:
        code = detect_language("\n".join(f"{p.title}\n{p.description}" for p in source.products))
    return _Language(code, PRODUCT_WORDS.get(code))


def _digest(*parts: str) -> int:
    """A stable number from the product, so the same product always gets the same phrasing."""
    return int(hashlib.sha256("\0".join(parts).encode()).hexdigest(), 16)


def _fill(template: str, lang: _Language, **slots: object) -> str:
    """Fill a phrase's slots; English "the {title}" drops the title's own leading article."""
    title = slots.get("title")
    if isinstance(title, str) and lang.code == "en" and "the {title}" in template.lower():
        slots["title"] = _ENGLISH_ARTICLE.sub("", title) or title
    return template.format(**slots)


def _prices(product: Product, language: str) -> tuple[str, str, int | None]:
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


def _domain(link: str) -> str:
    """The shop's host without "www." ("shop.example.com"); "" when the link names none."""
    link = link.strip()
    if not link:
        return ""
    try:
        host = urlsplit(link if "//" in link else f"//{link}").hostname or ""
    except ValueError:
        return ""
    host = host.rstrip(".").removeprefix("www.")
    if "." not in host or not re.fullmatch(r"[\w.-]+", host) or host.replace(".", "").isdigit():
        return ""
    return host


def _call_to_action(source: ProductSource, lang: _Language, domain: str, *,
                    compilation: bool) -> tuple[str, str] | None:
    """(narration, headline): the profile's own words when it has them, else ours."""
    own = clean_text(source.call_to_action)
    if has_words(own):
        narration = own if own.endswith(_SENTENCE_ENDS) else f"{own}."
        bare = own.rstrip("".join(_SENTENCE_ENDS)).strip()
        fits = len(bare.split()) <= MAX_HEADLINE_WORDS and len(bare) <= MAX_HEADLINE_CHARS
        return narration, bare if fits else (_headline(own, lang) or bare)
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


def _fillers(words: ProductWords, lang: _Language, title: str, brand: str, digest: int,
             count: int) -> list[tuple[str, str]]:
    """Product-aware lines for a thin description, picked by the product's hash."""
    pool = [(t, h) for t, h in words.brand_fillers] if brand else []
    pool += list(words.fillers)
    start = digest % len(pool)
    ordered = pool[start:] + pool[:start]
    return [(_fill(t, lang, title=title, brand=brand),
             _fit_title(_fill(h, lang, title=title, brand=brand), MAX_HEADLINE_CHARS,
                        MAX_HEADLINE_WORDS, lang))
            for t, h in ordered[:count]]


def _hashtags(brands: Iterable[str], titles: Iterable[str], lang: _Language,
              limit: int = 5) -> tuple[str, ...]:
    """The brand, then the titles' telling words, then the language's shopping tag."""
    tags: list[str] = []
    for brand in brands:
        tag = "".join(re.findall(r"\w+", brand.lower()))
        if tag and not tag.isdigit():
            tags.append(f"#{tag}")
    for title in titles:
        for word in re.findall(r"\w+", title.lower()):
            if len(word) > 3 and len(word) <= 20 and not word.isdigit() \
                    and word not in lang.breaks:
                tags.append(f"#{word}")
    unique = list(dict.fromkeys(tags))
    reserved = 1 if lang.words else 0
    return tuple(unique[:limit - reserved]) + ((lang.words.hashtag,) if lang.words else ())


# --- sentences, titles and headlines ---------------------------------------------------------


def _spoken_words(text: str) -> int:
    """Words as the voice stage counts them; Japanese and Chinese, about two characters each."""
    total = 0
    for token in text.split():
        if has_words(token):
            cjk = len(_CJK.findall(token))
            total += max(1, (cjk + 1) // 2) if cjk else 1
    return total


def _key(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _bare(word: str) -> str:
    return word.strip(_EDGE_PUNCTUATION).casefold()


def _sentences(description: str, language: str) -> list[str]:
    """The description's sentences, line by line; abbreviations ("e.g.") end none."""
    sentences = []
    for line in _lines(description):
        tokens = _CJK_STOP.sub(r"\1 ", line).split()
        current: list[str] = []
        for i, token in enumerate(tokens):
            current.append(token)
            following = tokens[i + 1] if i + 1 < len(tokens) else ""
            if token.endswith(_SENTENCE_ENDS) and not is_abbreviation(token, language,
                                                                      following=following):
                sentences.append(" ".join(current))
                current = []
        if current:
            sentences.append(" ".join(current))
    return sentences


def _lines(description: str) -> list[str]:
    """The description's lines, bullets gone; a line wrapped mid-sentence is joined again.

    HTML sources wrap long list items over several lines of markup, and those breaks survive
    as line breaks: a line without an end mark before one that starts in lowercase goes on.
    """
    lines: list[str] = []
    for raw in description.splitlines():
        line = clean_text(_BULLET.sub("", raw))
        if not line:
            continue
        if lines and not lines[-1].endswith((*_SENTENCE_ENDS, ":")) and line[:1].islower():
            lines[-1] = f"{lines[-1]} {line}"
        else:
            lines.append(line)
    return lines


def _usable_sentences(product: Product, lang: _Language) -> list[str]:
    """Sentences of the description worth saying, in order, without repeats."""
    title, brand = _key(product.title), _key(product.brand)
    seen: set[str] = set()
    usable = []
    for sentence in _sentences(product.description, lang.code):
        key = _key(sentence)
        if key in seen or not key or key == brand or key in title:
            continue
        if _is_junk(sentence):
            continue
        seen.add(key)
        usable.append(sentence)
    return usable


def _is_junk(sentence: str) -> bool:
    """Headings, links, codes and spec rows: lines a shopper skips and a voice should not read."""
    words = [w for w in sentence.split() if has_words(w)]
    if _spoken_words(sentence) < 3 or sentence.endswith(":"):
        return True
    lowered = sentence.casefold()
    if _URL.search(sentence) or _EMAIL.search(sentence):
        return True
    if any(phrase in lowered for phrase in JUNK_PHRASES):
        return True
    if _CODE_LABEL.match(sentence) and len(words) <= 8:
        return True
    # A spec row ("Weight: 280 g", "Colour: black") names a value; it says nothing about it.
    if len(words) <= 5 and any(w.endswith(":") for w in words[:2]):
        return True
    numeric = sum(1 for w in words if any(ch.isdigit() for ch in w) or _bare(w) in _UNIT_WORDS)
    return numeric * 2 >= len(words)


def _shorten(sentence: str, cap: int, lang: _Language) -> str | None:
    """The sentence's first words, at most `cap`, ending cleanly; None when too little is left.

    Cuts only between words, preferring the end of a clause, and never leaves a bracket or a
    quote open or a connector ("and", "with") last.
    """
    words = sentence.split()
    if len(words) > cap:
        words = words[:_cut_at(words, cap, lang)]
    words = _trim_end(_closed(words), lang.connectors)
    text = " ".join(words)
    if _spoken_words(text) < 3:
        return None
    return text if text.endswith(_SENTENCE_ENDS) else f"{text}."


def _cut_at(words: Sequence[str], cap: int, lang: _Language) -> int:
    """How many words to keep: the most, up to `cap`, that end a clause, else a phrase.

    A clause ends at a comma or dash or before "when", "weil", "quand" (in the last third of
    the cap); a phrase before any connector ("… long days | on rough ground"); a plain cut at
    `cap` ("… on rough.") is the last resort.
    """
    clauses = lang.words.clause_words if lang.words else frozenset()
    for lowest, ends in ((-(-2 * cap // 3), clauses), (cap // 2 + 1, lang.connectors)):
        for keep in range(cap, lowest - 1, -1):
            if words[keep - 1].endswith((",", ";", ":")) or words[keep] in ("-", "–", "—") \
                    or _bare(words[keep]) in ends:
                return keep
    return cap


def _closed(words: list[str]) -> list[str]:
    """Words up to an opening bracket or quote that is not closed before the end."""
    depth, opened_at = 0, None
    for i, word in enumerate(words):
        for ch in word:
            if ch in "([{“«„":
                if depth == 0:
                    opened_at = i
                depth += 1
            elif ch in ")]}”»" and depth:
                depth -= 1
    if depth and opened_at is not None:
        words = words[:opened_at]
    straight = [i for i, word in enumerate(words) if '"' in word]
    if sum(word.count('"') for word in words) % 2:
        words = words[:straight[-1]]
    return words


def _trim_end(words: list[str], connectors: frozenset[str]) -> list[str]:
    """Drop trailing connectors and dangling punctuation."""
    words = list(words)
    while words:
        last = words[-1].rstrip(_SOFT_END)
        if not has_words(last) or _bare(last) in connectors or last.casefold() in connectors \
                or last.endswith("'"):
            words.pop()
            continue
        words[-1] = last
        break
    return words


def _headline(sentence: str, lang: _Language) -> str:
    """A short noun phrase from the sentence's first clause: at most 5 words and 32 characters."""
    clause = _CLAUSE.split(sentence.translate(_QUOTES), maxsplit=1)[0]
    words = clause.split()
    breaks = lang.breaks
    verbs = lang.words.verbs if lang.words else frozenset()
    keep_leading = lang.words.quantifiers if lang.words else frozenset()
    while len(words) > 1 and _bare(words[0]) in breaks and _bare(words[0]) not in keep_leading:
        words.pop(0)
    nouns_capitalised = lang.words is not None and lang.words.nouns_capitalised
    # The sentence's own first word is capitalised whatever it is; a later one is a noun.
    noun_at = 1 if words and words[0] == clause.split()[0] else 0
    picked: list[str] = []
    for i, word in enumerate(words):
        # Verbs end the phrase from the second word on ("Every pair | is made"), connectors from
        # the third ("Made from recycled cotton" keeps its "from").
        bare = _bare(word)
        if len(picked) >= MAX_HEADLINE_WORDS or (i >= 1 and bare in verbs) or (
                i >= 2 and bare in breaks):
            break
        # German: a lowercase word after a noun starts the predicate ("Mahlwerk hält").
        if nouns_capitalised and picked and picked[-1][:1].isupper() and \
                len(picked) - 1 >= noun_at and word[:1].islower() and \
                _bare(word) not in lang.connectors:
            break
        picked.append(word)
    picked = _trim_end(picked, breaks) or picked
    while len(" ".join(picked)) > MAX_HEADLINE_CHARS and len(picked) > 1:
        picked = _trim_end(picked[:-1], breaks) or picked[:-1]
    text = " ".join(picked).strip(_EDGE_PUNCTUATION)
    if not has_words(text) or len(text) > MAX_HEADLINE_CHARS:
        return ""
    return _capitalised(text)


def _as_sentence(text: str) -> str:
    """The text with a full stop, a Japanese or Chinese one after their characters."""
    if text.endswith(_SENTENCE_ENDS):
        return text
    return f"{text}。" if _CJK.match(text[-1:]) else f"{text}."


def _capitalised(text: str) -> str:
    first = text.split()[0]
    # "iPhone" and "eBike" keep their own spelling.
    if first[:1].islower() and not any(ch.isupper() for ch in first):
        return text[0].upper() + text[1:]
    return text


def _fit_title(title: str, limit: int, max_words: int | None, lang: _Language) -> str:
    """The title cut at a separator or between words to fit; never in the middle of a word."""
    title = clean_text(title).strip(" .,;:-–—|/")
    if len(title) <= limit and (max_words is None or len(title.split()) <= max_words):
        return title
    # "Acme Runner 2 – Men's Trail Shoe, Black": the part before a separator names the product.
    cuts = [m.start() for m in _TITLE_SEPARATOR.finditer(title)]
    for cut in reversed(cuts):
        head = title[:cut].strip()
        if head and len(head) <= limit and (max_words is None or len(head.split()) <= max_words):
            return head
    words = title[:cuts[0]].split() if cuts else title.split()
    kept: list[str] = []
    for word in words:
        candidate = " ".join([*kept, word])
        if len(candidate) > limit or (max_words is not None and len(kept) >= max_words):
            break
        kept.append(word)
    kept = _trim_end(kept, lang.connectors) or kept
    if not kept:
        return words[0] if words else title  # one long word: whole, never cut
    return " ".join(kept).strip(_EDGE_PUNCTUATION)
