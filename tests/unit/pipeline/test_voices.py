"""The voice catalogue and choosing a voice that speaks the script's language."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest

import pipeline.voice.catalogue as voices
from pipeline.types import StageError
from pipeline.voice.catalogue import catalogue, choose_voice, install_piper_voice, piper_urls
from pipeline.voice.engines import VoiceDefaults, VoiceOptions, build_engine, resolve_voice
from pipeline.voice.espeak import EspeakVoice
from pipeline.voice.piper import PiperVoiceEngine
from tests.support.tiny_piper import build_tiny_piper_voice


@pytest.fixture
def voices_dir(tmp_path: Path) -> Path:
    """A voices directory holding one installed German Piper voice (a tiny test model)."""
    folder = tmp_path / "voices"
    folder.mkdir()
    build_tiny_piper_voice(folder / "de_DE-tiny-low.onnx")
    return folder


def test_catalogue_lists_installed_downloadable_and_espeak(voices_dir: Path) -> None:
    """Installed Piper voices come first, then downloadable ones, then espeak-ng's languages."""
    listed = catalogue(voices_dir)
    first = listed[0]
    assert (first.engine, first.name, first.language, first.quality, first.installed) == (
        "piper", "de_DE-tiny-low", "de", "low", True)
    downloadable = [v for v in listed if v.engine == "piper" and not v.installed]
    assert "en_US-lessac-medium" in {v.name for v in downloadable}
    espeak = {v.name: v.language for v in listed if v.engine == "espeak"}
    assert espeak["en-us"] == "en" and espeak["cmn"] == "zh" and espeak["ar"] == "ar"


def test_installed_piper_voice_of_the_language_wins(voices_dir: Path) -> None:
    """With no voice named, an installed Piper voice of the script's language is chosen."""
    choice = choose_voice(language="de", voices_dir=voices_dir)
    assert (choice.engine, choice.name, choice.language) == ("piper", "de_DE-tiny-low", "de")
    assert choice.path == str(voices_dir / "de_DE-tiny-low.onnx")


@pytest.mark.parametrize(("language", "espeak_name"),
                         [("en", "en-us"), ("fr", "fr-fr"), ("zh", "cmn"), ("ar", "ar")])
def test_espeak_covers_every_other_language(voices_dir: Path, language: str,
                                            espeak_name: str) -> None:
    """Without a Piper voice for the language, espeak-ng's voice for it is used."""
    choice = choose_voice(language=language, voices_dir=voices_dir)
    assert (choice.engine, choice.name, choice.language) == ("espeak", espeak_name, language)


def test_voice_of_another_language_is_refused_with_the_options(voices_dir: Path) -> None:
    """Asking for a German voice for an English script names the English voices instead."""
    with pytest.raises(StageError) as caught:
        choose_voice(language="en", voice="de_DE-tiny-low", voices_dir=voices_dir)
    error = caught.value
    assert error.code == "voice_language_mismatch"
    assert "'de'" in error.message and "'en'" in error.message
    assert "en_US-lessac-medium" in error.message and "en-us" in error.message


def test_named_espeak_voice_and_piper_path(voices_dir: Path) -> None:
    """A voice is chosen by espeak name, Piper name or path to an .onnx."""
    assert choose_voice(language="fr", voice="fr-fr", voices_dir=voices_dir).engine == "espeak"
    path = str(voices_dir / "de_DE-tiny-low.onnx")
    by_path = choose_voice(language="de", voice=path, voices_dir=voices_dir)
    assert (by_path.engine, by_path.path) == ("piper", path)


def test_piper_engine_picks_a_downloadable_voice(voices_dir: Path) -> None:
    """engine=piper for a language with no installed voice picks a well-known one to fetch."""
    choice = choose_voice(language="es", engine="piper", voices_dir=voices_dir)
    assert (choice.engine, choice.name) == ("piper", "es_ES-davefx-medium")


def test_piper_engine_without_any_voice_for_the_language(voices_dir: Path) -> None:
    """engine=piper for a language Piper has no known voice for says how to install one."""
    with pytest.raises(StageError) as caught:
        choose_voice(language="ko", engine="piper", voices_dir=voices_dir)
    assert caught.value.code == "voice_missing"
    assert "videofactory voices install" in caught.value.message


def test_build_engine_sets_speed(voices_dir: Path) -> None:
    """Speed scales espeak's words per minute and Piper's length scale."""
    defaults = VoiceDefaults(voices_dir=voices_dir, speech_rate=160)
    options = VoiceOptions(speed=1.5)
    espeak = build_engine(resolve_voice(options, "en", defaults), options, defaults)
    assert isinstance(espeak, EspeakVoice) and espeak.rate_wpm == 240
    piper = build_engine(resolve_voice(options, "de", defaults), options, defaults)
    assert isinstance(piper, PiperVoiceEngine) and piper.speed == 1.5


def test_offline_install_explains_how_to_install_by_hand(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """When the download fails, the error names the voice, the folder and both file URLs."""
    def offline(url: str, timeout: float) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(voices.urllib.request, "urlopen", offline)
    with pytest.raises(StageError) as caught:
        install_piper_voice("en_US-lessac-medium", tmp_path / "v")
    message = caught.value.message
    model_url, config_url = piper_urls("en_US-lessac-medium")
    assert caught.value.code == "voice_missing"
    assert "en_US-lessac-medium" in message and str(tmp_path / "v") in message
    assert model_url in message and config_url in message
    assert not list((tmp_path / "v").glob("*"))  # nothing half-downloaded left behind


def test_missing_voice_without_downloads_is_a_clear_error(voices_dir: Path) -> None:
    """With downloads off, a Piper voice that is not installed fails before any network use."""
    defaults = VoiceDefaults(voices_dir=voices_dir, downloads=False)
    options = VoiceOptions(voice="en_US-lessac-medium")
    with pytest.raises(StageError) as caught:
        build_engine(resolve_voice(options, "en", defaults), options, defaults)
    assert caught.value.code == "voice_missing"
    assert "videofactory voices install en_US-lessac-medium" in caught.value.message


def test_piper_urls_follow_the_official_layout() -> None:
    """Voice names map onto the official repository's folder layout."""
    model, config = piper_urls("de_DE-thorsten-high")
    assert "/de/de_DE/thorsten/high/de_DE-thorsten-high.onnx" in model
    assert config.split("?")[0].endswith("de_DE-thorsten-high.onnx.json")


@pytest.mark.parametrize("bad", [{"engine": "festival"}])
def test_unknown_engine_in_options(bad: dict) -> None:
    """An engine name we do not know fails with unknown_engine."""
    with pytest.raises(StageError) as caught:
        VoiceOptions.from_dict(bad)
    assert caught.value.code == "unknown_engine"
