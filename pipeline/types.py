"""Data passed between stages; every type round-trips through JSON."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

# A stage reports how far it is, as a fraction in [0, 1], through this callback.
ProgressCallback = Callable[[float], None]


def no_progress(fraction: float) -> None:
    """Progress sink for callers that do not watch."""


class StageName(StrEnum):
    """The five stages; the value is the name used everywhere (task, DB row, API key)."""

    SCRIPT = "script"
    VOICE = "voice"
    CAPTIONS = "captions"
    RENDER = "render"
    PUBLISH = "publish"


class StageError(Exception):
    """A failure a user must see: which stage, a stable code, and what to do about it."""

    def __init__(self, stage: str, code: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage
        self.code = code
        self.message = message


@dataclass(frozen=True)
class IdeaSource:
    """A one-line idea typed by a user, in `language` (ISO 639-1; None: detect it)."""

    idea: str
    language: str | None = None
    points: tuple[str, ...] = ()  # what the video says about it, one scene each


@dataclass(frozen=True)
class Scene:
    """One beat of the script: what is said, and a short headline shown behind it.

    A product scene may carry a price badge (`price`, with the regular price `was_price`
    struck through on a sale) and name the visuals it shows (indices into the job's visuals);
    a scene without them shows the visuals in turn. `search_terms` say what stock footage
    would show it (2-4 short phrases, most specific first).
    """

    narration: str
    headline: str
    price: str = ""
    was_price: str = ""
    visuals: tuple[int, ...] = ()
    search_terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Script:
    """What the video says, scene by scene."""

    title: str
    scenes: tuple[Scene, ...]
    call_to_action: str
    hashtags: tuple[str, ...]
    language: str = "en"
    # "idea": headlines over generated backgrounds only; "product" and "compilation" show
    # them over the product's own pictures too.
    kind: str = "idea"
    # A price badge from after the title to the end card (one product); "" for none.
    price: str = ""
    was_price: str = ""
    # The end card's two lines; empty: the call to action and the hashtags.
    end_title: str = ""
    end_subtitle: str = ""
    # The text to post with the video (the publishers add credits and hashtags to it).
    caption: str = ""

    @property
    def narration(self) -> str:
        """The whole voiceover, scene after scene."""
        return " ".join(scene.narration for scene in self.scenes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Script:
        """Inverse of `to_dict`."""
        scenes = tuple(Scene(**{**scene, "visuals": tuple(scene.get("visuals") or ()),
                                 "search_terms": tuple(scene.get("search_terms") or ())})
                       for scene in data["scenes"])
        return cls(
            title=data["title"],
            scenes=scenes,
            call_to_action=data["call_to_action"],
            hashtags=tuple(data["hashtags"]),
            language=data.get("language", "en"),
            kind=data.get("kind", "idea"),
            price=data.get("price", ""),
            was_price=data.get("was_price", ""),
            end_title=data.get("end_title", ""),
            end_subtitle=data.get("end_subtitle", ""),
            caption=data.get("caption", ""),
        )


@dataclass(frozen=True)
class ScriptSource:
    """A script the user wrote: spoken exactly as written."""

    script: Script


# A scene's `visuals` naming only this shows a generated background there (a scene whose
# stock search found nothing), rather than another scene's media in turn.
GENERATED_VISUAL = -1


@dataclass(frozen=True)
class WordTiming:
    """A word of the script as written, and when it is spoken (seconds on the voice WAV)."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class SceneTiming:
    """When a scene's narration starts and ends on the voice WAV."""

    index: int
    start: float
    end: float


@dataclass(frozen=True)
class Voiceover:
    """The voice stage's result: its WAV's length, the words and the scenes on its timeline."""

    duration: float
    sample_rate: int
    words: tuple[WordTiming, ...]
    scenes: tuple[SceneTiming, ...]
    engine: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Voiceover:
        """Inverse of `to_dict`."""
        return cls(
            duration=data["duration"],
            sample_rate=data["sample_rate"],
            words=tuple(WordTiming(**w) for w in data["words"]),
            scenes=tuple(SceneTiming(**s) for s in data["scenes"]),
            engine=data["engine"],
        )


@dataclass(frozen=True)
class CaptionGroup:
    """Words shown together on screen; one of them is highlighted while it is spoken."""

    words: tuple[WordTiming, ...]
    start: float
    end: float

    @property
    def text(self) -> str:
        """The group as one line."""
        return " ".join(word.text for word in self.words)


@dataclass(frozen=True)
class MediaInfo:
    """What ffprobe says about a media file, parsed."""

    duration: float
    format_name: str
    video_codec: str | None = None
    video_profile: str | None = None
    width: int | None = None
    height: int | None = None
    pix_fmt: str | None = None
    frame_rate: str | None = None
    avg_frame_rate: str | None = None
    color_space: str | None = None
    color_primaries: str | None = None
    color_transfer: str | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    nb_video_frames: int | None = None
