"""Text helpers for product scripts: sentences, junk lines, shortening, titles and headlines.

A product feed's description is split into sentences, the ones a voice should not read (links,
codes, spec rows) are dropped, and the rest are cut between words to a word count; titles are
shortened at a separator, headlines derived from a sentence's first clause. The script writer in
`pipeline.script.product` decides what to say and how long; this module only shapes the words.
Everything here is pure and deterministic: the same text always gives the same result.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from pipeline.script.product_words import JUNK_PHRASES, ProductWords
from pipeline.sources.product import Product
from pipeline.text.clean import clean_text, has_words
from pipeline.text.normalize import is_abbreviation

DEFAULT_RATE = 2.5  # words per second for languages without phrases
# A headline sits on screen over the narration: short enough to read at a glance.
MAX_HEADLINE_WORDS = 5
MAX_HEADLINE_CHARS = 32

# Marks that end a sentence, in the scripts the product phrases cover and in CJK.
SENTENCE_ENDS = (".", "!", "?", "。", "！", "？", "؟", "…")
_EDGE_PUNCTUATION = ".,;:!?…\"'“”‘’„«»‹›()[]{}-–—/*•·|"
_SOFT_END = ",;:-–—/(&+|"
_QUOTES = str.maketrans("", "", "\"“”„«»‹›")
# Japanese and Chinese end sentences without a space; one is put in so words can be counted.
_CJK_STOP = re.compile(r"([。！？])(?=\S)")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_BULLET = re.compile(r"^[\s\-–—•·*▪►>+]+")
# Links, addresses and product codes are read out badly by a voice and mean nothing aloud.
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


@dataclass(frozen=True)
class Language:
    """The language a script is written in, and what we have for it.

    It lives with the text helpers because shortening and headlines need its connectors and
    verbs to know where a phrase may end.
    """

    code: str
    words: ProductWords | None  # None: the product's own words only

    @property
    def rate(self) -> float:
        """Words per second a voice speaks in this language."""
        return self.words.rate if self.words else DEFAULT_RATE

    @property
    def connectors(self) -> frozenset[str]:
        """Words ("and", "with") a shortened sentence must not end on."""
        return self.words.connectors if self.words else frozenset()

    @property
    def breaks(self) -> frozenset[str]:
        """Connectors and verbs: where a headline's noun phrase ends."""
        return self.words.connectors | self.words.verbs if self.words else frozenset()


# --- sentences, titles and headlines ---------------------------------------------------------


def spoken_words(text: str) -> int:
    """Words as the voice stage counts them; Japanese and Chinese, about two characters each."""
    total = 0
    for token in text.split():
        if has_words(token):
            cjk = len(_CJK.findall(token))
            total += max(1, (cjk + 1) // 2) if cjk else 1
    return total


def text_key(text: str) -> str:
    """Letters and digits only, casefolded: to spot a sentence that repeats the title or brand."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _bare(word: str) -> str:
    """The word without surrounding punctuation, casefolded, to look up in the word lists."""
    return word.strip(_EDGE_PUNCTUATION).casefold()


def split_sentences(description: str, language: str) -> list[str]:
    """The description's sentences, line by line; abbreviations ("e.g.") end none."""
    sentences = []
    for line in _lines(description):
        tokens = _CJK_STOP.sub(r"\1 ", line).split()
        current: list[str] = []
        for i, token in enumerate(tokens):
            current.append(token)
            following = tokens[i + 1] if i + 1 < len(tokens) else ""
            if token.endswith(SENTENCE_ENDS) and not is_abbreviation(token, language,
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
        if lines and not lines[-1].endswith((*SENTENCE_ENDS, ":")) and line[:1].islower():
            lines[-1] = f"{lines[-1]} {line}"
        else:
            lines.append(line)
    return lines


def usable_sentences(product: Product, lang: Language) -> list[str]:
    """Sentences of the description worth saying, in order, without repeats."""
    title, brand = text_key(product.title), text_key(product.brand)
    seen: set[str] = set()
    usable = []
    for sentence in split_sentences(product.description, lang.code):
        key = text_key(sentence)
        if key in seen or not key or key == brand or key in title:
            continue
        if is_junk(sentence):
            continue
        seen.add(key)
        usable.append(sentence)
    return usable


def is_junk(sentence: str) -> bool:
    """Headings, links, codes and spec rows: lines a shopper skips and a voice should not read."""
    words = [w for w in sentence.split() if has_words(w)]
    if spoken_words(sentence) < 3 or sentence.endswith(":"):
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


def shorten(sentence: str, cap: int, lang: Language) -> str | None:
    """The sentence's first words, at most `cap`, ending cleanly; None when too little is left.

    Cuts only between words, preferring the end of a clause, and never leaves a bracket or a
    quote open or a connector ("and", "with") last.
    """
    words = sentence.split()
    if len(words) > cap:
        words = words[:_cut_at(words, cap, lang)]
    words = _trim_end(_closed(words), lang.connectors)
    text = " ".join(words)
    if spoken_words(text) < 3:
        return None
    return text if text.endswith(SENTENCE_ENDS) else f"{text}."


def _cut_at(words: Sequence[str], cap: int, lang: Language) -> int:
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


def derive_headline(sentence: str, lang: Language) -> str:
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


def as_sentence(text: str) -> str:
    """The text with a full stop, a Japanese or Chinese one after their characters."""
    if text.endswith(SENTENCE_ENDS):
        return text
    return f"{text}。" if _CJK.match(text[-1:]) else f"{text}."


def _capitalised(text: str) -> str:
    """The text with a capital first letter, unless its first word has its own capitals."""
    first = text.split()[0]
    # "iPhone" and "eBike" keep their own spelling.
    if first[:1].islower() and not any(ch.isupper() for ch in first):
        return text[0].upper() + text[1:]
    return text


def fit_title(title: str, limit: int, max_words: int | None, lang: Language) -> str:
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


# --- links and hashtags ----------------------------------------------------------------------


def domain_of(link: str) -> str:
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


def hashtags(brands: Iterable[str], titles: Iterable[str], lang: Language,
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
