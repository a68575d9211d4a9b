"""The offline product script writer: a product becomes a sized, speakable, one-language script."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from pipeline.script.prices import format_price
from pipeline.script.product import ProductScriptGenerator, generate_product_script
from pipeline.sources.product import Money, Product, ProductSource, html_to_text
from pipeline.text.normalize import normalise_tokens
from pipeline.types import Scene, Script, StageError
from pipeline.voice.synthesis import speech_tokens

RATE = {"en": 2.6, "de": 2.3, "fr": 2.6, "es": 2.7}

# Six sentences a shopper reads, two of them longer than a scene may say, plus the junk a shop's
# HTML carries: a code row, a spec row, a link and a "click here".
DESCRIPTION_HTML = """
<h2>Acme Trail Runner</h2>
<p>The Acme Trail Runner is built for long days on rough and rocky ground.</p>
<ul>
  <li>Breathable mesh upper keeps your feet cool on the hottest summer runs, mile after mile,
      without rubbing or blisters or hot spots.</li>
  <li>A grippy rubber outsole holds on wet rock, loose gravel and muddy forest paths.</li>
  <li>SKU: AR-2291-BLK</li>
  <li>Weight: 280 g</li>
  <li>The cushioned midsole softens every landing, so your legs still feel fresh and light when
      you reach the finish line after a long hilly race.</li>
  <li>Click here for the size guide.</li>
  <li>See https://shop.example.com/sizes for details.</li>
  <li>Reflective details keep you visible when the sun goes down.</li>
  <li>Every pair is made from recycled materials and packed in a plastic-free box.</li>
</ul>
"""
SENTENCES = [
    "The Acme Trail Runner is built for long days on rough and rocky ground.",
    "Breathable mesh upper keeps your feet cool on the hottest summer runs, mile after mile, "
    "without rubbing or blisters or hot spots.",
    "A grippy rubber outsole holds on wet rock, loose gravel and muddy forest paths.",
    "The cushioned midsole softens every landing, so your legs still feel fresh and light when "
    "you reach the finish line after a long hilly race.",
    "Reflective details keep you visible when the sun goes down.",
    "Every pair is made from recycled materials and packed in a plastic-free box.",
]


def _usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def _eur(amount: str) -> Money:
    return Money(Decimal(amount), "EUR")


def _shoe(**changes: object) -> Product:
    fields: dict[str, object] = {
        "id": "shoe-1", "title": "Acme Trail Runner 2",
        "description": html_to_text(DESCRIPTION_HTML),
        "price": _usd("20.00"), "sale_price": _usd("15.00"), "images": ("img/a", "img/b"),
        "brand": "Acme", "link": "https://www.shop.example.com/products/trail-runner-2?ref=feed",
    }
    fields.update(changes)
    return Product(**fields)  # type: ignore[arg-type]


def _script(product: Product, **source: object) -> Script:
    return generate_product_script(ProductSource((product,), **source))  # type: ignore[arg-type]


def _words(text: str) -> list[str]:
    return [w for w in text.split() if any(ch.isalnum() for ch in w)]


def _bare(word: str) -> str:
    return word.strip(".,;:!?")


def _benefits(script: Script) -> tuple[Scene, ...]:
    """The scenes between the hook and the price and call-to-action scenes."""
    end = -2 if script.price else -1
    return script.scenes[1:end]


def test_benefits_are_the_descriptions_own_sentences_cut_between_words() -> None:
    """2–4 benefit scenes, each a prefix of one description sentence ending on a whole word."""
    script = _script(_shoe(), language="en", target_seconds=30)
    benefits = _benefits(script)
    assert 2 <= len(benefits) <= 4
    originals = [[_bare(w) for w in s.split()] for s in SENTENCES]
    for scene in benefits:
        said = [_bare(w) for w in scene.narration.split()]
        matches = [words for words in originals if words[:len(said)] == said]
        assert matches, f"not a prefix of any description sentence: {scene.narration!r}"
        assert said[-1] in matches[0]  # the last word is whole, never cut
        assert len(said) <= 18 and scene.narration.endswith(".")
        assert _bare(scene.narration.split()[-1]).lower() not in {"and", "or", "with", "the"}
    spoken = " ".join(s.narration for s in benefits)
    for junk in ("SKU", "280", "Click", "https", "size guide"):
        assert junk not in spoken


def test_long_sentences_are_shortened_at_a_phrase_boundary() -> None:
    """A 23-word sentence is cut to at most 18 words, before a connector, with a full stop."""
    product = _shoe(description=SENTENCES[3])
    scene = _benefits(_script(product, language="en", target_seconds=30))[0]
    assert scene.narration == ("The cushioned midsole softens every landing, so your legs still "
                               "feel fresh and light.")


def test_a_cut_leaves_no_dangling_comma_or_connector() -> None:
    """Cut inside a list or before "and", a sentence still ends on a content word and a stop."""
    listing = ("Our socks are soft, warm, light, breathable, durable, elastic, cosy, smooth, "
               "quiet, fresh, snug, gentle, springy, airy, plush, fine, tough, neat.")
    joined = ("Our merino socks stay warm in winter and cool in summer and dry in spring and "
              "soft in autumn and fresh all year.")
    for seconds in (15, 30):
        script = _script(_shoe(description=f"{listing}\n{joined}"), language="en",
                         target_seconds=seconds)
        for scene in _benefits(script):
            assert ",." not in scene.narration and scene.narration.endswith(".")
            last = _bare(scene.narration.split()[-1]).lower()
            assert last not in {"and", "in", "or", "with", "all"}, scene.narration
    first = _benefits(_script(_shoe(description=listing), language="en"))[0]
    assert first.narration.endswith("springy, airy, plush.")


def test_headlines_are_short_phrases_without_trailing_punctuation() -> None:
    """Every headline has at most 5 words and 32 characters and no trailing punctuation."""
    for language in ("en", "de", "fr", "es"):
        script = _script(_shoe(), language=language)
        for scene in script.scenes[1:]:
            assert scene.headline and len(scene.headline) <= 32
            assert len(scene.headline.split()) <= 5
            assert not scene.headline.endswith((".", ",", ":", ";"))
    headlines = [s.headline for s in _benefits(_script(_shoe(), language="en"))]
    assert headlines[:2] == ["Acme Trail Runner", "Breathable mesh upper"]


@pytest.mark.parametrize(("language", "phrase", "price", "was"), [
    ("en", "Now 25 % off", "$15.00", "$20.00"),
    ("de", "Jetzt 25 % günstiger", "15,00 $", "20,00 $"),
    ("fr", "Maintenant 25 % de réduction", "15,00 $", "20,00 $"),
    ("es", "Ahora un 25 % de descuento", "15,00 $", "20,00 $"),
])
def test_sale_price_scene_states_the_saving(language: str, phrase: str, price: str,
                                            was: str) -> None:
    """20.00 → 15.00 is said as 25 % off in the script's language, with both prices formatted."""
    script = _script(_shoe(), language=language)
    price_scene = script.scenes[-2]
    assert price_scene.narration.startswith(phrase)
    assert price in price_scene.narration
    assert price_scene.headline == script.price == price
    assert script.was_price == was
    assert script.language == language and script.kind == "product"


def test_the_saving_is_spoken_as_a_percentage_not_as_money() -> None:
    """In German the normaliser reads "25 %" as Prozent, and the prices as euros."""
    product = _shoe(price=_eur("20.00"), sale_price=_eur("15.00"))
    narration = _script(product, language="de").scenes[-2].narration
    spoken = normalise_tokens(speech_tokens(narration), "de")
    assert "fünfundzwanzig Prozent" in spoken
    assert "fünfzehn Euro" in spoken and "zwanzig Euro ." in spoken
    assert not any("fünfundzwanzig Euro" in s for s in spoken)


def test_regular_price_only_says_just_the_price() -> None:
    """Without a sale the price scene says "Just $20.00" and there is no struck-through price."""
    script = _script(_shoe(sale_price=None), language="en")
    assert script.scenes[-2].narration == "Just $20.00."
    assert (script.price, script.was_price) == ("$20.00", "")


def test_no_price_no_price_scene() -> None:
    """A product without a price gets no price scene and no badge."""
    script = _script(_shoe(price=None, sale_price=None), language="en")
    assert script.price == script.was_price == ""
    assert not any("$" in s.narration for s in script.scenes)
    assert len(_benefits(script)) + 2 == len(script.scenes)


def test_end_card_names_the_brand_and_the_shop_domain() -> None:
    """The end card shows the brand and the link's host without www; the hook shows image 0."""
    script = _script(_shoe(), language="en")
    assert script.end_title == "Acme"
    assert script.end_subtitle == "shop.example.com"
    assert script.scenes[-1].narration == "Shop now at shop.example.com."
    assert script.call_to_action == "Shop now"
    assert script.scenes[0].visuals == (0,)
    assert all(scene.visuals == () for scene in script.scenes[1:])
    assert _script(_shoe(images=()), language="en").scenes[0].visuals == ()


def test_without_a_link_the_default_call_to_action_and_no_subtitle() -> None:
    """No link: no domain on the end card, and the language's own call to action."""
    script = _script(_shoe(link="", brand=""), language="en")
    assert script.end_subtitle == ""
    assert script.end_title == "Acme Trail Runner 2"
    assert script.scenes[-1].narration == "Tap the link to get yours."


def test_profile_call_to_action_is_used_verbatim() -> None:
    """The profile's call to action is said as written and headlines the last scene."""
    script = _script(_shoe(), language="en", call_to_action="Use code TRAIL10 at checkout!")
    assert script.scenes[-1].narration == "Use code TRAIL10 at checkout!"
    assert script.call_to_action == script.scenes[-1].headline == "Use code TRAIL10 at checkout"


def test_brand_is_mentioned_when_the_title_does_not_name_it() -> None:
    """A brand missing from the title is said in the hook."""
    script = _script(_shoe(title="Trail Runner 2", id="x"), language="en")
    assert "Acme" in script.scenes[0].narration
    assert script.hashtags[0] == "#acme" and script.hashtags[-1] == "#shopping"
    assert len(script.hashtags) <= 5


def test_same_product_same_script_and_hooks_vary_across_products() -> None:
    """Generation is deterministic, and different products get different hook phrasings."""
    assert _script(_shoe(), language="en") == _script(_shoe(), language="en")
    hooks = {_script(_shoe(id=f"p{i}"), language="en").scenes[0].narration.split()[0]
             for i in range(12)}
    assert len(hooks) >= 2


@pytest.mark.parametrize("seconds", [15, 30, 60])
@pytest.mark.parametrize("language", ["en", "de"])
def test_narration_fits_the_target_duration(seconds: int, language: str) -> None:
    """With a long description the narration is 0.6–1.15 × the target's word count."""
    target = seconds * RATE[language]
    count = len(_words(_script(_shoe(), language=language, target_seconds=seconds).narration))
    assert 0.6 * target <= count <= 1.15 * target


def test_longer_target_says_more() -> None:
    """A 30-second script says more of the description than a 15-second one."""
    short = _script(_shoe(), language="en", target_seconds=15)
    long = _script(_shoe(), language="en", target_seconds=30)
    assert len(_words(short.narration)) < len(_words(long.narration))


def test_title_is_shortened_between_words() -> None:
    """A long feed title is cut at a separator or a word boundary to at most 60 characters."""
    title = ("Acme Trail Runner 2 – Men's Waterproof Trail Running Shoe with Vibram Sole, Black, "
             "Size 42")
    script = _script(_shoe(title=title), language="en")
    assert len(script.title) <= 60
    assert title.startswith(script.title) and title[len(script.title)] in " ,–"
    assert script.scenes[0].headline == script.title
    assert "Acme Trail Runner 2" in script.scenes[0].narration


def test_japanese_product_uses_only_its_own_words() -> None:
    """A language without phrases gets the title, its sentences and the price, nothing else."""
    description = "香り高い静岡産の緑茶です。毎日のリラックスタイムにぴったり。\nClick here"
    product = Product("tea", "静岡の緑茶セット", description, price=Money(Decimal("1500"), "JPY"),
                      images=("t",))
    script = _script(product)
    assert script.language == "ja"
    own = ["静岡の緑茶セット", "香り高い静岡産の緑茶です", "毎日のリラックスタイムにぴったり",
           "¥1,500"]
    assert [s.narration.rstrip("。.") for s in script.scenes] == own
    assert all(s.headline in own for s in script.scenes)
    assert script.call_to_action == "" and script.price == "¥1,500"
    assert "#shopping" not in script.hashtags


def test_empty_description_is_filled_with_product_aware_lines() -> None:
    """No description still gives two benefit scenes that name the product or its brand."""
    for language in ("en", "de", "fr", "es"):
        for brand in ("", "Acme"):
            script = _script(_shoe(description="", brand=brand, title="Lumen Desk Lamp"),
                             language=language)
            benefits = _benefits(script)
            assert len(benefits) >= 2
            for scene in benefits:
                assert "Lumen Desk Lamp" in scene.narration or (brand and brand in scene.narration)
                assert scene.headline and len(scene.headline) <= 32
            assert len({s.narration for s in benefits}) == len(benefits)


def test_german_product_is_detected_and_written_in_german() -> None:
    """Without a language the product's words decide it, and every phrase is German."""
    product = Product(
        "m1", "Kaffeemühle Classic",
        "Die Kaffeemühle mahlt deine Bohnen gleichmäßig und leise.\n"
        "Das Mahlwerk aus Edelstahl hält viele Jahre.\n"
        "Mit zwölf Mahlstufen findest du für jede Zubereitung die richtige Feinheit.",
        price=_eur("49.99"), sale_price=_eur("39.99"), brand="Bohnenglück")
    script = _script(product)
    assert script.language == "de"
    assert script.scenes[-2].narration == "Jetzt 20 % günstiger: nur 39,99 € statt 49,99 €."
    assert script.scenes[-1].narration == "Tipp auf den Link und bestell gleich."
    assert "Bohnenglück" in script.scenes[0].narration


def _gadgets(image_counts: tuple[int, ...]) -> tuple[Product, ...]:
    return tuple(
        Product(f"g{k}", f"Gadget {k} Pro", f"Gadget {k} makes your morning routine much easier.",
                price=_usd(f"{10 + k}.00"),
                sale_price=_usd("5.00") if k == 2 else None,
                images=tuple(f"g{k}/{i}" for i in range(count)), brand="Acme",
                link=f"https://acme.example.com/g{k}")
        for k, count in enumerate(image_counts, start=1))


def test_compilation_numbers_each_product_with_its_price_and_pictures() -> None:
    """Five products: scenes "1." to "5.", each with its own price and its images' indices."""
    products = _gadgets((2, 0, 1, 3, 2))
    script = generate_product_script(ProductSource(products, mode="compilation", language="en"))
    numbered = script.scenes[1:-1]
    assert script.kind == "compilation" and len(numbered) == 5
    assert [s.headline.split()[0] for s in numbered] == ["1.", "2.", "3.", "4.", "5."]
    assert [s.narration.split(":")[0] for s in numbered] == [f"Number {k}" for k in range(1, 6)]
    assert [s.price for s in numbered] == ["$11.00", "$5.00", "$13.00", "$14.00", "$15.00"]
    assert [s.was_price for s in numbered] == ["", "$12.00", "", "", ""]
    assert "58 % off" in numbered[1].narration
    assert [s.visuals for s in numbered] == [(0, 1), (), (2,), (3, 4, 5), (6, 7)]
    assert script.price == script.was_price == ""
    assert script.title == "Top 5 Acme picks" and script.end_title == "Acme"
    assert script.end_subtitle == "acme.example.com"
    count = len(_words(script.narration))
    assert count <= 1.15 * 30 * RATE["en"]


def test_compilation_shortens_to_fit_a_short_target() -> None:
    """Ten products in 15 seconds still fit, dropping benefit sentences first."""
    products = _gadgets((1,) * 10)
    roomy = generate_product_script(ProductSource(products, mode="compilation", language="de",
                                                  target_seconds=60))
    tight = generate_product_script(ProductSource(products, mode="compilation", language="de",
                                                  target_seconds=15))
    assert "morning" in roomy.scenes[1].narration
    assert len(_words(tight.narration)) <= 1.15 * 15 * RATE["de"]
    assert [s.headline for s in tight.scenes[1:-1]] == [f"{k}. Gadget {k} Pro"
                                                        for k in range(1, 11)]


def test_compilation_title_and_domain_only_when_shared() -> None:
    """An own title is kept; mixed shops give no subtitle, mixed brands no brand title."""
    products = _gadgets((1, 1, 1))
    mixed = (products[0], Product("o", "Other Thing", brand="Other", link="https://other.example"),
             products[2])
    script = generate_product_script(ProductSource(mixed, mode="compilation", language="en"))
    assert script.title == "Top 3 picks" and script.end_subtitle == ""
    own = generate_product_script(ProductSource(products, mode="compilation", language="fr",
                                                title="Nos 3 favoris"))
    assert own.title == own.end_title == "Nos 3 favoris"
    assert own.scenes[1].narration.startswith("Numéro 1 : Gadget 1 Pro.")


@pytest.mark.parametrize(("language", "currency", "amount", "expected"), [
    ("en", "USD", "19.99", "$19.99"), ("en", "EUR", "19.99", "€19.99"),
    ("en", "GBP", "5", "£5.00"), ("en", "CHF", "19.99", "19.99 CHF"), ("en", "", "19.99", "19.99"),
    ("en", "USD", "1299", "$1,299.00"),
    ("de", "EUR", "19.99", "19,99 €"), ("de", "USD", "19.99", "19,99 $"),
    ("de", "GBP", "5", "5,00 £"), ("de", "", "19.99", "19,99"), ("de", "EUR", "1299", "1.299,00 €"),
    ("fr", "EUR", "19.99", "19,99 €"), ("fr", "USD", "19.99", "19,99 $"),
    ("fr", "GBP", "5", "5,00 £"), ("fr", "", "19.99", "19,99"), ("fr", "EUR", "1299", "1299,00 €"),
    ("es", "EUR", "19.99", "19,99 €"), ("es", "USD", "19.99", "19,99 $"),
    ("es", "GBP", "5", "5,00 £"), ("es", "", "19.99", "19,99"),
    ("en-GB", "GBP", "5", "£5.00"), ("ja", "JPY", "1500", "¥1,500"),
])
def test_format_price(language: str, currency: str, amount: str, expected: str) -> None:
    """Prices are written the way each language writes them, with plain spaces."""
    assert format_price(Money(Decimal(amount), currency), language) == expected


def test_script_round_trips_through_json() -> None:
    """to_dict/from_dict keeps kind, prices, end card and per-scene badges and visuals."""
    single = _script(_shoe(), language="en")
    compilation = generate_product_script(ProductSource(_gadgets((2, 0, 1)), mode="compilation",
                                                        language="en"))
    for script in (single, compilation):
        again = Script.from_dict(json.loads(json.dumps(script.to_dict())))
        assert again == script
    assert single.price and single.was_price and single.end_subtitle
    assert any(s.visuals for s in compilation.scenes) and any(s.was_price for s in
                                                              compilation.scenes)


@pytest.mark.parametrize(("mode", "count", "field"), [
    ("single", 2, "products"), ("single", 0, "products"), ("compilation", 1, "products"),
    ("compilation", 11, "products"), ("carousel", 1, "mode"),
])
def test_bad_sources_are_refused_naming_the_field(mode: str, count: int, field: str) -> None:
    """A source the writer cannot use raises a script-stage error that names the field."""
    source = ProductSource(_gadgets((0,) * count), mode=mode, language="en")
    with pytest.raises(StageError) as error:
        ProductScriptGenerator().generate(source)
    assert error.value.stage == "script" and error.value.code == "invalid_product_source"
    assert error.value.message.startswith(f"{field}:")


def test_generator_plugs_in_like_the_others() -> None:
    """The generator has a name, is always available and is exported by the stage."""
    import pipeline.script as stage

    generator = stage.ProductScriptGenerator()
    assert generator.name == "product_template" and generator.available()
    assert stage.generate_product_script is generate_product_script


def test_every_scene_is_speakable() -> None:
    """No scene is empty and every narration ends a sentence, in every language and mode."""
    for language in ("en", "de", "fr", "es"):
        for script in (_script(_shoe(), language=language),
                       generate_product_script(ProductSource(_gadgets((1, 1)),
                                                             mode="compilation",
                                                             language=language))):
            for scene in script.scenes:
                assert re.search(r"\w", scene.narration) and scene.headline
                assert scene.narration.endswith((".", "!", "?"))
