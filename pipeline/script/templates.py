"""Words of the offline script template, per language."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TemplateWords:
    """One language's phrases: a lead-in, two sets of beats and the call to action."""

    lead_in: str
    beats: tuple[tuple[tuple[str, str], ...], ...]  # sets of (narration, headline)
    call_to_action: str
    call_to_action_headline: str


TEMPLATES: dict[str, TemplateWords] = {
    "en": TemplateWords(
        "Let's break it down.",
        (
            (("Most people never stop to think about it, but the details make all the "
              "difference.", "The short version"),
             ("It comes down to a few simple choices, made with care, one step at a time.",
              "What really matters"),
             ("Once you see how it works, you start to notice it everywhere you look.",
              "Why it works"),
             ("Try it for yourself this week, and judge the difference with your own eyes.",
              "Your turn")),
            (("Here is the part nobody tells you, and it is simpler than you might expect.",
              "The secret"),
             ("Small changes add up quickly, and the results speak for themselves.",
              "Small changes, big results"),
             ("The best part is that anyone can do it, with nothing more than a little "
              "patience.", "Anyone can do it"),
             ("Give it a try today, and tell us how it went in the comments.",
              "Try it today")),
        ),
        "Follow for more ideas like this.",
        "Follow for more",
    ),
    "de": TemplateWords(
        "Schauen wir uns das genauer an.",
        (
            (("Die meisten denken nie darüber nach, aber die Details machen den Unterschied.",
              "Kurz gesagt"),
             ("Es kommt auf ein paar einfache Entscheidungen an, sorgfältig, Schritt für "
              "Schritt.", "Was wirklich zählt"),
             ("Wenn du einmal siehst, wie es funktioniert, fällt es dir überall auf.",
              "Warum es funktioniert"),
             ("Probier es diese Woche selbst aus und überzeug dich mit eigenen Augen.",
              "Jetzt du")),
            (("Das verrät dir kaum jemand, und es ist einfacher, als du denkst.",
              "Das Geheimnis"),
             ("Kleine Änderungen summieren sich schnell, und das Ergebnis spricht für sich.",
              "Kleine Schritte, große Wirkung"),
             ("Das Beste daran: Jeder kann es, mit nur ein wenig Geduld.",
              "Jeder kann es"),
             ("Probier es noch heute aus und erzähl uns in den Kommentaren, wie es lief.",
              "Probier es aus")),
        ),
        "Folge uns für mehr Ideen wie diese.",
        "Folge für mehr",
    ),
    "fr": TemplateWords(
        "Voyons cela de plus près.",
        (
            (("La plupart des gens n'y pensent jamais, mais les détails font toute la "
              "différence.", "En bref"),
             ("Tout repose sur quelques choix simples, faits avec soin, étape par étape.",
              "Ce qui compte vraiment"),
             ("Une fois que vous voyez comment ça marche, vous le remarquez partout.",
              "Pourquoi ça marche"),
             ("Essayez-le vous-même cette semaine et jugez la différence de vos propres yeux.",
              "À vous de jouer")),
            (("Voici ce que personne ne vous dit, et c'est plus simple que vous ne le pensez.",
              "Le secret"),
             ("Les petits changements s'additionnent vite, et les résultats parlent d'eux-mêmes.",
              "Petits changements, grands effets"),
             ("Le meilleur, c'est que tout le monde peut le faire, avec un peu de patience.",
              "À la portée de tous"),
             ("Essayez dès aujourd'hui et racontez-nous en commentaire comment ça s'est passé.",
              "Essayez aujourd'hui")),
        ),
        "Abonnez-vous pour plus d'idées comme celle-ci.",
        "Abonnez-vous",
    ),
    "es": TemplateWords(
        "Vamos a verlo paso a paso.",
        (
            (("Casi nadie se detiene a pensarlo, pero los detalles marcan la diferencia.",
              "En resumen"),
             ("Todo se reduce a unas pocas decisiones sencillas, tomadas con cuidado, paso a "
              "paso.", "Lo que de verdad importa"),
             ("Cuando ves cómo funciona, empiezas a notarlo en todas partes.",
              "Por qué funciona"),
             ("Pruébalo tú mismo esta semana y juzga la diferencia con tus propios ojos.",
              "Tu turno")),
            (("Esto es lo que nadie te cuenta, y es más sencillo de lo que crees.",
              "El secreto"),
             ("Los pequeños cambios suman rápido, y los resultados hablan por sí solos.",
              "Pequeños cambios, grandes resultados"),
             ("Lo mejor es que cualquiera puede hacerlo, solo con un poco de paciencia.",
              "Cualquiera puede hacerlo"),
             ("Pruébalo hoy mismo y cuéntanos en los comentarios cómo te fue.",
              "Pruébalo hoy")),
        ),
        "Síguenos para más ideas como esta.",
        "Síguenos",
    ),
}
