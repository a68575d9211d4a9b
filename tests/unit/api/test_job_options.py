"""POST /v1/jobs voice and caption options: validation, language detection, stored options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from pipeline.voice.engines import VoiceOptions
from store.models import Job, Project
from store.services import Services
from tests.support.tiny_piper import build_tiny_piper_voice
from tests.unit.api.conftest import Api, RecordingDispatcher
from worker.stages import job_voice_options, resolve_voice, voice_defaults

IDEA = "Why cold brew tastes smoother"
GERMAN_IDEA = "Warum kalter Kaffee milder schmeckt"
FRENCH_IDEA = "Pourquoi le café froid est plus doux"


def _body(idea: str = IDEA, **extra: Any) -> dict[str, Any]:
    return {"source": {"type": "idea", "idea": idea}, "preset": "tiktok", **extra}


def _options(services: Services, job_id: str) -> dict[str, Any]:
    """The `options` column of a stored job."""
    with services.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return dict(job.options)


def _count(services: Services, model: type) -> int:
    with services.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _accepted(api: Api, body: dict[str, Any]) -> str:
    response = api.create_job(body)
    assert response.status_code == 202, response.json
    return str(response.json["id"])


@pytest.fixture
def tiny_german_voice(services: Services) -> Path:
    """An installed German Piper voice (`de_DE-tiny-low`) in the settings' voices directory."""
    voices_dir = services.settings.voices_dir
    voices_dir.mkdir(parents=True, exist_ok=True)
    return build_tiny_piper_voice(voices_dir / "de_DE-tiny-low.onnx")


# --- language ----------------------------------------------------------------------------

def test_job_without_options_stores_detected_english(api: Api, services: Services) -> None:
    """A plain English idea is stored with language "en" and empty voice and caption options."""
    job_id = _accepted(api, _body())
    assert _options(services, job_id) == {"language": "en", "voice": {}, "captions": {},
                                          "review": False, "script": {}, "visuals": "auto"}


def test_german_idea_is_detected_as_german(api: Api, services: Services) -> None:
    """A German idea is stored with language "de" without the client saying so."""
    job_id = _accepted(api, _body(GERMAN_IDEA))
    assert _options(services, job_id)["language"] == "de"


def test_explicit_language_wins_over_detection(api: Api, services: Services) -> None:
    """voice.language overrides what the idea's text looks like."""
    job_id = _accepted(api, _body(IDEA, voice={"language": "de"}))
    options = _options(services, job_id)
    assert options["language"] == "de"
    assert options["voice"] == {"language": "de"}


# --- stored options ----------------------------------------------------------------------

def test_voice_and_caption_options_are_stored(api: Api, services: Services) -> None:
    """Every voice and caption option sent is stored on the job exactly, unset ones left out."""
    voice = {"engine": "piper", "voice": "en_US-lessac-medium", "speed": 1.25,
             "sentence_pause": 0.4}
    captions = {"font": "Noto Sans", "size": 90, "fill": "#FFFFFF", "highlight": "#ffe500",
                "outline": "000000", "uppercase": True, "position": 0.7, "timing": "whisper"}
    job_id = _accepted(api, _body(voice=voice, captions=captions))
    assert _options(services, job_id) == {"language": "en", "voice": voice,
                                          "captions": captions, "review": False,
                                          "script": {}, "visuals": "auto"}


def test_stored_voice_options_are_what_the_worker_reads(api: Api, services: Services) -> None:
    """The voice stage's reader turns the stored options back into the requested VoiceOptions."""
    job_id = _accepted(api, _body(voice={"engine": "espeak", "voice": "en-gb", "speed": 0.8,
                                         "sentence_pause": 0.0}))
    options = job_voice_options(services.settings, _options(services, job_id))
    assert options == VoiceOptions(engine="espeak", voice="en-gb", speed=0.8,
                                   sentence_pause=0.0)


def test_caption_timing_voice_is_stored(api: Api, services: Services) -> None:
    """captions.timing "voice" is accepted and stored beside the other caption options."""
    job_id = _accepted(api, _body(captions={"timing": "voice", "size": 24}))
    assert _options(services, job_id)["captions"] == {"timing": "voice", "size": 24}


# --- bad options -------------------------------------------------------------------------

BAD_OPTIONS = [
    # (extra body fields, error.code, error.field)
    pytest.param({"voice": {"speed": 0.49}}, "invalid_field", "voice.speed", id="speed-too-slow"),
    pytest.param({"voice": {"speed": 2.01}}, "invalid_field", "voice.speed", id="speed-too-fast"),
    pytest.param({"voice": {"speed": "fast"}}, "invalid_field", "voice.speed", id="speed-word"),
    pytest.param({"voice": {"sentence_pause": -0.1}}, "invalid_field", "voice.sentence_pause",
                 id="pause-negative"),
    pytest.param({"voice": {"sentence_pause": 2.5}}, "invalid_field", "voice.sentence_pause",
                 id="pause-too-long"),
    pytest.param({"voice": {"engine": "festival"}}, "invalid_field", "voice.engine",
                 id="unknown-engine"),
    pytest.param({"voice": {"voice": "../x.onnx"}}, "invalid_field", "voice.voice",
                 id="voice-relative-path"),
    pytest.param({"voice": {"voice": "/etc/passwd"}}, "invalid_field", "voice.voice",
                 id="voice-absolute-path"),
    pytest.param({"voice": {"voice": "voices/de_DE-thorsten-medium"}}, "invalid_field",
                 "voice.voice", id="voice-with-slash"),
    pytest.param({"voice": {"voice": ""}}, "invalid_field", "voice.voice", id="voice-empty"),
    pytest.param({"voice": {"language": "english"}}, "invalid_field", "voice.language",
                 id="language-word"),
    pytest.param({"voice": {"language": "EN"}}, "invalid_field", "voice.language",
                 id="language-upper"),
    pytest.param({"voice": {"pitch": 3}}, "unknown_field", "voice.pitch",
                 id="unknown-voice-key"),
    pytest.param({"voice": "de_DE-thorsten-medium"}, "invalid_type", "voice",
                 id="voice-not-object"),
    pytest.param({"captions": {"fill": "white"}}, "invalid_field", "captions.fill",
                 id="fill-name"),
    pytest.param({"captions": {"highlight": "#FFF"}}, "invalid_field", "captions.highlight",
                 id="highlight-short-hex"),
    pytest.param({"captions": {"outline": "#GG0000"}}, "invalid_field", "captions.outline",
                 id="outline-not-hex"),
    pytest.param({"captions": {"size": 23}}, "invalid_field", "captions.size", id="size-small"),
    pytest.param({"captions": {"size": 201}}, "invalid_field", "captions.size", id="size-big"),
    pytest.param({"captions": {"position": 1.5}}, "invalid_field", "captions.position",
                 id="position-below-frame"),
    pytest.param({"captions": {"font": ""}}, "invalid_field", "captions.font", id="font-empty"),
    pytest.param({"captions": {"timing": "manual"}}, "invalid_field", "captions.timing",
                 id="timing-unknown"),
    pytest.param({"captions": {"color": "#FFFFFF"}}, "unknown_field", "captions.color",
                 id="unknown-caption-key"),
]


@pytest.mark.parametrize(("extra", "code", "field"), BAD_OPTIONS)
def test_bad_options_are_rejected(api: Api, services: Services, dispatcher: RecordingDispatcher,
                                  extra: dict[str, Any], code: str, field: str) -> None:
    """A bad voice or caption option answers 422 naming the field; nothing is written or queued."""
    response = api.create_job(_body(**extra))
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert error["code"] == code
    assert error["field"] == field
    assert field in error["message"]
    assert _count(services, Job) == 0
    assert dispatcher.dispatched == []


@pytest.mark.parametrize("raw", [b'{"source": {"type": "idea", "idea": "Why cold brew tastes '
                                 b'smoother"}, "voice": {"speed": NaN}}',
                                 b'{"source": {"type": "idea", "idea": "Why cold brew tastes '
                                 b'smoother"}, "voice": {"speed": Infinity}}'],
                         ids=["nan", "infinity"])
def test_non_finite_speed_is_rejected(api: Api, services: Services, raw: bytes) -> None:
    """The JSON extensions NaN and Infinity are not a speed: 422 on voice.speed, no job."""
    response = api.client.post("/v1/jobs", data=raw, headers=api.headers,
                               content_type="application/json")
    assert response.status_code == 422, response.json
    assert response.json["error"]["field"] == "voice.speed"
    assert _count(services, Job) == 0


# --- the voice must speak the language ----------------------------------------------------

def test_german_voice_for_english_idea_is_refused(api: Api, services: Services,
                                                  dispatcher: RecordingDispatcher) -> None:
    """A German voice for an English idea is 422 voice_language_mismatch listing English voices."""
    response = api.create_job(_body(voice={"voice": "de_DE-thorsten-medium"}))
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert error["code"] == "voice_language_mismatch"
    assert error["field"] == "voice.voice"
    assert error["message"].startswith("voice.voice: ")
    assert "de_DE-thorsten-medium" in error["message"]
    voices = error["message"].split("voices for 'en': ", 1)[1].split(", ")
    assert "en_US-lessac-medium" in voices
    assert "en-us" in voices
    assert all(v.lower().startswith("en") for v in voices)
    assert _count(services, Job) == 0
    assert _count(services, Project) == 0
    assert dispatcher.dispatched == []


def test_espeak_voice_of_another_language_is_refused(api: Api, services: Services) -> None:
    """The espeak voice fr-fr for an English idea is 422 voice_language_mismatch too."""
    response = api.create_job(_body(voice={"voice": "fr-fr"}))
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "voice_language_mismatch"
    assert response.json["error"]["field"] == "voice.voice"
    assert _count(services, Job) == 0


def test_espeak_voice_of_the_ideas_language_is_accepted(api: Api, services: Services) -> None:
    """The espeak voice fr-fr for a French idea is accepted, with language "fr" stored."""
    job_id = _accepted(api, _body(FRENCH_IDEA, voice={"voice": "fr-fr"}))
    options = _options(services, job_id)
    assert options["language"] == "fr"
    assert options["voice"] == {"voice": "fr-fr"}


def test_downloadable_piper_voice_of_the_ideas_language_is_accepted(api: Api,
                                                                    services: Services) -> None:
    """A well-known German Piper voice (not installed) is accepted for a German idea."""
    job_id = _accepted(api, _body(GERMAN_IDEA, voice={"voice": "de_DE-thorsten-medium"}))
    assert _options(services, job_id)["voice"] == {"voice": "de_DE-thorsten-medium"}


def test_installed_voice_must_match_too(api: Api, services: Services,
                                        tiny_german_voice: Path) -> None:
    """An installed German voice is accepted for a German idea and refused for an English one."""
    _accepted(api, _body(GERMAN_IDEA, voice={"voice": "de_DE-tiny-low"}))
    refused = api.create_job(_body(IDEA, voice={"voice": "de_DE-tiny-low"}))
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "voice_language_mismatch"


def test_mismatch_lists_installed_voices_first(api: Api, tiny_german_voice: Path) -> None:
    """An English voice for a German idea is refused, naming the installed German voice first."""
    response = api.create_job(_body(GERMAN_IDEA, voice={"voice": "en-us"}))
    assert response.status_code == 422, response.json
    voices = response.json["error"]["message"].split("voices for 'de': ", 1)[1].split(", ")
    assert voices[0] == "de_DE-tiny-low"
    assert "de_DE-thorsten-medium" in voices


def test_explicit_language_is_checked_against_the_voice(api: Api) -> None:
    """voice.language "de" with the English voice en-us is a mismatch even for an English idea."""
    response = api.create_job(_body(IDEA, voice={"voice": "en-us", "language": "de"}))
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "voice_language_mismatch"


def test_piper_engine_without_a_voice_for_the_language(api: Api, services: Services) -> None:
    """engine piper for a language no Piper voice speaks is 422 voice_missing on voice.engine."""
    response = api.create_job(_body(voice={"engine": "piper", "language": "ko"}))
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert error["code"] == "voice_missing"
    assert error["field"] == "voice.engine"
    assert "videofactory voices install" in error["message"]
    assert _count(services, Job) == 0


def test_onnx_suffixed_name_never_resolves_outside_voices_dir(api: Api,
                                                              services: Services) -> None:
    """A voice name ending in .onnx is either refused or resolved inside VOICES_DIR."""
    response = api.create_job(_body(voice={"voice": "en_US-lessac-medium.onnx"}))
    if response.status_code == 422:
        assert response.json["error"]["field"] == "voice.voice"
        return
    assert response.status_code == 202, response.json
    settings = services.settings
    options = _options(services, response.json["id"])
    choice = resolve_voice(job_voice_options(settings, options), options["language"],
                           voice_defaults(settings))
    assert choice.path is not None
    assert Path(choice.path).resolve().parent == settings.voices_dir.resolve()


@pytest.mark.parametrize(("idea", "voice"), [(FRENCH_IDEA, "fr-fr"), (IDEA, "no-such-voice")],
                         ids=["espeak-name-french", "unknown-name-english"])
def test_piper_engine_with_a_non_piper_name_is_refused_as_unknown(api: Api, idea: str,
                                                                   voice: str) -> None:
    """engine piper with a name no Piper voice has is 422 on voice.voice, not a language claim."""
    response = api.create_job(_body(idea, voice={"engine": "piper", "voice": voice}))
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert error["field"] == "voice.voice"
    assert error["code"] != "voice_language_mismatch"
    assert "speaks 'en'" not in error["message"]
