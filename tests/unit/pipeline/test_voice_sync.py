"""espeak-ng end to end: captions show the script's words, each timed where its sound starts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.measure import energy_onsets, onset_errors, read_wav
from pipeline.captions.build import build_captions
from pipeline.render.presets import get_preset
from pipeline.text.normalize import normalise_tokens
from pipeline.types import Scene, Script
from pipeline.voice.espeak import EspeakVoice
from pipeline.voice.synthesis import speech_tokens, synthesize_script

SENTENCE = ("The new ceramic mug costs €19.99 and holds 350 ml. Café crème, naïve déjà vu, "
            "only today!")


def test_caption_words_are_the_script_words_timed_at_their_onsets(tmp_path: Path) -> None:
    """Captions spell the script as written, and word starts sit on energy onsets (median 60 ms)."""
    script = Script("mug", (Scene(SENTENCE, "mug"),), "", (), language="en")
    voice = synthesize_script(script, EspeakVoice("en-us"), tmp_path / "voice.wav",
                              spoken_forms=lambda tokens: normalise_tokens(tokens, "en"))
    files = build_captions(voice.words, get_preset("tiktok"), tmp_path / "captions")
    shown = [w["text"] for g in json.loads(files["json"].read_text()) for w in g["words"]]
    assert shown == speech_tokens(SENTENCE)
    assert "€19.99" in shown and "350" in shown and "naïve" in shown

    audio, rate = read_wav(tmp_path / "voice.wav")
    onsets = energy_onsets(audio, rate)
    starts = [w.start for w in voice.words]
    errors = onset_errors(starts, onsets)
    assert np.median(errors) <= 0.060, np.round(errors * 1000)

    # The measurement can tell: the same number of word starts placed at random, or all 150 ms
    # late, misses the onsets by well over the 60 ms allowed.
    rng = np.random.default_rng(1)
    random_medians = [np.median(onset_errors(np.sort(rng.uniform(0, len(audio) / rate,
                                                                   len(starts))), onsets))
                      for _ in range(20)]
    assert np.median(random_medians) > 0.075
    assert np.median(onset_errors([s + 0.15 for s in starts], onsets)) > 0.060
