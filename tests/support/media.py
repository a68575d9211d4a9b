"""Measurements on real media files, shared by the tests."""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import numpy as np

from pipeline.tools import probe
from pipeline.types import MediaInfo


def top_level_atoms(path: Path) -> list[str]:
    """The MP4's top-level box types in file order."""
    atoms = []
    with path.open("rb") as handle:
        while header := handle.read(8):
            if len(header) < 8:
                break
            size, kind = struct.unpack(">I4s", header)
            if size == 1:
                size = struct.unpack(">Q", handle.read(8))[0]
                handle.seek(size - 16, 1)
            elif size == 0:
                atoms.append(kind.decode("latin-1"))
                break
            else:
                handle.seek(size - 8, 1)
            atoms.append(kind.decode("latin-1"))
    return atoms


def mean_volume_db(path: Path) -> float:
    """ffmpeg volumedetect's mean volume of the whole file."""
    done = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-i", str(path), "-af",
                           "volumedetect", "-vn", "-f", "null", "-"],
                          capture_output=True, text=True, timeout=120, check=True)
    match = re.search(r"mean_volume: (-?[\d.]+) dB", done.stderr)
    assert match, done.stderr[-500:]
    return float(match.group(1))


def frame_at(path: Path, seconds: float, width: int, height: int) -> np.ndarray:
    """The decoded RGB frame shown at `seconds`, as an array of shape (height, width, 3)."""
    done = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-ss", f"{seconds:.3f}", "-i",
                           str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24",
                           "-"], capture_output=True, timeout=60, check=True)
    return np.frombuffer(done.stdout, np.uint8).reshape(height, width, 3)


def band_difference(a: np.ndarray, b: np.ndarray, top: float, bottom: float) -> float:
    """Mean absolute pixel difference inside a horizontal band (fractions of the height)."""
    h = a.shape[0]
    rows = slice(int(h * top), int(h * bottom))
    return float(np.abs(a[rows].astype(np.int16) - b[rows].astype(np.int16)).mean())


def tiktok_violations(path: Path) -> list[str]:
    """Every way the file misses the issue's tiktok contract (empty when it meets it)."""
    info: MediaInfo = probe(path)
    wanted = {
        "width": 1080, "height": 1920, "video_codec": "h264", "video_profile": "High",
        "pix_fmt": "yuv420p", "frame_rate": "30/1", "avg_frame_rate": "30/1",
        "audio_codec": "aac", "channels": 2,
    }
    problems = [f"{k}={getattr(info, k)!r}, want {v!r}" for k, v in wanted.items()
                if getattr(info, k) != v]
    if info.sample_rate not in (44100, 48000):
        problems.append(f"sample_rate={info.sample_rate}")
    if not 15.0 <= info.duration <= 60.0:
        problems.append(f"duration={info.duration:.2f}s, want 15-60 s")
    atoms = top_level_atoms(path)
    if "moov" not in atoms or "mdat" not in atoms or atoms.index("moov") > atoms.index("mdat"):
        problems.append(f"moov must come before mdat (faststart): {atoms}")
    return problems
