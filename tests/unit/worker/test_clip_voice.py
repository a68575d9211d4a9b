"""The voice stage keeps a transcribed clip's own speech: the real run_voice adapter, real
ffmpeg and espeak-ng, and a tiny random Whisper checkpoint loaded by the real openai-whisper."""

from __future__ import annotations

import json
import subprocess
import wave
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from whisper.model import Whisper

import worker.stages as stages
from pipeline.captions.transcribe import load_whisper, transcribe
from pipeline.tools import probe
from pipeline.types import Scene, Script, StageError
from store.media import LocalMediaStorage
from store.settings import Settings
from tests.support.tiny_whisper import build_tiny_whisper
from worker.stages import JobInput, StageContext, outputs_of, run_captions, run_script, run_voice

# whisper's tokenizer reads its .tiktoken vocabulary with open() and never closes it; the
# leaked file is garbage-collected with a ResourceWarning, an error under filterwarnings=error.
pytestmark = pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")

SPOKEN = "Hello there. This mug keeps your coffee warm for hours."
# What the patched model call hears: (word as Whisper spells it, start, end).
HEARD = [(" Hello", 0.1, 0.5), (" there.", 0.5, 0.9), (" This", 1.1, 1.3), (" mug", 1.3, 1.6),
         (" keeps", 1.6, 1.9), (" your", 1.9, 2.0), (" coffee", 2.0, 2.4), (" warm", 2.4, 2.7),
         (" for", 2.7, 2.8), (" hours.", 2.8, 3.3)]
PRODUCT = {"title": "Ceramic travel mug", "description": "Keeps coffee hot for six hours.",
           "price": "24.00"}


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny multilingual Whisper checkpoint (random weights, no download)."""
    return build_tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny-random.pt")


@pytest.fixture(scope="module")
def speaking_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MP4 of testsrc whose AAC sound is espeak-ng saying SPOKEN (about 3.5 s)."""
    folder = tmp_path_factory.mktemp("clip")
    speech = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(speech), SPOKEN], check=True, timeout=30)
    clip = folder / "speaking.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=64x64:rate=10:duration=5", "-i", str(speech), "-shortest",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)],
                   check=True, timeout=60)
    return clip


@pytest.fixture(scope="module")
def silent_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MP4 of testsrc with no audio stream at all."""
    clip = tmp_path_factory.mktemp("clip") / "silent.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=64x64:rate=10:duration=3", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(clip)], check=True, timeout=60)
    return clip


def audio_seconds(clip: Path) -> float:
    """The length of the clip's audio stream, by ffprobe."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                          "stream=duration", "-of", "csv=p=0", str(clip)], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    return float(out)


@dataclass
class Stage:
    """One job's voice stage, ready to run: its context, its input and what it reported."""

    ctx: StageContext
    job: JobInput
    progress: list[float]

    def voiceover(self, keys: dict[str, str]) -> dict[str, Any]:
        """The voiceover.json the stage stored."""
        return json.loads(self.ctx.media.read_bytes(keys["voiceover"]))

    def wav_seconds(self, keys: dict[str, str]) -> float:
        """The length of the voice.wav the stage stored."""
        with wave.open(str(self.ctx.media.fetch(keys["voice_wav"])), "rb") as wav:
            return wav.getnframes() / wav.getframerate()


@pytest.fixture
def stage(embedded_settings: Settings, tiny_checkpoint: Path,
          tmp_path: Path) -> Callable[..., Stage]:
    """Build a clip job's voice stage over local storage; its script comes from the script
    stage (product fields given) or is stored as the empty script of a clip without them."""

    def make(clip: Path, *, product: dict[str, Any] | None = None, transcribe: bool = True,
             keep_audio: bool = False) -> Stage:
        settings = replace(embedded_settings, whisper_model=str(tiny_checkpoint),
                           voice_downloads=False)
        media = LocalMediaStorage(tmp_path / "media")
        media.ensure_ready()
        clip_key = "uploads/acct/clip.mp4"
        media.put_file(clip_key, clip)
        source: dict[str, Any] = {"type": "clip", "upload_id": "clip", "keep_audio": keep_audio,
                                  "transcribe": transcribe}
        options: dict[str, Any] = {
            "language": "en",
            "media": [{"key": clip_key, "kind": "clip", "keep_audio": keep_audio,
                       "duration": probe(clip).duration}],
            "captions": {"timing": "whisper"},
        }
        if transcribe:
            options["transcribe"] = True
        if product is not None:
            source["product"] = product
        scratch = tmp_path / "scratch"
        scratch.mkdir(exist_ok=True)
        progress: list[float] = []
        ctx = StageContext(settings, media, scratch, progress.append)
        job = JobInput("job1", "tiktok", source, options, {})
        if product is not None:
            artifacts = run_script(ctx, job)
        else:
            artifacts = outputs_of("script", job.job_id)
            empty = Script(title="", scenes=(Scene("", ""),), call_to_action="", hashtags=())
            media.put_bytes(artifacts["script"], json.dumps(empty.to_dict()).encode())
        return Stage(ctx, replace(job, artifacts=dict(artifacts)), progress)

    return make


@pytest.fixture
def model_hears(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[tuple[str, float, float]]],
                                                             list[dict[str, Any]]]:
    """Replace only the Whisper model's own call with one that hears the given words; the
    calls it got (language and the samples' length) are recorded."""

    def hear(words: list[tuple[str, float, float]]) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = []

        def model_call(self: Whisper, audio: Any, **options: Any) -> dict[str, Any]:
            calls.append({"language": options.get("language"), "samples": len(audio)})
            heard = [{"word": w, "start": s, "end": e, "probability": 0.9} for w, s, e in words]
            return {"text": "".join(w for w, _, _ in words),
                    "segments": [{"words": heard}] if heard else [], "language": "en"}

        monkeypatch.setattr(Whisper, "transcribe", model_call)
        return calls

    return hear


@pytest.fixture
def no_synthesis(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a voice engine fails the test: nothing may be synthesised."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a voice engine was built for a clip that speaks")

    monkeypatch.setattr(stages, "build_engine", refuse)


def test_a_speaking_clip_keeps_its_own_voice(stage, speaking_clip: Path, model_hears,
                                             no_synthesis) -> None:
    """Heard speech: voice.wav is the clip's sound, the voiceover's words are Whisper's."""
    calls = model_hears(HEARD)
    run = stage(speaking_clip)
    keys = run_voice(run.ctx, run.job)
    assert keys == outputs_of("voice", "job1")
    assert run.wav_seconds(keys) == pytest.approx(audio_seconds(speaking_clip), abs=0.1)
    voiceover = run.voiceover(keys)
    assert [(w["text"], w["start"], w["end"]) for w in voiceover["words"]] == [
        (w.strip(), s, e) for w, s, e in HEARD]
    assert (voiceover["engine"], voiceover["voice"], voiceover["source"]) == ("clip",) * 3
    assert voiceover["scenes"] == [{"index": 0, "start": 0.0, "end": voiceover["duration"]}]
    assert voiceover["duration"] == pytest.approx(run.wav_seconds(keys))
    assert voiceover["sample_rate"] == 22050
    # The clip's whole sound was heard (16 kHz samples), in no language, since the script
    # of a clip without product fields has no words to tell one.
    assert calls == [{"language": None,
                      "samples": pytest.approx(16_000 * voiceover["duration"], abs=160)}]
    assert run.progress[-1] == 1.0 and run.progress == sorted(run.progress)


def test_the_clip_is_heard_in_the_scripts_language(stage, speaking_clip: Path, model_hears,
                                                   no_synthesis) -> None:
    """With product fields the script's language is known, and Whisper is told it."""
    calls = model_hears(HEARD)
    run = stage(speaking_clip, product=PRODUCT)
    keys = run_voice(run.ctx, run.job)
    assert run.voiceover(keys)["source"] == "clip"
    assert [call["language"] for call in calls] == ["en"]


def test_captions_of_a_clip_show_what_the_clip_says(stage, speaking_clip: Path, model_hears,
                                                    no_synthesis) -> None:
    """timing=whisper does not re-align a script over the clip: captions are its words."""
    model_hears(HEARD)
    run = stage(speaking_clip, product=PRODUCT)
    voice_keys = run_voice(run.ctx, run.job)
    job = replace(run.job, artifacts={**run.job.artifacts, **voice_keys})
    keys = run_captions(run.ctx, job)
    groups = json.loads(run.ctx.media.read_bytes(keys["captions_json"]))
    shown = [(w["text"], w["start"], w["end"]) for g in groups for w in g["words"]]
    assert shown == [(w.strip(), s, e) for w, s, e in HEARD]


def test_the_real_tiny_whisper_runs_on_the_clip(stage, speaking_clip: Path,
                                                no_synthesis) -> None:
    """Unpatched, the tiny random model hears a few garbage "words" (repeated CJK characters),
    which count as speech: the clip's sound and exactly those words are kept."""
    run = stage(speaking_clip)
    keys = run_voice(run.ctx, run.job)
    voiceover = run.voiceover(keys)
    assert voiceover["source"] == "clip"
    assert run.wav_seconds(keys) == pytest.approx(audio_seconds(speaking_clip), abs=0.1)
    s = run.ctx.settings
    model = load_whisper(s.whisper_model, s.models_dir, download=False)
    heard = transcribe(run.ctx.media.fetch(keys["voice_wav"]), model=model)
    assert len(heard) >= 2
    assert [w["text"] for w in voiceover["words"]] == [w.text for w in heard]
    assert all(0.0 <= w["start"] <= w["end"] <= voiceover["duration"]
               for w in voiceover["words"])


def test_a_clip_whisper_hears_nothing_in_gets_the_synthesised_voiceover(
        stage, speaking_clip: Path, model_hears) -> None:
    """Fewer than two words heard: the product script is spoken by espeak-ng instead."""
    calls = model_hears([(" Mm", 0.2, 0.4)])
    run = stage(speaking_clip, product=PRODUCT)
    keys = run_voice(run.ctx, run.job)
    voiceover = run.voiceover(keys)
    assert len(calls) == 1
    assert voiceover["engine"] == "espeak" and "source" not in voiceover
    script = Script.from_dict(json.loads(run.ctx.media.read_bytes(run.job.artifacts["script"])))
    assert "mug" in script.narration.lower()
    assert [w["text"] for w in voiceover["words"]][:3] == script.narration.split()[:3]
    assert run.wav_seconds(keys) == pytest.approx(voiceover["duration"], abs=0.01)


def test_a_clip_without_sound_is_not_transcribed(stage, silent_clip: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """No audio stream: Whisper is never loaded, and the script is synthesised."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("Whisper was loaded for a clip without sound")

    monkeypatch.setattr("worker.clip_voice.load_whisper", refuse)
    run = stage(silent_clip, product=PRODUCT)
    assert run.voiceover(run_voice(run.ctx, run.job))["engine"] == "espeak"


def test_without_transcribe_the_clip_sound_is_left_alone(stage, speaking_clip: Path,
                                                         model_hears) -> None:
    """transcribe off: the script is synthesised even though the clip speaks."""
    calls = model_hears(HEARD)
    run = stage(speaking_clip, product=PRODUCT, transcribe=False)
    assert run.voiceover(run_voice(run.ctx, run.job))["engine"] == "espeak"
    assert calls == []


@pytest.mark.parametrize("heard", [[], [(" Mm", 0.2, 0.4)]])
def test_no_speech_and_no_product_fields_fails_the_voice_stage(
        stage, speaking_clip: Path, silent_clip: Path, model_hears,
        heard: list[tuple[str, float, float]]) -> None:
    """Nothing heard and nothing to say: voice fails with no_speech and says what to send."""
    model_hears(heard)
    for clip in (speaking_clip, silent_clip):
        run = stage(clip)
        with pytest.raises(StageError) as caught:
            run_voice(run.ctx, run.job)
        assert (caught.value.stage, caught.value.code) == ("voice", "no_speech")
        assert "send product fields or transcribe: false" in caught.value.message
        assert not run.ctx.media.exists(outputs_of("voice", "job1")["voiceover"])
