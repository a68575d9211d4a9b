"""Speech we did not synthesise: Whisper hears the words, the script supplies their spelling.

An uploaded clip's own speech or a user's recorded voiceover has no engine events, so Whisper
(`openai-whisper`) transcribes it with word timestamps. When the script is known, `align`
keeps the script's words and takes only Whisper's timings, so a misheard word never reaches
the screen. torch and whisper are imported inside the functions that need them: importing
this module stays cheap for the API and the CLI.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import logging
import os
import shutil
import tempfile
import threading
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Sequence
from difflib import SequenceMatcher
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.tools import ToolError, run
from pipeline.types import StageError, WordTiming
from pipeline.voice.synthesis import speech_tokens

if TYPE_CHECKING:
    import numpy as np
    from whisper.model import Whisper

log = logging.getLogger(__name__)

STAGE = "captions"
SAMPLE_RATE = 16_000  # what Whisper's models hear; arrays passed to `transcribe` must match
# How long the reachability check waits before calling the download host unreachable. Without
# it an offline machine can hang for minutes inside urlopen (whisper passes no timeout).
DOWNLOAD_CHECK_TIMEOUT = 10.0
# Longest wait for the next bytes of a model download; a stalled transfer fails, never hangs.
DOWNLOAD_STALL_TIMEOUT = 60.0
# Decoding any upload to 16 kHz samples takes seconds; this only stops a stuck ffmpeg.
DECODE_TIMEOUT = 600.0
# A script word Whisper missed at the very start or end is placed next to its one heard
# neighbour, at most this long per word, rather than spread over a long intro or outro.
EDGE_WORD_SECONDS = 0.5
# A word Whisper heard that is not in the script still belongs to a misheard neighbour (a
# number said as several words, one word heard as two) when no more than this separates them.
JOIN_GAP_SECONDS = 0.3
# Above this many cells a block skips the character similarity in its substitution cost
# (it only orders tie-breaks): alignment stays fast on long garbage transcripts.
_SIMILARITY_CELLS = 40_000


def _checkpoint_file(name: str) -> str:
    """The file name whisper itself gives a downloaded model ("turbo" → large-v3-turbo.pt)."""
    import whisper

    return os.path.basename(whisper._MODELS[name])


def _install_hint(name: str, models_dir: Path) -> str:
    import whisper

    return (f"download {whisper._MODELS[name]} into {models_dir / _checkpoint_file(name)} "
            f"(or run once on a machine that is online)")


def resolve_model(name_or_path: str | Path, models_dir: Path, *,
                  download: bool = True) -> Path:
    """Find a Whisper checkpoint by path or by official name, downloading it when allowed.

    A path to an existing file is used as is. A name from `whisper.available_models()` is
    looked up as `<models_dir>/<name>.pt` or under whisper's own file name for it; failing
    that it is downloaded into `models_dir` with whisper's downloader (which checks the SHA256
    in the URL), or a `StageError` says how to install it by hand.
    """
    import whisper

    name_or_path, models_dir = str(name_or_path), Path(models_dir)
    if name_or_path not in whisper.available_models():
        for candidate in (Path(name_or_path), models_dir / name_or_path):
            if candidate.is_file():
                return candidate
        if name_or_path.endswith(".pt") or os.sep in name_or_path or "/" in name_or_path:
            raise StageError(STAGE, "model_missing",
                             f"Whisper model file {name_or_path} not found (also looked in "
                             f"{models_dir})")
        raise StageError(STAGE, "unknown_model",
                         f"unknown Whisper model {name_or_path!r}: use a path to a .pt file "
                         f"or one of {', '.join(whisper.available_models())}")
    name = name_or_path
    for candidate in (models_dir / f"{name}.pt", models_dir / _checkpoint_file(name)):
        if candidate.is_file():
            return candidate
    if not download:
        raise StageError(STAGE, "model_missing",
                         f"Whisper model {name!r} is not in {models_dir} and downloads are off: "
                         f"{_install_hint(name, models_dir)}")
    return _download(name, models_dir)


def _download(name: str, models_dir: Path) -> Path:
    """Fetch an official checkpoint with whisper's own downloader, then move it into place."""
    import whisper

    url = whisper._MODELS[name]
    target = models_dir / _checkpoint_file(name)
    try:
        # A HEAD request with a timeout (through any configured proxy) answers "offline?" in
        # seconds; whisper's download itself sets no timeout.
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"),
                               timeout=DOWNLOAD_CHECK_TIMEOUT).close()
    except urllib.error.HTTPError:
        pass  # the server answered, so we are online: the download itself decides
    except (OSError, http.client.HTTPException) as exc:
        raise StageError(STAGE, "model_missing",
                         f"Whisper model {name!r} is not in {models_dir} and cannot be "
                         f"downloaded ({exc}): {_install_hint(name, models_dir)}") from exc
    partial: Path | None = None
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        # A download cut short must not leave a file that looks finished: it goes into a
        # private folder and is renamed into place when whole and checked.
        partial = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=models_dir))
        log.info("downloading Whisper model %s into %s", name, models_dir)
        downloaded = _fetch_checked(url, partial / target.name)
        os.replace(downloaded, target)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise StageError(STAGE, "model_missing",
                         f"downloading Whisper model {name!r} into {models_dir} failed ({exc}): "
                         f"retry, or {_install_hint(name, models_dir)}") from exc
    finally:
        if partial is not None:
            shutil.rmtree(partial, ignore_errors=True)
    return target


def _fetch_checked(url: str, out: Path) -> Path:
    """Stream an official checkpoint to `out` and check its SHA256 (the URL's folder name).

    Written here rather than calling whisper's downloader because that one opens its
    connection with no timeout, and the only handle on it would be the process-wide socket
    default, which other threads' sockets share.
    """
    expected = url.split("/")[-2]
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=DOWNLOAD_STALL_TIMEOUT) as response, \
            out.open("wb") as handle:
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            handle.write(chunk)
    if digest.hexdigest() != expected:
        raise ValueError("the downloaded file's SHA256 checksum does not match")
    return out


def device_and_precision() -> tuple[str, bool]:
    """The device Whisper runs on and whether it decodes in fp16 (GPU only)."""
    import torch

    if torch.cuda.is_available():
        return "cuda", True
    return "cpu", False


_load_lock = threading.Lock()


def load_whisper(name_or_path: str | Path, models_dir: Path, *,
                 download: bool = True) -> Whisper:
    """The Whisper model for a name or path on this process's device, loaded once per process."""
    import whisper

    path = resolve_model(name_or_path, models_dir, download=download)
    device, _ = device_and_precision()
    name = str(name_or_path)
    official = name if name in whisper.available_models() else None
    with _load_lock:
        return _load_cached(str(path.resolve()), device, official)


@functools.lru_cache(maxsize=2)  # a worker uses one model; two allow a switch without a reload
def _load_cached(path: str, device: str, official: str | None) -> Whisper:
    import pickle

    import whisper

    try:
        # By path, so whisper neither re-hashes a multi-GB file on every start nor tries to
        # download over a checkpoint whose checksum it does not know.
        model = whisper.load_model(path, device=device)
    except (RuntimeError, EOFError, KeyError, TypeError, ValueError,
            pickle.UnpicklingError) as exc:
        raise StageError(STAGE, "model_unreadable",
                         f"Whisper checkpoint {path} cannot be loaded ({exc}); delete it and "
                         f"download it again") from exc
    if official is not None:
        _set_official_alignment_heads(model, official)
    return model


def _set_official_alignment_heads(model: Whisper, name: str) -> None:
    """Use the cross-attention heads whisper lists for an official model, when they fit."""
    import base64
    import gzip

    import whisper

    dump = whisper._ALIGNMENT_HEADS[name]
    heads = len(gzip.decompress(base64.b85decode(dump)))
    if heads != model.dims.n_text_layer * model.dims.n_text_head:
        # Loading by path skips whisper's own "official name → heads" step; a file under an
        # official name that is shaped otherwise keeps the default heads (last half of layers).
        log.warning("%s is not shaped like the official %r model; keeping default "
                    "alignment heads", name, name)
        return
    model.set_alignment_heads(dump)


def transcribe(audio: Path | np.ndarray, *, model: Whisper,
               language: str | None = None, ffmpeg: str = "ffmpeg") -> list[WordTiming]:
    """Every word Whisper hears, with its start and end in seconds on the audio's timeline.

    `audio` is a media file (decoded by ffmpeg) or mono float32 samples at 16 kHz; `language`
    None lets a multilingual model detect it.
    """
    import numpy as np

    if isinstance(audio, (str, Path)):
        samples = _decode_audio(Path(audio), ffmpeg)
    else:
        samples = np.asarray(audio, dtype=np.float32)
        if samples.ndim != 1:
            raise StageError(STAGE, "unreadable_audio",
                             f"expected mono samples, got an array of shape {samples.shape}")
    result: dict[str, Any] = model.transcribe(
        samples,
        word_timestamps=True,
        language=language,
        fp16=model.device.type == "cuda",
        # One greedy pass per 30 s window, no fallback to sampling and no text carried between
        # windows: garbage or noisy input otherwise retries every temperature (minutes per
        # window), and a window stuck in a loop no longer poisons the next one.
        temperature=0.0,
        compression_ratio_threshold=None,
        logprob_threshold=None,
        no_speech_threshold=None,
        condition_on_previous_text=False,
        verbose=None,  # no console output, no progress bar
    )
    words: list[WordTiming] = []
    for segment in result["segments"]:
        for word in segment.get("words") or ():  # some segments carry no words
            text = word["word"].strip()
            if text:
                start = float(word["start"])
                words.append(WordTiming(text, start, max(start, float(word["end"]))))
    return words


def _decode_audio(media: Path, ffmpeg: str = "ffmpeg") -> np.ndarray:
    """Any audio or video file's sound as mono float32 samples at 16 kHz, through ffmpeg."""
    import numpy as np

    # whisper.load_audio would do the same but runs ffmpeg without a timeout; tools.run has
    # one and keeps ffmpeg's stderr. It returns text, so the samples go through a file.
    with tempfile.TemporaryDirectory(prefix="vf-whisper-") as tmp:
        raw = Path(tmp) / "audio.f32"
        try:
            run([ffmpeg, "-nostdin", "-v", "error", "-i", str(media), "-vn", "-ac", "1",
                 "-ar", str(SAMPLE_RATE), "-f", "f32le", "-y", str(raw)], timeout=DECODE_TIMEOUT)
        except ToolError as exc:
            raise StageError(STAGE, "unreadable_audio",
                             f"cannot read audio from {media}: {exc}") from exc
        return np.fromfile(raw, dtype=np.float32)


def normalise_word(text: str) -> str:
    """Comparable form of a word: accents removed, case folded, only letters and digits."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if ch.isalnum()).casefold()


def align(script_text: str, heard: Sequence[WordTiming], *,
          duration: float | None = None) -> list[WordTiming]:
    """The script's own words, each with the time Whisper heard it (or would have).

    Script words are matched to heard words by normalised form; a misheard word takes the time
    of the word heard in its place; a word Whisper missed gets a share of the gap between its
    neighbours; heard words that are not in the script are dropped. `duration` (the audio's
    length) bounds words missed at the very end.
    """
    tokens = speech_tokens(script_text)
    if not tokens:
        return []
    heard = [w for w in heard if normalise_word(w.text)]
    if not heard:
        raise StageError(STAGE, "no_speech",
                         "Whisper heard no words in the audio, so the script cannot be timed")
    pairs = _pair(tokens, heard)
    spans = _join_neighbours(pairs, heard, len(tokens))
    timed = _fill_missed(spans, heard, duration)
    return _monotonic(tokens, timed)


def _pair(tokens: Sequence[str], heard: Sequence[WordTiming]) -> list[tuple[int, int, bool]]:
    """(script index, heard index, exact?) for every script word paired with a heard word."""
    script_norm = [normalise_word(t) for t in tokens]
    heard_norm = [normalise_word(w.text) for w in heard]
    # Exact matches first: difflib finds them in near-linear time and they anchor everything.
    matcher = SequenceMatcher(None, script_norm, heard_norm, autojunk=False)
    pairs: list[tuple[int, int, bool]] = []
    i = j = 0
    for block in matcher.get_matching_blocks():
        # No word is equal on both sides between two anchors: the rest is mishearings.
        pairs.extend(_pair_block(script_norm, heard_norm, i, block.a, j, block.b))
        pairs.extend((block.a + k, block.b + k, True) for k in range(block.size))
        i, j = block.a + block.size, block.b + block.size
    return pairs


def _pair_block(script: Sequence[str], heard: Sequence[str], i0: int, i1: int, j0: int,
                j1: int) -> list[tuple[int, int, bool]]:
    """Pair words inside a block with no exact match, by edit distance (Needleman–Wunsch).

    A substitution costs less than a deletion plus an insertion, so blocks of equal length pair
    up position by position; similar spellings ("colour"/"color") are cheaper substitutions,
    which decides where the pairs fall when the lengths differ.
    """
    n, m = i1 - i0, j1 - j0
    if n == 0 or m == 0:
        return []
    gap = 100
    similar = n * m <= _SIMILARITY_CELLS

    def substitution(a: str, b: str) -> int:
        if not similar:
            return 190
        return 100 + round(90 * (1 - SequenceMatcher(None, a, b, autojunk=False).ratio()))

    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for r in range(1, n + 1):
        cost[r][0] = r * gap
    for c in range(1, m + 1):
        cost[0][c] = c * gap
    for r in range(1, n + 1):
        a = script[i0 + r - 1]
        row, above = cost[r], cost[r - 1]
        for c in range(1, m + 1):
            row[c] = min(above[c - 1] + substitution(a, heard[j0 + c - 1]),
                         above[c] + gap, row[c - 1] + gap)
    pairs: list[tuple[int, int, bool]] = []
    r, c = n, m
    while r > 0 and c > 0:
        # Walking back from the end, ties drop the later word, so pairs sit early in a
        # block: "350" heard as "three hundred fifty" pairs with "three".
        if cost[r][c] == cost[r][c - 1] + gap:
            c -= 1
        elif cost[r][c] == cost[r - 1][c] + gap:
            r -= 1
        else:
            pairs.append((i0 + r - 1, j0 + c - 1, False))
            r, c = r - 1, c - 1
    pairs.reverse()
    return pairs


def _join_neighbours(pairs: Sequence[tuple[int, int, bool]], heard: Sequence[WordTiming],
                     count: int) -> list[tuple[float, float] | None]:
    """Each script word's time span; heard words left over widen a misheard neighbour."""
    spans: list[tuple[float, float] | None] = [None] * count
    owner: dict[int, int] = {}  # heard index → script index, for misheard (inexact) pairs
    for script_index, heard_index, exact in pairs:
        word = heard[heard_index]
        spans[script_index] = (word.start, word.end)
        if not exact:
            owner[heard_index] = script_index
    paired = {heard_index for _, heard_index, _ in pairs}
    # Forward, then backward: a leftover word joins the misheard word it follows, else the
    # misheard word it precedes, when they touch. Exact matches never grow.
    for order in (range(len(heard)), range(len(heard) - 1, -1, -1)):
        for k in order:
            if k in paired:
                continue
            neighbour = k - 1 if order.step == 1 else k + 1
            if neighbour not in owner:
                continue
            script_index = owner[neighbour]
            start, end = spans[script_index]  # type: ignore[misc]
            word = heard[k]
            if max(word.start - end, start - word.end) <= JOIN_GAP_SECONDS:
                spans[script_index] = (min(start, word.start), max(end, word.end))
                owner[k] = script_index
                paired.add(k)
    return spans


def _fill_missed(spans: list[tuple[float, float] | None], heard: Sequence[WordTiming],
                 duration: float | None) -> list[tuple[float, float]]:
    """Give script words Whisper missed even shares of the gap between their neighbours."""
    filled: list[tuple[float, float]] = []
    i = 0
    while i < len(spans):
        span = spans[i]
        if span is not None:
            filled.append(span)
            i += 1
            continue
        j = i
        while j < len(spans) and spans[j] is None:
            j += 1
        missed = j - i
        if filled:
            low = filled[-1][1]
        else:  # before the first heard word: just before it, not from the start of the audio
            first = spans[j][0] if j < len(spans) else heard[0].start  # type: ignore[index]
            low = max(0.0, first - missed * EDGE_WORD_SECONDS)
        if j < len(spans):
            high = spans[j][0]  # type: ignore[index]
        else:  # after the last heard word: just after it, inside the audio when its length is known
            high = low + missed * EDGE_WORD_SECONDS
            if duration is not None:
                high = min(high, duration)
        high = max(high, low)
        step = (high - low) / missed
        filled.extend((low + k * step, low + (k + 1) * step) for k in range(missed))
        i = j
    return filled


def _monotonic(tokens: Sequence[str], spans: Sequence[tuple[float, float]]) -> list[WordTiming]:
    """Words whose times never go back: each start and end at or after every earlier time."""
    words: list[WordTiming] = []
    latest = 0.0
    for token, (start, end) in zip(tokens, spans, strict=True):
        start = max(start, latest)
        end = max(end, start)
        latest = end
        words.append(WordTiming(token, start, end))
    return words
