"""The new-video form offers what the API takes, with the chosen brand's defaults; the
pages name videos and times as people read them."""

from __future__ import annotations

import html
import json
import re

from flask.testing import FlaskClient

from api.schemas import CaptionOptionsIn, JobCreate
from api.web.options import CAPTION_STYLES
from api.web.pages import elapsed, job_title, when
from pipeline.render.presets import PRESETS
from tests.unit.web.conftest import csrf_of


def _option_values(page: str, select_id: str) -> list[str]:
    block = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', page, re.S)
    assert block is not None, select_id
    return re.findall(r'<option value="([^"]*)"', block.group(1))


def test_the_form_offers_every_preset_quality_visual_and_a_voice(browser: FlaskClient) -> None:
    """Each choice is one the API accepts ("" leaves it to the brand)."""
    page = browser.get("/").get_data(as_text=True)
    assert _option_values(page, "opt-preset") == ["", *PRESETS]
    assert _option_values(page, "opt-quality") == ["", "draft", "standard", "high"]
    assert _option_values(page, "opt-visuals") == ["", "auto", "generated", "stock", "uploads"]
    voices = _option_values(page, "opt-voice")
    assert voices[0] == "" and "espeak:en-us" in voices
    for tab in ("idea", "script", "product", "clip", "feed"):
        assert f'id="panel-{tab}"' in page


def test_caption_styles_are_valid_caption_options() -> None:
    """Every named caption style is a body the API's captions field validates."""
    for style in CAPTION_STYLES:
        CaptionOptionsIn.model_validate(json.loads(html.unescape(style.as_json)))
        JobCreate.model_validate({"source": {"type": "idea", "idea": "x"},
                                  "captions": style.captions})


def test_the_review_box_follows_the_brand(browser: FlaskClient) -> None:
    """A brand that reviews its scripts starts the form with review ticked."""
    page = browser.get("/").get_data(as_text=True)
    assert not re.search(r'id="opt-review"[^>]*\schecked', page)
    csrf = csrf_of(page)
    profile = browser.get("/v1/profiles").get_json()["profiles"][0]["id"]
    changed = browser.patch(f"/v1/profiles/{profile}", json={"review": True},
                            headers={"X-CSRF-Token": csrf})
    assert changed.status_code == 200
    assert re.search(r'id="opt-review"[^>]*\schecked', browser.get("/").get_data(as_text=True))


def test_videos_are_named_by_what_they_are_made_from() -> None:
    """A job's title is its idea, script title, first narration, product or clip's product."""
    assert job_title({"type": "idea", "idea": "Why  kites\nfly"}) == "Why kites fly"
    assert job_title({"type": "script", "title": "", "scenes": [{"narration": "Hi."}]}) == "Hi."
    assert job_title({"type": "product", "title": "Blue Mug"}) == "Blue Mug"
    assert job_title({"type": "clip", "product": {"title": "Lamp"}}) == "Lamp"
    assert job_title({"type": "clip"}) == "Clip"
    assert job_title({"type": "idea", "idea": "x" * 200}).endswith("…")


def test_times_read_as_people_read_them() -> None:
    """API times show as UTC minutes; a stage's time is its run's length."""
    assert when("2026-12-01T09:30:12.5Z") == "2026-12-01 09:30 UTC"
    assert when(None) == "—"
    assert elapsed({"started_at": "2026-12-01T09:30:00Z",
                    "finished_at": "2026-12-01T09:30:04.25Z"}) == "4.2 s"
    assert elapsed({"started_at": None}) == "—"
