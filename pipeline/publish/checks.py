"""Pre-publish checks: what TikTok, YouTube Shorts or Instagram Reels (through Postiz) would
refuse, found before uploading, each problem said with what was found and what is allowed.

Limits are the stricter of the platform's and Postiz's, since every post goes through both.
Sources, as of 2026:
- Postiz: upload at most 1 GiB and MP4 only (libraries/nestjs-libraries/src/upload/
  custom.upload.validation.ts); caption limits are each provider's `maxLength()`, counted
  after HTML is stripped, in JavaScript string length (UTF-16 code units): TikTok 2,000
  (libraries/nestjs-libraries/src/integrations/social/tiktok.provider.ts), YouTube 5,000,
  Instagram 2,200; YouTube titles 2-100 (dtos/posts/providers-settings/youtube.settings.dto.ts).
- TikTok: https://developers.tiktok.com/doc/content-posting-api-media-transfer-guide (video
  restrictions: MP4/MOV/WebM, H.264 recommended, at most 4 GB, up to 10 min where the
  creator's `max_video_post_duration_sec` allows; many accounts get 3-5 min) and
  https://developers.tiktok.com/doc/content-posting-api-reference-direct-post (caption up to
  2,200 UTF-16 runes). TikTok's reference gives no minimum; integrators document 3 s
  (e.g. https://docs.zernio.com/platforms/tiktok).
- YouTube: https://support.google.com/youtube/answer/15424877 (since 2024-10-15 a square or
  vertical video up to 3 min is a Short; wider or longer is a regular video) and
  https://developers.google.com/youtube/v3/docs/videos (title at most 100 characters,
  description at most 5,000 bytes, neither may contain < or >).
- Instagram: https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/
  reference/ig-user/media (Reels: MP4/MOV, H.264 or HEVC, AAC, 3 s-15 min, 300 MB (some
  copies of the page say 1 GB; we take the lower), aspect 0.01:1-10:1 with 9:16
  recommended; captions at most 2,200 characters and 30 hashtags).

Beyond the platforms' rules we ask for what our renderer makes and every platform plays
natively: 9:16 and H.264/AAC. A wider clip is accepted by TikTok and Instagram but shown
letterboxed, and YouTube does not count it as a Short.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.publish.postiz import MAX_UPLOAD_BYTES
from pipeline.tools import probe

VERTICAL = 9 / 16
ASPECT_TOLERANCE = 0.01  # 1080x1916 passes; 1080x1350 (4:5) does not


@dataclass(frozen=True)
class VideoInfo:
    """The facts about a finished video that the checks need."""

    duration: float
    width: int | None
    height: int | None
    video_codec: str | None
    audio_codec: str | None
    size_bytes: int

    @classmethod
    def from_probe(cls, path: Path, ffprobe: str = "ffprobe") -> VideoInfo:
        """Read them with ffprobe (through pipeline.tools.probe) and the file's size."""
        info = probe(path, ffprobe=ffprobe)
        return cls(duration=info.duration, width=info.width, height=info.height,
                   video_codec=info.video_codec, audio_codec=info.audio_codec,
                   size_bytes=Path(path).stat().st_size)


@dataclass(frozen=True)
class PlatformRules:
    """What one destination accepts."""

    label: str
    min_seconds: float
    max_seconds: float
    max_bytes: int
    caption_max: int                 # UTF-16 code units, as Postiz counts
    caption_max_utf8: int | None = None
    max_hashtags: int | None = None
    title: tuple[int, int] | None = None
    no_angle_brackets: bool = False


RULES: dict[str, PlatformRules] = {
    "tiktok": PlatformRules("TikTok", 3.0, 600.0, MAX_UPLOAD_BYTES, caption_max=2000),
    "youtube": PlatformRules("YouTube Shorts", 0.0, 180.0, MAX_UPLOAD_BYTES, caption_max=5000,
                             caption_max_utf8=5000, title=(2, 100), no_angle_brackets=True),
    "instagram": PlatformRules("Instagram Reels", 3.0, 900.0, 300 * 1000 * 1000,
                               caption_max=2200, max_hashtags=30),
}

_HASHTAG = re.compile(r"(?<![\w#])#\w+")


def check_for_platform(platform: str, video_info: VideoInfo, caption: str,
                       title: str | None = None) -> list[str]:
    """Every reason `platform` would refuse this video, caption and title; empty when none.

    Pass the caption as it will be sent (`postiz_posts.caption_with_marker`), since the
    marker counts towards the limit. `title` matters for YouTube only.
    """
    try:
        rules = RULES[platform]
    except KeyError:
        raise ValueError(f"platform: {platform!r} is not one of {', '.join(RULES)}") from None
    return [*_video_problems(rules, video_info), *_caption_problems(rules, caption),
            *_title_problems(rules, title)]


def _video_problems(rules: PlatformRules, video: VideoInfo) -> list[str]:
    problems = []
    if video.duration <= 0:
        problems.append("duration: unknown (ffprobe found none)")
    elif video.duration < rules.min_seconds:
        problems.append(f"duration: {video.duration:.1f} s; {rules.label} needs at least "
                        f"{rules.min_seconds:g} s")
    elif video.duration > rules.max_seconds:
        problems.append(f"duration: {video.duration:.1f} s; {rules.label} allows at most "
                        f"{rules.max_seconds:g} s")
    if video.size_bytes > rules.max_bytes:
        problems.append(f"size: {video.size_bytes} bytes is over the {rules.max_bytes} bytes "
                        f"allowed for {rules.label}")
    if not video.width or not video.height:
        problems.append("video: no video stream found")
    elif abs(video.width / video.height - VERTICAL) > ASPECT_TOLERANCE:
        problems.append(f"aspect: {_aspect(video.width, video.height)} ({video.width}x"
                        f"{video.height}); {rules.label} needs vertical 9:16, e.g. 1080x1920")
    if video.video_codec and video.video_codec != "h264":
        problems.append(f"video codec: {video.video_codec}; publish H.264")
    if not video.audio_codec:
        problems.append("audio: no audio track (every video we make has narration)")
    elif video.audio_codec != "aac":
        problems.append(f"audio codec: {video.audio_codec}; publish AAC")
    return problems


def _caption_problems(rules: PlatformRules, caption: str) -> list[str]:
    problems = []
    length = len(caption.encode("utf-16-le")) // 2
    if length > rules.caption_max:
        problems.append(f"caption: {length} characters; {rules.label} through Postiz allows "
                        f"{rules.caption_max}")
    size = len(caption.encode("utf-8"))
    if rules.caption_max_utf8 is not None and size > rules.caption_max_utf8:
        problems.append(f"caption: {size} bytes in UTF-8; {rules.label} allows "
                        f"{rules.caption_max_utf8} bytes")
    hashtags = len(_HASHTAG.findall(caption))
    if rules.max_hashtags is not None and hashtags > rules.max_hashtags:
        problems.append(f"caption: {hashtags} hashtags; {rules.label} allows "
                        f"{rules.max_hashtags}")
    if rules.no_angle_brackets and ("<" in caption or ">" in caption):
        problems.append(f"caption: contains < or >, which {rules.label} refuses")
    return problems


def _title_problems(rules: PlatformRules, title: str | None) -> list[str]:
    if rules.title is None:
        return []
    low, high = rules.title
    length = len((title or "").encode("utf-16-le")) // 2
    problems = []
    if not low <= length <= high:
        problems.append(f"title: {length} characters; {rules.label} titles are "
                        f"{low}-{high} characters")
    if rules.no_angle_brackets and title and ("<" in title or ">" in title):
        problems.append(f"title: contains < or >, which {rules.label} refuses")
    return problems


def _aspect(width: int, height: int) -> str:
    """16:9 for 1920x1080; 0.563:1 where the reduced ratio has no small terms."""
    divisor = math.gcd(width, height)
    w, h = width // divisor, height // divisor
    return f"{w}:{h}" if max(w, h) <= 64 else f"{width / height:.3f}:1"
