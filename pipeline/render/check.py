"""Check a rendered file against its platform preset, listing every way it misses.

Each violation reads `<property>: found <value>, want <value>`; the property names are stable
(see PROPERTIES), so callers and tests can tell which rule a file broke.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from pipeline.render.audio_mix import (
    LUFS_TOLERANCE,
    MAX_TRUE_PEAK_DBTP,
    TARGET_LUFS,
    measure_loudness,
)
from pipeline.render.presets import Preset
from pipeline.tools import ToolError, probe, run
from pipeline.types import MediaInfo

PROPERTIES = (
    "file", "resolution", "fps", "video_codec", "profile", "pix_fmt", "color_space",
    "color_primaries", "color_transfer", "audio_codec", "sample_rate", "channels",
    "audio_bitrate", "faststart", "duration", "loudness", "true_peak",
)

MIN_AUDIO_BITRATE = 128_000
_BT709 = "bt709"


def top_level_atoms(path: Path) -> list[str]:
    """The MP4's top-level box types in file order (stops at a truncated or zero-size box)."""
    atoms: list[str] = []
    size_on_disk = path.stat().st_size
    with path.open("rb") as handle:
        offset = 0
        while offset + 8 <= size_on_disk:
            handle.seek(offset)
            size, kind = struct.unpack(">I4s", handle.read(8))
            if size == 1:  # 64-bit size follows the type
                large = handle.read(8)
                if len(large) < 8:
                    break
                size = struct.unpack(">Q", large)[0]
            elif size == 0:  # the box runs to the end of the file
                size = size_on_disk - offset
            atoms.append(kind.decode("latin-1"))
            if size < 8:
                break  # corrupt; walking on would loop
            offset += size
    return atoms


# An AAC frame of digital silence takes a few bytes whatever the bit rate asked for; frames
# this small carry no sound and are left out of the rate, so pauses and a silent end card
# do not make a well-encoded voice look starved.
_SILENT_FRAME_BYTES = 32
_AAC_FRAME_SAMPLES = 1024


def _audio_bitrate(path: Path, duration: float, *, ffprobe: str, timeout: float) -> int | None:
    """The first audio stream's bit rate while it carries sound (packet bytes over time)."""
    out = run([ffprobe, "-v", "error", "-select_streams", "a:0", "-show_entries",
               "stream=sample_rate", "-print_format", "json", str(path)], timeout=timeout)
    streams = json.loads(out).get("streams", [])
    if not streams:
        return None
    rate = int(streams[0].get("sample_rate") or 48000)
    packets = run([ffprobe, "-v", "error", "-select_streams", "a:0", "-show_entries",
                   "packet=size", "-print_format", "csv=p=0", str(path)], timeout=timeout)
    sizes = [int(line) for line in packets.split() if line.strip().isdigit()]
    sounding = [size for size in sizes if size > _SILENT_FRAME_BYTES]
    if not sounding:
        return None
    seconds = len(sounding) * _AAC_FRAME_SAMPLES / rate
    return round(sum(sounding) * 8 / seconds)


def _found(value: object) -> str:
    return "unset" if value in (None, "", "unknown") else str(value)


def _video_violations(info: MediaInfo, preset: Preset) -> list[str]:
    if info.video_codec is None:
        return ["video_codec: found no video stream, want h264"]
    problems = []
    if (info.width, info.height) != (preset.width, preset.height):
        problems.append(f"resolution: found {info.width}x{info.height}, "
                        f"want {preset.width}x{preset.height}")
    fps = f"{preset.fps}/1"
    if info.frame_rate != fps or info.avg_frame_rate != fps:
        problems.append(f"fps: found r_frame_rate {_found(info.frame_rate)} and avg_frame_rate "
                        f"{_found(info.avg_frame_rate)}, want constant {fps}")
    if info.video_codec != "h264":
        problems.append(f"video_codec: found {info.video_codec}, want h264")
    if info.video_profile != "High":
        problems.append(f"profile: found {_found(info.video_profile)}, want High")
    if info.pix_fmt != "yuv420p":
        problems.append(f"pix_fmt: found {_found(info.pix_fmt)}, want yuv420p")
    for name in ("color_space", "color_primaries", "color_transfer"):
        if getattr(info, name) != _BT709:
            problems.append(f"{name}: found {_found(getattr(info, name))}, want {_BT709}")
    return problems


def _audio_violations(path: Path, info: MediaInfo, preset: Preset, *, ffprobe: str,
                      ffmpeg: str, timeout: float) -> list[str]:
    if info.audio_codec is None:
        return ["audio_codec: found no audio stream, want aac"]
    problems = []
    if info.audio_codec != "aac":
        problems.append(f"audio_codec: found {info.audio_codec}, want aac")
    if info.sample_rate != preset.audio_rate:
        problems.append(f"sample_rate: found {_found(info.sample_rate)} Hz, "
                        f"want {preset.audio_rate} Hz")
    if info.channels != 2:
        problems.append(f"channels: found {_found(info.channels)}, want 2")
    bitrate = _audio_bitrate(path, info.duration, ffprobe=ffprobe, timeout=timeout)
    if bitrate is None or bitrate < MIN_AUDIO_BITRATE:
        shown = "unknown" if bitrate is None else f"{bitrate / 1000:.0f} kb/s"
        problems.append(f"audio_bitrate: found {shown}, want >= {MIN_AUDIO_BITRATE // 1000} kb/s")
    loudness = measure_loudness(path, ffmpeg=ffmpeg, timeout=timeout)
    if abs(loudness.integrated_lufs - TARGET_LUFS) > LUFS_TOLERANCE:
        problems.append(f"loudness: found {loudness.integrated_lufs:.1f} LUFS, "
                        f"want {TARGET_LUFS:.0f} ± {LUFS_TOLERANCE:.0f} LUFS")
    if loudness.true_peak_dbtp > MAX_TRUE_PEAK_DBTP:
        problems.append(f"true_peak: found {loudness.true_peak_dbtp:.1f} dBTP, "
                        f"want <= {MAX_TRUE_PEAK_DBTP:.0f} dBTP")
    return problems


def check_output(
    path: Path,
    preset: Preset,
    *,
    expected_duration: float | None = None,
    tolerance: float = 0.25,
    ffprobe: str = "ffprobe",
    ffmpeg: str = "ffmpeg",
    timeout: float = 120.0,
) -> list[str]:
    """Every way the MP4 at `path` misses the preset; an empty list means it meets it."""
    try:
        info = probe(path, ffprobe=ffprobe, timeout=timeout)
    except ToolError as exc:
        if exc.returncode in (None, 127):  # a missing or hung tool is not the file's fault
            raise
        return [f"file: found unreadable ({exc}), want an MP4 that ffprobe can read"]
    problems = _video_violations(info, preset)
    problems += _audio_violations(path, info, preset, ffprobe=ffprobe, ffmpeg=ffmpeg,
                                  timeout=timeout)
    atoms = top_level_atoms(path)
    if "moov" not in atoms or "mdat" not in atoms or atoms.index("moov") > atoms.index("mdat"):
        problems.append(f"faststart: found top-level boxes {' '.join(atoms)}, "
                        "want moov before mdat")
    if info.duration > preset.max_duration:
        problems.append(f"duration: found {info.duration:.2f} s, "
                        f"want <= {preset.max_duration:g} s")
    if expected_duration is not None and abs(info.duration - expected_duration) > tolerance:
        problems.append(f"duration: found {info.duration:.2f} s, "
                        f"want {expected_duration:.2f} ± {tolerance:g} s")
    return problems
