"""/v1/voices: which voices can speak, installed or downloadable."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from api.auth import require_account
from api.context import services
from pipeline.text.language import base_language
from pipeline.voice.catalogue import catalogue

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
