"""The voice catalogue: installed and downloadable voices, and choosing one for a script."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.text.language import base_language
from pipeline.types import StageError

# Piper's official voice repository; `<lang>_<REGION>-<name>-<quality>` names its voices.
PIPER_URL = ("https://huggingface.co/rhasspy/piper-voices/resolve/main/{family}/{code}/{name}/"
             "{quality}/{code}-{name}-{quality}{extension}?download=true")
PIPER_NAME = re.compile(r"^(?P<family>[a-z]{2,3})_(?P<region>[A-Z]{2})-(?P<name>[^-/]+)-"
                        r"(?P<quality>x_low|low|medium|high)$")
DOWNLOAD_TIMEOUT = 60.0

# Well-known voices of the official repository, listed as downloadable even offline.
KNOWN_PIPER_VOICES: tuple[str, ...] = (
    "en_US-lessac-medium", "en_US-amy-medium", "en_US-ryan-high", "en_GB-alan-medium",
    "de_DE-thorsten-medium", "de_DE-thorsten-high", "fr_FR-siwis-medium",
    "es_ES-davefx-medium", "it_IT-paola-medium", "pt_BR-faber-medium", "ru_RU-irina-medium",
    "zh_CN-huayan-medium", "ar_JO-kareem-medium", "tr_TR-dfki-medium", "pl_PL-gosia-medium",
)
# espeak-ng's voice for each language we detect (its own names where they differ).
ESPEAK_FOR_LANGUAGE: dict[str, str] = {
    "en": "en-us", "zh": "cmn", "fr": "fr-fr", "pt": "pt-br", "nb": "nb", "vi": "vi",
}


@dataclass(frozen=True)
class VoiceInfo:
    """One voice as the catalogue lists it."""

    engine: str  # "piper" or "espeak"
    name: str
    language: str  # ISO 639-1, e.g. "en"
    quality: str | None
    installed: bool
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)


def espeak_language(name: str) -> str:
    """ISO 639-1 language of an espeak-ng voice name (`cmn` and `yue` are Chinese)."""
    base = base_language(name)
    return {"cmn": "zh", "yue": "zh", "hak": "zh"}.get(base, base)


def _piper_language(model: Path) -> str:
    match = PIPER_NAME.match(model.name.removesuffix(".onnx"))
    if match:
        return match["family"]
    try:
        config = json.loads(Path(f"{model}.json").read_text())
        code = config.get("language", {}).get("code") or config.get("espeak", {}).get("voice")
        return base_language(code or "en")
    except (OSError, ValueError):
        return "en"


def installed_piper_voices(voices_dir: Path) -> list[VoiceInfo]:
    """Every `<name>.onnx` with its `.onnx.json` in the voices directory."""
    if not voices_dir.is_dir():
        return []
    voices = []
    for model in sorted(voices_dir.glob("*.onnx")):
        if not Path(f"{model}.json").is_file():
            continue
        name = model.name.removesuffix(".onnx")
        match = PIPER_NAME.match(name)
        voices.append(VoiceInfo("piper", name, _piper_language(model),
                                match["quality"] if match else None, True, str(model)))
    return voices


def espeak_voices() -> list[VoiceInfo]:
    """espeak-ng's languages, as `espeak-ng --voices` lists them."""
    try:
        listing = subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True,
                                 timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return [VoiceInfo("espeak", v, lang, None, True)
                for lang, v in sorted({**{"en": "en-us"}, **ESPEAK_FOR_LANGUAGE}.items())]
    voices = []
    for line in listing.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 2:
            voices.append(VoiceInfo("espeak", fields[1], espeak_language(fields[1]), None, True))
    return voices


def catalogue(voices_dir: Path) -> list[VoiceInfo]:
    """Installed Piper voices, downloadable well-known Piper voices, then espeak-ng voices."""
    installed = installed_piper_voices(voices_dir)
    have = {voice.name for voice in installed}
    downloadable = [
        VoiceInfo("piper", name, PIPER_NAME.match(name)["family"],  # type: ignore[index]
                  PIPER_NAME.match(name)["quality"], False)  # type: ignore[index]
        for name in KNOWN_PIPER_VOICES if name not in have
    ]
    return installed + downloadable + espeak_voices()


def piper_urls(name: str) -> tuple[str, str]:
    """Download addresses of a voice's model and config."""
    match = PIPER_NAME.match(name)
    if not match:
        raise StageError("voice", "unknown_voice",
                         f"{name!r} is not a Piper voice name (like en_US-lessac-medium)")
    parts = {"family": match["family"], "code": f"{match['family']}_{match['region']}",
             "name": match["name"], "quality": match["quality"]}
    return (PIPER_URL.format(extension=".onnx", **parts),
            PIPER_URL.format(extension=".onnx.json", **parts))


def _download(url: str, target: Path) -> None:
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:  # noqa: S310
            with temporary.open("wb") as handle:
                shutil.copyfileobj(response, handle)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def install_piper_voice(name: str, voices_dir: Path) -> Path:
    """Download a voice from Piper's repository into the voices directory (once)."""
    model = voices_dir / f"{name}.onnx"
    if model.is_file() and Path(f"{model}.json").is_file():
        return model
    model_url, config_url = piper_urls(name)
    voices_dir.mkdir(parents=True, exist_ok=True)
    try:
        _download(config_url, Path(f"{model}.json"))
        _download(model_url, model)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise StageError(
            "voice", "voice_missing",
            f"Piper voice {name} is not in {voices_dir} and could not be downloaded "
            f"({getattr(exc, 'reason', exc)}). Install it by hand: put {model.name} from "
            f"{model_url} and {model.name}.json from {config_url} into {voices_dir}, or run "
            f"`videofactory voices install {name}` on a machine that is online",
        ) from None
    return model


@dataclass(frozen=True)
class VoiceChoice:
    """What the voice stage will use."""

    engine: str
    name: str
    language: str
    path: str | None = None


def matching_voices(language: str, voices_dir: Path) -> list[str]:
    """Names of voices that speak the language, best first."""
    lang = base_language(language)
    return [v.name for v in catalogue(voices_dir) if v.language == lang]


def choose_voice(*, language: str, engine: str = "auto", voice: str | None = None,
                 voices_dir: Path, default_piper: str | None = None,
                 default_espeak: str = "en-us") -> VoiceChoice:
    """Pick the voice for a script; a voice of another language is refused with the options.

    `voice` comes from requests and profiles, so it is a name, never a path; only the
    operator's `default_piper` setting may point at a file.
    """
    lang = base_language(language)
    if voice and engine == "espeak" and PIPER_NAME.match(voice):
        voice = None  # a profile's Piper voice, overridden by a request for espeak
    if voice:
        chosen = _named_voice(voice, engine, voices_dir)
        if chosen.language != lang:
            options = ", ".join(matching_voices(lang, voices_dir)[:12]) or "none installed"
            raise StageError(
                "voice", "voice_language_mismatch",
                f"voice {voice!r} speaks {chosen.language!r} but the script is in {lang!r}; "
                f"voices for {lang!r}: {options}",
            )
        return chosen
    if engine in ("auto", "piper"):
        if default_piper:
            default = _named_voice(default_piper, "piper", voices_dir, allow_path=True)
            if default.language == lang:
                return default
        for installed in installed_piper_voices(voices_dir):
            if installed.language == lang:
                return VoiceChoice("piper", installed.name, lang, installed.path)
        if engine == "piper":
            # Asked for Piper explicitly: a well-known voice is fetched when the stage runs.
            known = [n for n in KNOWN_PIPER_VOICES if n.startswith(f"{lang}_")]
            if known:
                return VoiceChoice("piper", known[0], lang, str(voices_dir / f"{known[0]}.onnx"))
            raise StageError("voice", "voice_missing",
                             f"no Piper voice for {lang!r} is installed in {voices_dir}; install "
                             "one with `videofactory voices install NAME` (see GET /v1/voices)")
    if lang == espeak_language(default_espeak):
        return VoiceChoice("espeak", default_espeak, lang)
    return VoiceChoice("espeak", ESPEAK_FOR_LANGUAGE.get(lang, lang), lang)


def _named_voice(voice: str, engine: str, voices_dir: Path, *,
                 allow_path: bool = False) -> VoiceChoice:
    if allow_path and (voice.endswith(".onnx") or os.sep in voice):
        path = Path(voice)
        return VoiceChoice("piper", path.name.removesuffix(".onnx"), _piper_language(path),
                           str(path))
    name = voice.removesuffix(".onnx")
    installed = voices_dir / f"{name}.onnx"
    match = PIPER_NAME.match(name)
    if match or (installed.is_file() and Path(f"{installed}.json").is_file()):
        language = match["family"] if match else _piper_language(installed)
        return VoiceChoice("piper", name, language, str(installed))
    if engine == "piper":
        raise StageError("voice", "unknown_voice",
                         f"{voice!r} is not a Piper voice (names look like en_US-lessac-medium); "
                         "see GET /v1/voices")
    return VoiceChoice("espeak", voice, espeak_language(voice))
