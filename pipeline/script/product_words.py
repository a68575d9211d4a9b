"""Words of the offline product script, per language (en, de, fr, es).

Templates name their slots: {title} (a product's short name), {brand}, {price}, {was},
{percent}, {domain}, {n} (how many products) and {k} (a product's number). A percentage always
comes before a price in a sentence: the normaliser reads a number right after a currency sign
("15,00 €, 25 %") as more money.

German, French and Spanish templates never put an article before {title}: its gender is
unknown, and "der/die/das", "le/la", "el/la" would be wrong half the time.
"""

from __future__ import annotations

from dataclasses import dataclass

# Lines that are never a benefit, in any language a description may mix in.
JUNK_PHRASES: tuple[str, ...] = (
    "click here", "learn more", "read more", "see more", "shop now", "buy now", "add to cart",
    "hier klicken", "klicken sie hier", "mehr erfahren", "weiterlesen", "in den warenkorb",
    "cliquez ici", "en savoir plus", "lire la suite", "ajouter au panier",
    "haz clic", "haga clic", "más información", "leer más", "añadir al carrito",
)


@dataclass(frozen=True)
class ProductWords:
    """One language's phrases for product and compilation scripts."""

    rate: float  # words spoken per second by our voices, to fit the target duration
    hooks: tuple[str, ...]  # {title}
    brand_hooks: tuple[str, ...]  # {title}, {brand}: used when the title does not name the brand
    fillers: tuple[tuple[str, str], ...]  # (narration, headline) when the description is thin
    brand_fillers: tuple[tuple[str, str], ...]
    price: str  # {price}
    sale: str  # {percent}, {price}, {was}
    sale_short: str  # {percent}, {price}: when time is short, and in compilations
    cta: str
    cta_headline: str
    cta_shop: str  # {domain}
    cta_shop_headline: str
    number: str  # {k}, {title}: a compilation's numbered product
    compilation_title: str  # {n}
    compilation_brand_title: str  # {n}, {brand}
    compilation_hooks: tuple[str, ...]  # {n}
    compilation_cta: str
    compilation_cta_shop: str  # {domain}
    compilation_cta_headline: str
    hashtag: str
    # A shortened sentence or headline must not end on one of these ("… with.", "… und.").
    connectors: frozenset[str]
    # A headline stops before one of these too: it should be a noun phrase, not half a clause.
    verbs: frozenset[str]
    # Words that start a new clause: the best place to cut a long sentence short.
    clause_words: frozenset[str] = frozenset()
    # Quantifiers may start a headline ("Every pair") but never end a sentence.
    quantifiers: frozenset[str] = frozenset()
    # German capitalises nouns, so a lowercase word after one ends a headline's noun phrase.
    nouns_capitalised: bool = False


PRODUCT_WORDS: dict[str, ProductWords] = {
    "en": ProductWords(
        rate=2.6,
        hooks=("Meet the {title}.", "Looking for something new? Meet the {title}.",
               "Have you seen the {title} yet?", "This is the {title}."),
        brand_hooks=("Meet the {title} from {brand}.", "New from {brand}: the {title}.",
                     "Have you seen the {title} from {brand} yet?"),
        fillers=(("Once you try the {title}, there is no going back.", "No going back"),
                 ("The {title} makes every day a little better.", "Every day, better"),
                 ("The {title} fits right into your day.", "Made for your day")),
        brand_fillers=(("{brand} made the {title} to last.", "Made to last"),
                       ("Designed by {brand}, the {title} fits right into your day.",
                        "Designed by {brand}"),
                       ("With {brand}, quality comes standard.", "{brand} quality")),
        price="Just {price}.",
        sale="Now {percent} % off: just {price} instead of {was}.",
        sale_short="Now {percent} % off: just {price}.",
        cta="Tap the link to get yours.",
        cta_headline="Get yours",
        cta_shop="Shop now at {domain}.",
        cta_shop_headline="Shop now",
        number="Number {k}: {title}.",
        compilation_title="Top {n} picks",
        compilation_brand_title="Top {n} {brand} picks",
        compilation_hooks=("Here are {n} picks you'll love.", "{n} finds worth a look.",
                           "Looking for something new? Here are {n} favourites."),
        compilation_cta="Tap the link to shop them all.",
        compilation_cta_shop="Shop them all at {domain}.",
        compilation_cta_headline="Shop them all",
        hashtag="#shopping",
        connectors=frozenset(
            "a an the and or but nor so yet with without for to of in on at by from into onto "
            "over under than as like plus your our its their my his her this that these those "
            "which who whose while when if because is are was were be been will can also very more "
            "most even just up every each all some any no".split()),
        verbs=frozenset(
            "keeps makes lets gives helps offers features comes provides delivers has have "
            "brings adds fits works stays holds protects supports gets allows ensures "
            "combines turns keep make let give help offer feature come provide deliver bring "
            "add fit work stay hold protect support get allow ensure combine turn is are was "
            "were be been will can".split()),
        quantifiers=frozenset("every each all some any".split()),
        clause_words=frozenset(
            "when while because which that so if although though where whereas until unless "
            "and but or".split()),
    ),
    "de": ProductWords(
        rate=2.3,
        hooks=("Darf ich vorstellen: {title}.", "Schon gesehen? {title}.",
               "Neu entdeckt: {title}.", "Auf der Suche nach etwas Neuem? Hier ist {title}."),
        brand_hooks=("Neu von {brand}: {title}.", "Darf ich vorstellen: {title} von {brand}.",
                     "Schon gesehen? {title} von {brand}."),
        fillers=(("Einmal ausprobiert, willst du {title} nicht mehr hergeben.", "Nie mehr ohne"),
                 ("{title} passt perfekt in deinen Alltag.", "Perfekt für jeden Tag"),
                 ("{title} macht jeden Tag ein kleines bisschen besser.", "Jeden Tag besser")),
        brand_fillers=(("{brand} steht für Qualität, die bleibt.", "Qualität von {brand}"),
                       ("Von {brand} entwickelt, passt {title} perfekt in deinen Alltag.",
                        "Von {brand} entwickelt"),
                       ("Mit {title} holst du dir ein Stück {brand} nach Hause.",
                        "Ein Stück {brand}")),
        price="Nur {price}.",
        sale="Jetzt {percent} % günstiger: nur {price} statt {was}.",
        sale_short="Jetzt {percent} % günstiger: nur {price}.",
        cta="Tipp auf den Link und bestell gleich.",
        cta_headline="Jetzt bestellen",
        cta_shop="Jetzt bestellen auf {domain}.",
        cta_shop_headline="Jetzt bestellen",
        number="Nummer {k}: {title}.",
        compilation_title="Top {n} Favoriten",
        compilation_brand_title="Top {n} von {brand}",
        compilation_hooks=("Hier sind {n} Favoriten, die du lieben wirst.",
                           "{n} Fundstücke, die sich lohnen.",
                           "Auf der Suche nach etwas Neuem? Hier sind {n} Favoriten."),
        compilation_cta="Tipp auf den Link und entdecke alle.",
        compilation_cta_shop="Alle entdecken auf {domain}.",
        compilation_cta_headline="Alle entdecken",
        hashtag="#shopping",
        connectors=frozenset(
            "und oder aber mit ohne für zu von vom in im an am auf aus bei der die das den dem "
            "des ein eine einen einem einer eines dein deine deinen ihr ihre sein seine unser "
            "unsere sowie damit dass weil wenn als ist sind wird werden kann so auch noch sehr "
            "nach über unter durch um zum zur jede jeder jedes jeden alle".split()),
        verbs=frozenset(
            "hat haben macht sorgt bietet hält bringt passt lässt gibt schützt bleibt "
            "verbindet liefert ist sind wird werden kann halten bieten machen sorgen bringen "
            "passen lassen geben schützen bleiben liefern verbinden".split()),
        quantifiers=frozenset("jede jeder jedes jeden alle".split()),
        clause_words=frozenset(
            "wenn weil damit dass während sodass obwohl bis und aber oder denn".split()),
        nouns_capitalised=True,
    ),
    "fr": ProductWords(
        rate=2.6,
        hooks=("Découvrez {title}.", "Vous connaissez déjà {title} ?",
               "Voici {title}.", "Envie de nouveauté ? Découvrez {title}."),
        brand_hooks=("{brand} présente {title}.", "Nouveau chez {brand} : {title}.",
                     "Découvrez {title}, signé {brand}."),
        fillers=(("Avec {title}, chaque jour devient plus simple.", "Plus simple chaque jour"),
                 ("{title} s'intègre parfaitement à votre quotidien.", "Pour votre quotidien"),
                 ("Essayez {title} et vous ne pourrez plus vous en passer.",
                  "Vous allez l'adorer")),
        brand_fillers=(("{brand} a conçu {title} pour durer.", "Conçu pour durer"),
                       ("La qualité {brand}, tout simplement.", "La qualité {brand}"),
                       ("Avec {brand}, vous choisissez la qualité.", "Signé {brand}")),
        price="Seulement {price}.",
        sale="Maintenant {percent} % de réduction, à seulement {price} au lieu de {was}.",
        sale_short="Maintenant {percent} % de réduction, à seulement {price}.",
        cta="Touchez le lien pour commander.",
        cta_headline="Commandez",
        cta_shop="Commandez sur {domain}.",
        cta_shop_headline="Commandez",
        number="Numéro {k} : {title}.",
        compilation_title="Top {n} coups de cœur",
        compilation_brand_title="Top {n} {brand}",
        compilation_hooks=("Voici {n} coups de cœur à ne pas manquer.",
                           "{n} trouvailles qui valent le détour.",
                           "Envie de nouveauté ? Voici {n} coups de cœur."),
        compilation_cta="Touchez le lien pour tout découvrir.",
        compilation_cta_shop="Tout découvrir sur {domain}.",
        compilation_cta_headline="Tout découvrir",
        hashtag="#shopping",
        connectors=frozenset(
            "et ou mais avec sans pour de du des à au aux en dans sur par le la les l' un une "
            "votre vos notre nos son sa ses leur leurs qui que qu' dont d' tout très plus est "
            "sont ce cette ces comme entre chaque tous toutes".split()),
        verbs=frozenset(
            "a ont offre permet garde apporte rend fait assure protège reste offrent "
            "combine est sont offrent gardent apportent rendent font assurent protègent "
            "restent permettent combinent".split()),
        quantifiers=frozenset("chaque tous toutes".split()),
        clause_words=frozenset(
            "quand lorsque parce puisque qui que afin pendant tandis et mais ou".split()),
    ),
    "es": ProductWords(
        rate=2.7,
        hooks=("Te presentamos {title}.", "¿Ya conoces {title}?", "Descubre {title}.",
               "¿Buscas algo nuevo? Descubre {title}."),
        brand_hooks=("Te presentamos {title} de {brand}.", "Nuevo de {brand}: {title}.",
                     "¿Ya conoces {title} de {brand}?"),
        fillers=(("Con {title}, cada día es un poco mejor.", "Cada día mejor"),
                 ("{title} encaja perfectamente en tu día a día.", "Para tu día a día"),
                 ("Prueba {title} y no querrás otra cosa.", "Te va a encantar")),
        brand_fillers=(("{brand} creó {title} para durar.", "Hecho para durar"),
                       ("La calidad de {brand}, en cada detalle.", "Calidad {brand}"),
                       ("Con {brand}, eliges calidad.", "Firmado por {brand}")),
        price="Solo {price}.",
        sale="Ahora un {percent} % de descuento: solo {price}, antes {was}.",
        sale_short="Ahora un {percent} % de descuento: solo {price}.",
        cta="Toca el enlace para comprar ahora.",
        cta_headline="Compra ahora",
        cta_shop="Cómpralo en {domain}.",
        cta_shop_headline="Cómpralo ya",
        number="Número {k}: {title}.",
        compilation_title="Top {n} favoritos",
        compilation_brand_title="Top {n} de {brand}",
        compilation_hooks=("Aquí tienes {n} favoritos que te van a encantar.",
                           "{n} hallazgos que merecen la pena.",
                           "¿Buscas algo nuevo? Aquí tienes {n} favoritos."),
        compilation_cta="Toca el enlace para verlos todos.",
        compilation_cta_shop="Descúbrelos todos en {domain}.",
        compilation_cta_headline="Descúbrelos todos",
        hashtag="#compras",
        connectors=frozenset(
            "y e o u ni pero con sin para por de del a al en sobre el la los las un una unos "
            "unas tu tus su sus nuestro nuestra que quien cuando como muy más es son este esta "
            "estos estas entre hasta desde cada todo todos todas".split()),
        verbs=frozenset(
            "tiene ofrece permite mantiene hace da aporta protege combina es son tienen "
            "ofrecen permiten mantienen hacen dan aportan protegen combinan".split()),
        quantifiers=frozenset("cada todo todos todas".split()),
        clause_words=frozenset(
            "cuando porque que mientras aunque hasta y pero o".split()),
    ),
}
