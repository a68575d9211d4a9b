"""The choices the page's forms offer, named for people rather than for the API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pipeline.render.presets import PRESETS
from pipeline.voice.catalogue import catalogue
from store.jobs import JOB_STATUSES
from store.settings import Settings

QUALITIES = (("draft", "Draft: fast, half size"), ("standard", "Standard"),
             ("high", "High: slower, sharper"))
VISUALS = (("auto", "Automatic"), ("generated", "Generated backgrounds"),
           ("stock", "Stock footage"), ("uploads", "My uploads only"))
FEED_FORMATS = (("auto", "Detect automatically"), ("merchant_xml", "Google Merchant XML"),
                ("merchant_tsv", "Google Merchant TSV"), ("merchant_csv", "Google Merchant CSV"),
                ("shopify", "Shopify products.json"), ("woocommerce", "WooCommerce JSON"))
POSTIZ_TYPES = (("draft", "Save as draft"), ("schedule", "Schedule"), ("now", "Post now"))
BATCH_STATUSES = ("queued", "parsing", "running", "succeeded", "partial", "failed")
STATUS_LABELS = {"queued": "Queued", "running": "Running", "awaiting_review": "Awaiting review",
                 "succeeded": "Done", "failed": "Failed", "canceled": "Canceled",
                 "partial": "Partly done", "pending": "Waiting", "skipped": "Skipped",
                 "reused": "Reused", "unchanged": "Unchanged", "parsing": "Reading the feed",
                 "planned": "Planned"}
JOB_STATUS_CHOICES = tuple((status, STATUS_LABELS.get(status, status))
                           for status in JOB_STATUSES)


@dataclass(frozen=True)
class CaptionStyle:
    """A named look of the burned-in captions: what the form sends as `captions`."""

    name: str
    label: str
    captions: dict[str, Any]

    @property
    def as_json(self) -> str:
        """The captions object, for the option's data attribute."""
        return json.dumps(self.captions, separators=(",", ":"))


CAPTION_STYLES = (
    CaptionStyle("", "The brand's captions", {}),
    CaptionStyle("bold", "Bold: white, yellow highlight",
                 {"fill": "#FFFFFF", "highlight": "#FFD400", "outline": "#000000",
                  "uppercase": True}),
    CaptionStyle("clean", "Clean: white, no capitals",
                 {"fill": "#FFFFFF", "highlight": "#7FDBFF", "outline": "#111111",
                  "uppercase": False}),
    CaptionStyle("pop", "Pop: black on pink highlight",
                 {"fill": "#FFFFFF", "highlight": "#FF4FA3", "outline": "#000000",
                  "uppercase": True, "size": 96}),
)


def preset_choices() -> list[tuple[str, str]]:
    """The platform presets, by name and size."""
    return [(name, f"{name} ({preset.width}×{preset.height})")
            for name, preset in PRESETS.items()]


def voice_groups(settings: Settings) -> list[tuple[str, list[dict[str, str]]]]:
    """Every voice, grouped by engine: value `engine:name`, its language and a label."""
    groups: dict[str, list[dict[str, str]]] = {"piper": [], "espeak": []}
    for voice in catalogue(settings.voices_dir):
        note = "" if voice.installed else ", downloads on first use"
        quality = f", {voice.quality}" if voice.quality else ""
        groups.setdefault(voice.engine, []).append({
            "value": f"{voice.engine}:{voice.name}", "language": voice.language,
            "label": f"{voice.name} ({voice.language}{quality}{note})"})
    titles = {"piper": "Piper voices", "espeak": "eSpeak NG voices"}
    return [(titles.get(engine, engine), voices) for engine, voices in groups.items()
            if voices]
