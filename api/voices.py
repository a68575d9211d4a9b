"""/v1/voices: which voices can speak, installed or downloadable, and a sample of each."""

from __future__ import annotations

import math
import re
from dataclasses import replace

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from api.auth import require_account
from api.context import services
from api.errors import ApiError
from api.media_response import serve_object
from pipeline.text.language import base_language
from pipeline.types import StageError
from pipeline.voice.catalogue import catalogue
from pipeline.voice.engines import VoiceOptions, build_engine, resolve_voice
from pipeline.voice.sample import speak_sample
from worker.stages import voice_defaults

bp = Blueprint("voices", __name__, url_prefix="/v1/voices")


@bp.get("")
@require_account
def list_voices() -> ResponseReturnValue:
    """Every voice (engine, name, language, quality, installed); `?language=de` filters."""
    voices = catalogue(services().settings.voices_dir)
    language = request.args.get("language")
    if language:
        voices = [v for v in voices if v.language == base_language(language)]
    return jsonify({"voices": [
        {"engine": v.engine, "name": v.name, "language": v.language, "quality": v.quality,
         "installed": v.installed} for v in voices
    ]})


VOICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")  # as jobs take it: never a path
SAMPLE_CACHE = "voice-samples"  # media folder of samples already spoken, by what they are


@bp.get("/sample")
@require_account
def voice_sample() -> ResponseReturnValue:
    """A few seconds of a voice (WAV) saying a line in `language`: `engine`, `voice` and
    `speed` as a job takes them, so that a person hears what they choose."""
    svc = services()
    args = request.args
    language = base_language(args.get("language") or "en")
    if not re.fullmatch(r"[a-z]{2,3}", language):
        raise ApiError(422, "invalid_field", "language: an ISO 639-1 code such as en or de",
                       "language")
    voice = args.get("voice") or None
    if voice is not None and not VOICE_NAME.fullmatch(voice):
        raise ApiError(422, "invalid_field", "voice: a voice's name, as GET /v1/voices lists "
                       "them (en_US-lessac-medium, en-us)", "voice")
    try:
        speed = float(args.get("speed", "1"))
    except ValueError:
        speed = 0.0
    if not (0.5 <= speed <= 2.0) or math.isnan(speed):
        raise ApiError(422, "invalid_field", "speed: a number from 0.5 to 2", "speed")
    try:
        options = VoiceOptions.from_dict({"engine": args.get("engine") or svc.settings.voice_engine,
                                          "voice": voice, "speed": speed})
        defaults = replace(voice_defaults(svc.settings), downloads=False)  # no fetch per click
        choice = resolve_voice(options, language, defaults)
        key = f"{SAMPLE_CACHE}/{choice.engine}-{choice.name}-{language}-{speed:.2f}.wav"
        if not svc.media.exists(key):
            folder = svc.media.scratch_dir("voices", "sample")
            try:
                wav = folder / "sample.wav"
                wav.write_bytes(speak_sample(build_engine(choice, options, defaults), language))
                svc.media.put_file(key, wav)
            finally:
                svc.media.discard_scratch(folder)
    except StageError as exc:
        field = "voice" if args.get("voice") else "engine"
        raise ApiError(422, exc.code, f"{field}: {exc.message}", field) from None
    return serve_object(svc.media, key, mimetype="audio/wav", download_name="sample.wav")
