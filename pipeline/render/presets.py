"""Platform presets: what each destination accepts and where its UI covers the video."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SafeZone:
    """Fractions of the frame that the platform's own buttons and captions cover."""

    top: float
    bottom: float
    left: float
    right: float


@dataclass(frozen=True)
class Preset:
    """Output format of one platform."""

    name: str
    width: int
    height: int
    fps: int
    min_duration: float
    max_duration: float
    safe_zone: SafeZone
    video_crf: int = 21
    video_preset: str = "veryfast"
    video_maxrate_kbps: int = 8000
    keyframe_seconds: float = 2.0
    audio_rate: int = 48000
    audio_bitrate_kbps: int = 192  # nominal; the AAC encoder averages lower on speech

    @property
    def vertical(self) -> bool:
        """Taller than wide."""
        return self.height > self.width


_SHORT_FORM_UI = SafeZone(top=0.10, bottom=0.20, left=0.05, right=0.15)
_LANDSCAPE_UI = SafeZone(top=0.05, bottom=0.12, left=0.05, right=0.05)

DEFAULT_PRESET = "tiktok"  # a job's preset when neither the request nor its profile names one
PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset("tiktok", 1080, 1920, 30, 15.0, 600.0, _SHORT_FORM_UI),
        Preset("reels", 1080, 1920, 30, 15.0, 180.0, _SHORT_FORM_UI),
        Preset("shorts", 1080, 1920, 30, 15.0, 60.0, _SHORT_FORM_UI),
        Preset("square", 1080, 1080, 30, 15.0, 600.0, _LANDSCAPE_UI),
        Preset("landscape", 1920, 1080, 30, 15.0, 3600.0, _LANDSCAPE_UI),
    )
}


def get_preset(name: str) -> Preset:
    """Look a preset up by the name users type; KeyError lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; use one of {', '.join(PRESETS)}") from None
