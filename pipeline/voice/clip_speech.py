"""A clip that speaks for itself: its own sound becomes the voiceover, Whisper's words its words.

The words come from `pipeline.captions.transcribe.transcribe`, which already returns every
word Whisper heard with its times on the audio; this module only takes the clip's sound out
and shapes the voice stage's result around those words.
"""

from __future__ import annotations

import os
import wave
from collections.abc import Sequence
from pathlib import Path

from pipeline.tools import probe, run
from pipeline.types import SceneTiming, Voiceover, WordTiming

ENGINE = "clip"
# Clips are at most 10 minutes long (the upload check); decoding one takes seconds, so this
# only stops an ffmpeg that hangs.
EXTRACT_TIMEOUT = 600.0
# Fewer heard words than this is noise, a cough or music, not speech worth keeping.
MIN_SPOKEN_WORDS = 2


def extract_speech_track(clip: Path, out_wav: Path, *, ffmpeg: str = "ffmpeg",
                         ffprobe: str = "ffprobe", sample_rate: int = 22050) -> float | None:
    """Write the clip's first audio stream to `out_wav` as mono 16-bit PCM; return its seconds.

    None, and no file, when the clip has no audio stream or the stream holds no samples.
    """
    if probe(clip, ffprobe=ffprobe).audio_codec is None:
        return None
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    # Written under another name and renamed: a killed extraction never looks finished.
    partial = out_wav.with_name(f".{out_wav.name}.partial")
    try:
        run([ffmpeg, "-nostdin", "-v", "error", "-i", str(clip), "-map", "0:a:0", "-vn",
             "-sn", "-dn", "-ac", "1", "-ar", str(sample_rate), "-c:a", "pcm_s16le",
             "-f", "wav", "-y", str(partial)], timeout=EXTRACT_TIMEOUT)
        with wave.open(str(partial), "rb") as wav:
            frames, rate = wav.getnframes(), wav.getframerate()
        if frames == 0:
            return None
        os.replace(partial, out_wav)
    finally:
        partial.unlink(missing_ok=True)
    return frames / rate


def heard_speech(words: Sequence[WordTiming]) -> bool:
    """Whether Whisper heard speech: at least two words with letters in them."""
    return sum(1 for w in words if any(ch.isalpha() for ch in w.text)) >= MIN_SPOKEN_WORDS


def voiceover_from_words(words: Sequence[WordTiming], duration: float,
                         sample_rate: int) -> Voiceover:
    """The voice stage's result for a clip's own speech: the heard words, one scene.

    One scene because the script's scenes were never spoken here; the render then shows the
    clip under the whole voiceover. Times are kept inside the audio, since Whisper's last
    word can end a few hundredths of a second past it.
    """
    kept = []
    for word in words:
        start = min(max(0.0, word.start), duration)
        kept.append(WordTiming(word.text, start, min(max(word.end, start), duration)))
    return Voiceover(duration=duration, sample_rate=sample_rate, words=tuple(kept),
                     scenes=(SceneTiming(0, 0.0, duration),), engine=ENGINE)
