"""The voice stage for a transcribed clip: when the clip speaks, its speech is the voiceover.

`run_voice` asks here first; None sends it on to synthesise the script as for any job.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pipeline.captions.transcribe import load_whisper, transcribe
from pipeline.text.language import base_language
from pipeline.types import Script
from pipeline.voice.clip_speech import extract_speech_track, heard_speech, voiceover_from_words

if TYPE_CHECKING:
    from worker.stages import JobInput, StageContext

# What voiceover.json says spoke it, in "voice" (a voice name elsewhere) and "source".
CLIP_VOICE = "clip"
# The rate espeak-ng and most Piper voices speak at: a clip voice is stored like theirs.
SAMPLE_RATE = 22050


def spoken_clip(options: dict[str, Any]) -> str | None:
    """The media key of the clip whose speech the job keeps, if the job asked to transcribe."""
    media = options.get("media") or []
    if not options.get("transcribe") or not media or media[0].get("kind") != "clip":
        return None
    return str(media[0]["key"])


def _known_language(ctx: StageContext, job: JobInput) -> str | None:
    """The language the clip is spoken in, when something other than a guess says so.

    A voice language the user chose, or the script's when the script has narration (it was
    detected from real words); otherwise None lets Whisper detect it, since the job's
    language was guessed from no text at all.
    """
    chosen = (job.options.get("voice") or {}).get("language")
    if chosen:
        return base_language(str(chosen))
    if "script" not in job.artifacts:
        return None
    script = Script.from_dict(json.loads(ctx.media.read_bytes(job.artifacts["script"])))
    return script.language if script.narration.strip() else None


def clip_voiceover(ctx: StageContext, job: JobInput) -> dict[str, str] | None:
    """voice.wav and voiceover.json from the clip's own speech; None when there is none."""
    from worker.stages import outputs_of  # worker.stages imports this module

    key = spoken_clip(job.options)
    if key is None:
        return None
    s = ctx.settings
    local_wav = ctx.scratch / "voice.wav"
    duration = extract_speech_track(ctx.media.fetch(key), local_wav, ffmpeg=s.ffmpeg_binary,
                                    ffprobe=s.ffprobe_binary, sample_rate=SAMPLE_RATE)
    if duration is None:
        return None
    ctx.on_progress(0.1)
    model = load_whisper(s.whisper_model, s.models_dir, download=s.voice_downloads)
    ctx.on_progress(0.2)
    heard = transcribe(local_wav, model=model, language=_known_language(ctx, job),
                       ffmpeg=s.ffmpeg_binary)
    if not heard_speech(heard):
        return None
    ctx.on_progress(0.9)
    voiceover = voiceover_from_words(heard, duration, SAMPLE_RATE)
    keys = outputs_of("voice", job.job_id)
    ctx.media.put_file(keys["voice_wav"], local_wav)
    local_json = ctx.scratch / "voiceover.json"
    local_json.write_text(json.dumps({**voiceover.to_dict(), "voice": CLIP_VOICE,
                                      "source": CLIP_VOICE}, ensure_ascii=False, indent=1),
                          encoding="utf-8")
    ctx.media.put_file(keys["voiceover"], local_json)
    ctx.on_progress(1.0)
    return keys
