"""espeak-ng through its C API: offline, ~100 languages, word starts exact to the sample."""

from __future__ import annotations

import array
import ctypes
import ctypes.util
import threading
from pathlib import Path

from pipeline.types import StageError
from pipeline.voice.synthesis import Speech

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_END_PAUSE = 0x1000
_POS_CHARACTER = 1
_PARAM_RATE = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p),
                ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based, in characters (not bytes)
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),  # sample index within this call's audio
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


def _candidate_libraries() -> list[tuple[str, str | None]]:
    """System libespeak-ng first; piper-tts's static build (with its own data) otherwise.

    The system library is preferred because piper loads its bundled copy for phonemes:
    sharing one instance would let piper re-initialise the state our synthesis uses.
    """
    candidates: list[tuple[str, str | None]] = []
    found = ctypes.util.find_library("espeak-ng")
    candidates.append((found or "libespeak-ng.so.1", None))
    try:
        import piper

        package = Path(piper.__file__).parent
        for bridge in sorted(package.glob("espeakbridge*.so")):
            candidates.append((str(bridge), str(package)))
    except ImportError:
        pass
    return candidates


class _EspeakLibrary:
    """The process-wide espeak-ng instance: it has global state, so one user at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lib: ctypes.CDLL | None = None
        self.sample_rate = 0
        self._chunks = array.array("h")
        self._events: list[tuple[int, int]] = []
        # Keep a reference: espeak holds a raw pointer to this callback.
        self._callback = _Callback(self._on_audio)
        self.load_error = ""

    def _on_audio(self, wav: ctypes.Array, count: int, events: ctypes.Array) -> int:
        if wav and count > 0:
            self._chunks.frombytes(ctypes.string_at(wav, count * 2))
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            if events[i].type == _EVENT_WORD:
                self._events.append((events[i].text_position, events[i].sample))
            i += 1
        return 0

    def load(self) -> bool:
        if self.lib is not None:
            return True
        errors = []
        for path, data_dir in _candidate_libraries():
            try:
                lib = ctypes.CDLL(path)
                lib.espeak_Initialize.restype = ctypes.c_int
                data = data_dir.encode() if data_dir else None
                rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data,
                                             _INITIALIZE_DONT_EXIT)
            except (OSError, AttributeError) as exc:
                errors.append(f"{path}: {exc}")
                continue
            if rate <= 0:
                errors.append(f"{path}: espeak_Initialize failed")
                continue
            lib.espeak_SetSynthCallback(self._callback)
            self.lib, self.sample_rate = lib, rate
            return True
        self.load_error = "; ".join(errors)
        return False

    def synthesize(self, text: str, voice: str, rate_wpm: int) -> tuple[array.array,
                                                                        list[tuple[int, int]]]:
        assert self.lib is not None
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise StageError("voice", "unknown_voice",
                             f"espeak-ng has no voice {voice!r}; list them with "
                             "`espeak-ng --voices` and set ESPEAK_VOICE")
        self.lib.espeak_SetParameter(_PARAM_RATE, rate_wpm, 0)
        self._chunks = array.array("h")
        self._events = []
        encoded = text.encode("utf-8")
        status = self.lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0,
                                       _CHARS_UTF8 | _END_PAUSE, None, None)
        if status != 0:
            raise StageError("voice", "engine_error", f"espeak-ng failed with status {status}")
        return self._chunks, self._events


_LIBRARY = _EspeakLibrary()


class EspeakVoice:
    """espeak-ng voice: robotic but always available, with exact word timings."""

    name = "espeak"

    def __init__(self, voice: str = "en-us", rate_wpm: int = 165) -> None:
        self.voice = voice
        self.rate_wpm = rate_wpm

    def available(self) -> bool:
        """Whether libespeak-ng (system or piper's bundled copy) loads."""
        with _LIBRARY.lock:
            return _LIBRARY.load()

    def speak(self, tokens: list[str]) -> Speech:
        """Speak the tokens in one call; each token starts at its first word event."""
        text = " ".join(tokens)
        # 1-based character position where each token starts in `text`.
        token_positions: list[int] = []
        position = 1
        for token in tokens:
            token_positions.append(position)
            position += len(token) + 1
        with _LIBRARY.lock:
            if not _LIBRARY.load():
                raise StageError("voice", "engine_missing",
                                 "espeak-ng is not installed: run ./vf setup (or apt-get install "
                                 f"espeak-ng) — {_LIBRARY.load_error}")
            samples, events = _LIBRARY.synthesize(text, self.voice, self.rate_wpm)
            sample_rate = _LIBRARY.sample_rate
        starts: list[int | None] = [None] * len(tokens)
        for text_position, sample in events:
            # The token whose span holds this character; numbers emit several events,
            # the first one inside a token marks where it starts.
            index = _token_at(token_positions, text_position)
            if index is not None and starts[index] is None:
                starts[index] = sample
        return Speech(samples=samples, sample_rate=sample_rate, token_starts=tuple(starts))


def _token_at(positions: list[int], char_position: int) -> int | None:
    index = None
    for i, start in enumerate(positions):
        if start <= char_position:
            index = i
        else:
            break
    return index
