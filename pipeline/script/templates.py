"""Words of the offline script template, per language: only the call to action. The
template never invents what a video claims: its scenes are the idea and the user's points."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TemplateWords:
    """One language's call to action: spoken, and as the end card's headline."""

    call_to_action: str
    call_to_action_headline: str


TEMPLATES: dict[str, TemplateWords] = {
    "en": TemplateWords("Follow for more ideas like this.", "Follow for more"),
    "de": TemplateWords("Folge uns für mehr Ideen wie diese.", "Folge für mehr"),
    "fr": TemplateWords("Abonne-toi pour plus d'idées comme celle-ci.", "Abonne-toi"),
    "es": TemplateWords("Síguenos para más ideas como esta.", "Síguenos"),
}
