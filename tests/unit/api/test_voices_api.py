"""GET /v1/voices: espeak-ng voices, downloadable and installed Piper voices, by language."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from store.services import Services
from tests.support.tiny_piper import build_tiny_piper_voice
from tests.unit.api.conftest import Api


def _voices(api: Api, query: str = "") -> list[dict[str, Any]]:
    response = api.get(f"/v1/voices{query}")
    assert response.status_code == 200, response.json
    return list(response.json["voices"])


def _by_name(voices: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in voices}


@pytest.fixture
def tiny_german_voice(services: Services) -> Path:
    """An installed German Piper voice (`de_DE-tiny-low`) in the settings' voices directory."""
    voices_dir = services.settings.voices_dir
    voices_dir.mkdir(parents=True, exist_ok=True)
    return build_tiny_piper_voice(voices_dir / "de_DE-tiny-low.onnx")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer vf_notakey"}],
                         ids=["no-key", "unknown-key"])
def test_voices_need_an_api_key(client: FlaskClient, headers: dict[str, str]) -> None:
    """Without a valid API key the voice list is 401 unauthorized."""
    response = client.get("/v1/voices", headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_every_voice_has_the_documented_fields(api: Api) -> None:
    """Each voice is an object with exactly engine, name, language, quality and installed."""
    voices = _voices(api)
    assert voices
    for voice in voices:
        assert set(voice) == {"engine", "name", "language", "quality", "installed"}
        assert voice["engine"] in {"piper", "espeak"}
        assert isinstance(voice["installed"], bool)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_espeak_voices_are_listed_as_installed(api: Api) -> None:
    """espeak-ng's en-us is listed with language en, no quality, installed."""
    voices = _by_name(_voices(api))
    assert voices["en-us"] == {"engine": "espeak", "name": "en-us", "language": "en",
                               "quality": None, "installed": True}
    assert voices["fr-fr"]["language"] == "fr"
    assert voices["de"]["language"] == "de"


def test_well_known_piper_voices_are_downloadable(api: Api) -> None:
    """A well-known Piper voice not in VOICES_DIR is listed as not installed, with its quality."""
    voices = _by_name(_voices(api))
    assert voices["en_US-lessac-medium"] == {"engine": "piper", "name": "en_US-lessac-medium",
                                             "language": "en", "quality": "medium",
                                             "installed": False}
    assert voices["de_DE-thorsten-high"]["quality"] == "high"
    assert voices["de_DE-thorsten-high"]["language"] == "de"


def test_installed_piper_voice_is_listed_first(api: Api, tiny_german_voice: Path) -> None:
    """A Piper voice in VOICES_DIR is listed first, installed, with language from its name."""
    voices = _voices(api)
    assert voices[0] == {"engine": "piper", "name": "de_DE-tiny-low", "language": "de",
                         "quality": "low", "installed": True}


def test_installed_well_known_voice_is_listed_once(api: Api, services: Services) -> None:
    """A well-known voice that is installed appears once, as installed, not also as downloadable."""
    voices_dir = services.settings.voices_dir
    voices_dir.mkdir(parents=True)
    build_tiny_piper_voice(voices_dir / "de_DE-thorsten-medium.onnx")
    matches = [v for v in _voices(api) if v["name"] == "de_DE-thorsten-medium"]
    assert matches == [{"engine": "piper", "name": "de_DE-thorsten-medium", "language": "de",
                        "quality": "medium", "installed": True}]


def test_model_without_config_is_not_installed(api: Api, tiny_german_voice: Path) -> None:
    """An .onnx whose .onnx.json is missing is not listed as an installed voice."""
    Path(f"{tiny_german_voice}.json").unlink()
    assert "de_DE-tiny-low" not in _by_name(_voices(api))


@pytest.mark.parametrize("language", ["de", "DE", "de_DE", "de-de"])
def test_language_filter_keeps_only_that_language(api: Api, tiny_german_voice: Path,
                                                  language: str) -> None:
    """?language= keeps only German voices (installed, downloadable, espeak), in any spelling."""
    voices = _voices(api, f"?language={language}")
    assert {v["language"] for v in voices} == {"de"}
    names = {v["name"] for v in voices}
    assert {"de_DE-tiny-low", "de_DE-thorsten-medium", "de_DE-thorsten-high"} <= names
    if shutil.which("espeak-ng"):
        assert "de" in names
    assert "en_US-lessac-medium" not in names


def test_language_without_voices_is_an_empty_list(api: Api) -> None:
    """A language no engine speaks gives 200 with an empty list."""
    assert _voices(api, "?language=xx") == []
