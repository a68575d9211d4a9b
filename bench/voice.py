"""Benchmark of the voice stage: real-time factor per engine and word-timing error.

Run: .venv/bin/python bench/voice.py [--piper PATH_OR_NAME]
Prints, per available engine, synthesis seconds for a ~200-word script, the audio length,
the real-time factor (audio seconds per synthesis second) and the median and 90th-percentile
distance between each word's reported start and the nearest energy onset in the audio.
The floor for timing is the same measurement on word starts placed at random.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import energy_onsets, onset_errors, read_wav  # noqa: E402
from pipeline.script.template import generate_script  # noqa: E402
from pipeline.text.normalize import normalise_tokens  # noqa: E402
from pipeline.types import IdeaSource, Scene, Script  # noqa: E402
from pipeline.voice.espeak import EspeakVoice  # noqa: E402
from pipeline.voice.piper import PiperVoiceEngine  # noqa: E402
from pipeline.voice.synthesis import VoiceEngine, synthesize_script  # noqa: E402


def _script(words: int = 200) -> Script:
    scenes: list[Scene] = []
    i = 0
    while sum(len(s.narration.split()) for s in scenes) < words:
        scenes += generate_script(IdeaSource(f"Idea {i}: why cold brew costs €4.50")).scenes
        i += 1
    return Script("bench", tuple(scenes), "", (), language="en")


def _measure(name: str, engine: VoiceEngine, script: Script, work: Path) -> None:
    wav = work / f"{name}.wav"
    synthesize_script(script, engine, work / "warm.wav",
                      spoken_forms=lambda t: normalise_tokens(t, "en"))  # load, JIT, caches
    started = time.perf_counter()
    voice = synthesize_script(script, engine, wav,
                              spoken_forms=lambda t: normalise_tokens(t, "en"))
    elapsed = time.perf_counter() - started
    audio, rate = read_wav(wav)
    onsets = energy_onsets(audio, rate)
    starts = [w.start for w in voice.words]
    errors = onset_errors(starts, onsets) * 1000
    rng = np.random.default_rng(0)
    random_errors = onset_errors(np.sort(rng.uniform(0, voice.duration, len(starts))),
                                 onsets) * 1000
    print(f"{name:8} words={len(voice.words):4d} synth_s={elapsed:7.3f} "
          f"audio_s={voice.duration:7.2f} rtf={voice.duration / elapsed:8.1f}x "
          f"onset_err_ms median={np.median(errors):5.1f} p90={np.percentile(errors, 90):5.1f} "
          f"(random placement median={np.median(random_errors):5.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--piper", help="a Piper .onnx to measure too")
    args = parser.parse_args()
    script = _script()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        _measure("espeak", EspeakVoice("en-us"), script, work)
        if args.piper:
            _measure("piper", PiperVoiceEngine(Path(args.piper)), script, work)
        else:
            from tests.support.tiny_piper import build_tiny_piper_voice

            tiny = build_tiny_piper_voice(work / "tiny.onnx")
            print("(piper: no real voice can be downloaded here; the tiny test voice shows the "
                  "runtime's own overhead, not a real voice's speed)")
            _measure("piper*", PiperVoiceEngine(tiny), script, work)


if __name__ == "__main__":
    main()
