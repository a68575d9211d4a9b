"""Whisper through the real openai-whisper and torch, on a tiny random checkpoint: no download."""

from __future__ import annotations

import email.message
import hashlib
import io
import logging
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import whisper

import pipeline.captions.transcribe as transcribe_module
from pipeline.captions.transcribe import (
    align,
    device_and_precision,
    load_whisper,
    resolve_model,
    transcribe,
)
from pipeline.types import StageError, WordTiming
from pipeline.voice.synthesis import speech_tokens
from tests.support.tiny_whisper import build_tiny_whisper

# whisper's tokenizer reads its .tiktoken vocabulary with open() and never closes it; the
# leaked file is garbage-collected with a ResourceWarning, an error under filterwarnings=error.
pytestmark = pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")

SPOKEN = ("The new ceramic mug costs nineteen dollars and holds three hundred fifty "
          "millilitres. Buy it today.")


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny multilingual Whisper checkpoint (1 layer each side, random weights)."""
    return build_tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny-random.pt")


@pytest.fixture(scope="module")
def model(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory):
    """The tiny checkpoint loaded once for the module through `load_whisper`."""
    return load_whisper(str(tiny_checkpoint), tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 6 s of espeak-ng speech in a WAV file."""
    wav = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), SPOKEN], check=True, timeout=30)
    return wav


@pytest.fixture(scope="module")
def heard_in_wav(model, speech_wav: Path) -> list[WordTiming]:
    """What the tiny model hears in the espeak WAV, transcribed once for the module."""
    return transcribe(speech_wav, model=model, language="en")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every URL opened fails as it does with no network; the list records what was tried."""
    tried: list[str] = []

    def no_network(url, *args, **kwargs):
        tried.append(getattr(url, "full_url", url))
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return tried


class _FakeResponse(io.BytesIO):
    """Just enough of an HTTP response for whisper's downloader."""

    def info(self) -> email.message.Message:
        headers = email.message.Message()
        headers["Content-Length"] = str(len(self.getvalue()))
        return headers


def serve(monkeypatch: pytest.MonkeyPatch, name: str, payload: bytes, sha256: str) -> str:
    """Point whisper's URL for `name` at a fake host that answers with `payload`."""
    url = f"https://models.invalid/whisper/{sha256}/{name}.pt"
    monkeypatch.setitem(whisper._MODELS, name, url)
    monkeypatch.setattr(urllib.request, "urlopen",
                        lambda request, *args, **kwargs: _FakeResponse(payload))
    return url


# --- resolve_model -------------------------------------------------------------------------


def test_path_to_a_checkpoint_is_used_as_is(tiny_checkpoint: Path, tmp_path: Path,
                                            offline: list[str]) -> None:
    """A path to an existing file resolves to itself, with no network."""
    assert resolve_model(str(tiny_checkpoint), tmp_path) == tiny_checkpoint
    assert offline == []


def test_file_name_is_also_looked_up_in_the_models_dir(tiny_checkpoint: Path,
                                                       tmp_path: Path) -> None:
    """A bare file name that is not in the working directory is found in the models dir."""
    (tmp_path / "custom.pt").write_bytes(tiny_checkpoint.read_bytes())
    assert resolve_model("custom.pt", tmp_path) == tmp_path / "custom.pt"


def test_official_name_found_in_models_dir_needs_no_network(tiny_checkpoint: Path,
                                                            tmp_path: Path,
                                                            offline: list[str]) -> None:
    """`tiny` resolves to `<models_dir>/tiny.pt` when it is there, downloads on or off."""
    (tmp_path / "tiny.pt").write_bytes(tiny_checkpoint.read_bytes())
    assert resolve_model("tiny", tmp_path) == tmp_path / "tiny.pt"
    assert resolve_model("tiny", tmp_path, download=False) == tmp_path / "tiny.pt"
    assert offline == []


def test_official_name_found_under_whispers_own_file_name(tmp_path: Path,
                                                          offline: list[str]) -> None:
    """`turbo` is also found as large-v3-turbo.pt, the name whisper's downloader gives it."""
    (tmp_path / "large-v3-turbo.pt").write_bytes(b"stand-in")
    assert resolve_model("turbo", tmp_path) == tmp_path / "large-v3-turbo.pt"
    assert offline == []


def test_offline_error_names_model_directory_and_url(tmp_path: Path, offline: list[str]) -> None:
    """Offline, a missing model fails fast with the model, the folder and how to install it."""
    models = tmp_path / "models"
    with pytest.raises(StageError) as caught:
        resolve_model("small", models)
    error = caught.value
    assert (error.stage, error.code) == ("captions", "model_missing")
    assert "'small'" in error.message
    assert str(models / "small.pt") in error.message
    assert whisper._MODELS["small"] in error.message
    assert offline == [whisper._MODELS["small"]]  # one reachability check, then no more
    assert not models.exists() or list(models.iterdir()) == []


def test_no_download_when_downloads_are_off(tmp_path: Path, offline: list[str]) -> None:
    """With download=False a missing model fails without touching the network."""
    with pytest.raises(StageError) as caught:
        resolve_model("large-v3", tmp_path, download=False)
    assert caught.value.code == "model_missing"
    assert str(tmp_path / "large-v3.pt") in caught.value.message
    assert whisper._MODELS["large-v3"] in caught.value.message
    assert offline == []


def test_download_fetches_and_checks_the_file(tiny_checkpoint: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Online, the checkpoint is fetched and checked; it lands whole in place."""
    payload = tiny_checkpoint.read_bytes()
    serve(monkeypatch, "tiny", payload, hashlib.sha256(payload).hexdigest())
    models = tmp_path / "models"
    path = resolve_model("tiny", models)
    assert path == models / "tiny.pt"
    assert path.read_bytes() == payload
    assert [p.name for p in models.iterdir()] == ["tiny.pt"]  # no partial folder left


def test_download_proceeds_when_the_server_refuses_head(tiny_checkpoint: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """An HTTP error to the reachability check means we are online: the download still runs."""
    payload = tiny_checkpoint.read_bytes()
    url = serve(monkeypatch, "tiny", payload, hashlib.sha256(payload).hexdigest())

    def no_head(request, *args, **kwargs):
        if getattr(request, "method", None) == "HEAD":
            raise urllib.error.HTTPError(url, 405, "Method Not Allowed", None, None)
        return _FakeResponse(payload)

    monkeypatch.setattr(urllib.request, "urlopen", no_head)
    assert resolve_model("tiny", tmp_path).read_bytes() == payload
    assert socket.getdefaulttimeout() is None  # the download's stall timeout was undone


def test_download_sets_its_own_timeout_not_the_process_default(
        tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The download's connection has its own timeout; other threads' socket default is untouched."""
    payload = tiny_checkpoint.read_bytes()
    url = serve(monkeypatch, "tiny", payload, hashlib.sha256(payload).hexdigest())
    seen: list[tuple[float | None, object]] = []

    def record(request, *args, **kwargs):
        seen.append((socket.getdefaulttimeout(), kwargs.get("timeout")))
        return _FakeResponse(payload)

    monkeypatch.setattr(urllib.request, "urlopen", record)
    assert resolve_model("tiny", tmp_path).read_bytes() == payload
    download = seen[-1]
    assert download[0] is None, "the process-wide socket timeout was changed mid-download"
    assert isinstance(download[1], float | int) and download[1] > 0
    assert url


def test_unusable_models_dir_is_model_missing(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A models "directory" that cannot hold files fails as a StageError naming it."""
    serve(monkeypatch, "tiny", b"x", hashlib.sha256(b"x").hexdigest())
    not_a_dir = tmp_path / "models"
    not_a_dir.write_text("a file, not a folder")
    with pytest.raises(StageError) as caught:
        resolve_model("tiny", not_a_dir)
    assert caught.value.code == "model_missing"
    assert str(not_a_dir) in caught.value.message


def test_download_with_wrong_checksum_leaves_nothing(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A download whose SHA256 does not match is refused and leaves no file behind."""
    serve(monkeypatch, "base", b"truncated", hashlib.sha256(b"the real thing").hexdigest())
    with pytest.raises(StageError) as caught:
        resolve_model("base", tmp_path)
    assert caught.value.code == "model_missing"
    assert "checksum" in caught.value.message
    assert list(tmp_path.iterdir()) == []


def test_unknown_name_lists_the_available_models(tmp_path: Path) -> None:
    """A name that is neither a file nor an official model lists the names that exist."""
    with pytest.raises(StageError) as caught:
        resolve_model("tiniest", tmp_path)
    assert (caught.value.stage, caught.value.code) == ("captions", "unknown_model")
    assert "'tiniest'" in caught.value.message
    assert "large-v3" in caught.value.message and "turbo" in caught.value.message


def test_missing_file_path_is_model_missing(tmp_path: Path) -> None:
    """A path that does not exist says so, rather than calling it an unknown name."""
    with pytest.raises(StageError) as caught:
        resolve_model(str(tmp_path / "gone.pt"), tmp_path)
    assert caught.value.code == "model_missing"
    assert "gone.pt" in caught.value.message


# --- loading -------------------------------------------------------------------------------


def test_device_and_precision_follow_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """fp32 on the CPU; cuda with fp16 whenever torch sees a GPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_and_precision() == ("cpu", False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device_and_precision() == ("cuda", True)


def test_model_is_loaded_once_per_process(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """Loading the same checkpoint again gives the very same model object, on the CPU here."""
    first = load_whisper(str(tiny_checkpoint), tmp_path)
    assert load_whisper(str(tiny_checkpoint), tmp_path / "elsewhere") is first
    assert first.device.type == "cpu"
    assert first.dims.n_vocab == 51865


def test_official_name_loads_with_the_official_alignment_heads(tmp_path: Path,
                                                               offline: list[str]) -> None:
    """A checkpoint shaped like `tiny` loaded by that name gets whisper's timing heads for it."""
    # Loading by name through whisper.load_model would check the official SHA256 and try to
    # re-download over our random stand-in; load_whisper loads by path and sets the heads.
    build_tiny_whisper(tmp_path / "tiny.pt", text_layers=4, text_heads=6)
    loaded = load_whisper("tiny", tmp_path, download=False)
    reference = build_reference_heads(loaded, "tiny")
    assert torch.equal(loaded.alignment_heads.to_dense(), reference)
    assert offline == []


def build_reference_heads(model, name: str) -> torch.Tensor:
    """The dense head mask whisper's own load_model would set for an official model."""
    import base64
    import gzip

    mask = np.frombuffer(gzip.decompress(base64.b85decode(whisper._ALIGNMENT_HEADS[name])),
                         dtype=bool)
    return torch.from_numpy(mask.copy()).reshape(model.dims.n_text_layer,
                                                 model.dims.n_text_head)


def test_official_name_with_other_shape_keeps_default_heads(
        tiny_checkpoint: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A file under an official name but shaped otherwise still loads, with a warning."""
    (tmp_path / "base.pt").write_bytes(tiny_checkpoint.read_bytes())
    with caplog.at_level(logging.WARNING, logger="pipeline.captions.transcribe"):
        loaded = load_whisper("base", tmp_path, download=False)
    assert loaded.alignment_heads.to_dense().all()  # 1 layer: every head of it, the default
    assert "not shaped like the official 'base'" in caplog.text


def test_unreadable_checkpoint_says_to_download_again(tmp_path: Path) -> None:
    """A corrupt .pt (a cut-short copy) fails with `model_unreadable`, naming the file."""
    (tmp_path / "small.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(StageError) as caught:
        load_whisper("small", tmp_path, download=False)
    assert caught.value.code == "model_unreadable"
    assert str((tmp_path / "small.pt").resolve()) in caught.value.message


def test_importing_the_module_loads_neither_torch_nor_whisper() -> None:
    """`import pipeline.captions.transcribe` stays cheap: torch and whisper wait until first use."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys, pipeline.captions.transcribe; "
         "print(sorted({'torch', 'whisper', 'numpy'} & set(sys.modules)))"],
        capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"


# --- transcribe ----------------------------------------------------------------------------


def wav_seconds(path: Path) -> float:
    """Length of a WAV file in seconds."""
    import wave

    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def assert_timed_inside(words: list[WordTiming], duration: float) -> None:
    """Stripped, non-empty words with 0 <= start <= end <= duration, in time order."""
    assert words, "the tiny model hears (garbage) words in speech"
    for word in words:
        assert word.text == word.text.strip() and word.text
        assert isinstance(word.start, float) and isinstance(word.end, float)
        assert 0.0 <= word.start <= word.end <= duration + 0.02
    starts = [w.start for w in words]
    assert starts == sorted(starts)


def test_files_decode_like_whispers_own_loader(speech_wav: Path) -> None:
    """Our ffmpeg decoding (with a timeout) gives the samples whisper.load_audio would."""
    ours = transcribe_module._decode_audio(speech_wav)
    theirs = whisper.load_audio(str(speech_wav))
    assert ours.dtype == np.float32
    assert len(ours) == len(theirs)
    assert np.abs(ours - theirs).max() < 1e-3


def test_transcribe_a_wav_file(heard_in_wav: list[WordTiming], speech_wav: Path) -> None:
    """A WAV file (decoded by ffmpeg) gives timed words inside the audio; the text is noise."""
    assert_timed_inside(heard_in_wav, wav_seconds(speech_wav))


def test_transcribe_samples_longer_than_one_window(model, speech_wav: Path) -> None:
    """36 s of 16 kHz samples span two 30 s windows; every word stays inside the audio."""
    samples = whisper.load_audio(str(speech_wav))
    long = np.concatenate([samples] * 6)
    duration = len(long) / 16_000
    assert duration > 30
    words = transcribe(long, model=model, language="en")
    assert_timed_inside(words, duration)
    assert max(w.end for w in words) > 30.0  # the second window was transcribed too


def test_transcribe_detects_language_when_not_given(model, speech_wav: Path) -> None:
    """With no language the multilingual model detects one itself, and words still come back."""
    samples = whisper.load_audio(str(speech_wav))
    assert_timed_inside(transcribe(samples, model=model), len(samples) / 16_000)


def test_english_only_checkpoint_transcribes(tmp_path: Path, speech_wav: Path) -> None:
    """An English-only checkpoint (51864-token vocabulary) loads and transcribes as well."""
    english = load_whisper(str(build_tiny_whisper(tmp_path / "tiny-en.pt", multilingual=False)),
                           tmp_path)
    assert not english.is_multilingual
    samples = whisper.load_audio(str(speech_wav))
    assert_timed_inside(transcribe(samples, model=english), len(samples) / 16_000)


@pytest.mark.parametrize("bad", ["text_file", "stereo_array"])
def test_unreadable_audio(model, tmp_path: Path, bad: str) -> None:
    """A file ffmpeg cannot decode, or samples that are not mono, fail with `unreadable_audio`."""
    if bad == "text_file":
        audio: Path | np.ndarray = tmp_path / "notes.wav"
        audio.write_text("not audio")
    else:
        audio = np.zeros((2, 16_000), dtype=np.float32)
    with pytest.raises(StageError) as caught:
        transcribe(audio, model=model)
    assert (caught.value.stage, caught.value.code) == ("captions", "unreadable_audio")


def test_whisper_words_aligned_to_the_script(heard_in_wav: list[WordTiming],
                                             speech_wav: Path) -> None:
    """Real Whisper output aligned to the script gives the script's words inside the audio."""
    duration = wav_seconds(speech_wav)
    words = align(SPOKEN, heard_in_wav, duration=duration)
    assert [w.text for w in words] == speech_tokens(SPOKEN)
    flat = [t for w in words for t in (w.start, w.end)]
    assert flat == sorted(flat)
    assert 0.0 <= flat[0] and flat[-1] <= duration + 0.02


def test_fast_decoding_options_reach_whisper(model, monkeypatch: pytest.MonkeyPatch) -> None:
    """One greedy pass without fallbacks, word timestamps on, fp32 on the CPU."""
    seen: dict = {}

    def fake_transcribe(audio, **options):
        seen.update(options)
        return {"segments": [{"words": []}, {"words": [
            {"word": " Hello,", "start": np.float64(0.5), "end": np.float64(0.9)},
            {"word": "  ", "start": 0.9, "end": 0.9}]}]}

    monkeypatch.setattr(model, "transcribe", fake_transcribe)
    words = transcribe(np.zeros(16_000, dtype=np.float32), model=model, language="fr")
    assert words == [WordTiming("Hello,", 0.5, 0.9)]
    assert type(words[0].start) is float
    assert seen["word_timestamps"] is True and seen["temperature"] == 0.0
    assert seen["fp16"] is False and seen["language"] == "fr"
    assert seen["condition_on_previous_text"] is False
    assert seen["compression_ratio_threshold"] is None
    assert seen["logprob_threshold"] is None and seen["no_speech_threshold"] is None


def test_transcribe_module_has_no_service_imports() -> None:
    """The stage stays pure: no Celery, Flask or database modules are imported by it."""
    source = Path(transcribe_module.__file__).read_text(encoding="utf-8")
    for name in ("celery", "flask", "sqlalchemy", "redis", "store", "worker", "api"):
        assert f"import {name}" not in source and f"from {name}" not in source
