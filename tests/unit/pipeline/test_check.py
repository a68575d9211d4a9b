"""check_output: a compliant file passes, and each broken property is named in the violations."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from pipeline.render.check import PROPERTIES, check_output, top_level_atoms
from pipeline.render.presets import Preset, get_preset

WIDTH, HEIGHT, SECONDS = 160, 284, 2
# Pink noise plus a tone, gained to about -14 LUFS with its true peak near -5.5 dBTP.
_AUDIO_GAIN_DB = 6.2

_COMPLIANT_VIDEO = ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high",
                    "-pix_fmt", "yuv420p", "-r", "30"]
_BT709_TAGS = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"]
_COMPLIANT_AUDIO = ["-c:a", "aac", "-ar", "48000", "-ac", "2", "-b:a", "160k"]
_FASTSTART = ["-movflags", "+faststart"]


def _encode(out: Path, *, video: list[str] | None = None, tags: list[str] | None = None,
            audio: list[str] | None = None, mux: list[str] | None = None,
            size: tuple[int, int] = (WIDTH, HEIGHT), gain_db: float = _AUDIO_GAIN_DB,
            click: bool = False) -> Path:
    """Encode the test pattern with the compliant settings, or with the ones given instead."""
    sources = ["-f", "lavfi", "-i", f"testsrc2=size={size[0]}x{size[1]}:rate=30:d={SECONDS}",
               "-f", "lavfi", "-i", f"anoisesrc=color=pink:r=48000:d={SECONDS}:a=0.3:seed=7",
               "-f", "lavfi", "-i", f"sine=f=330:r=48000:d={SECONDS}"]
    mixed = "[1:a][2:a]amix=inputs=2:normalize=0"
    if click:  # a 2 ms full-scale burst: true peak near 0 dBTP, loudness unchanged
        sources += ["-f", "lavfi", "-i",
                    f"aevalsrc='if(between(t,1,1.002),0.99*sin(2*PI*3000*t),0)':s=48000:"
                    f"d={SECONDS}"]
        mixed = f"{mixed}[music];[music][3:a]amix=inputs=2:normalize=0"
    graph = f"{mixed},volume={gain_db}dB,aformat=channel_layouts=stereo[a]"
    argv = ["ffmpeg", "-nostdin", "-v", "error", "-y", *sources, "-filter_complex", graph,
            "-map", "0:v", "-map", "[a]",
            *(_COMPLIANT_VIDEO if video is None else video),
            *(_BT709_TAGS if tags is None else tags),
            *(_COMPLIANT_AUDIO if audio is None else audio),
            *(_FASTSTART if mux is None else mux), str(out)]
    subprocess.run(argv, check=True, timeout=60)
    return out


@pytest.fixture(scope="module")
def preset() -> Preset:
    """The tiktok preset at 160×284, so test videos encode in a blink."""
    return dataclasses.replace(get_preset("tiktok"), width=WIDTH, height=HEIGHT)


@pytest.fixture(scope="module")
def compliant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s MP4 that meets every rule of the preset."""
    return _encode(tmp_path_factory.mktemp("check") / "ok.mp4")


def _named(violations: list[str]) -> set[str]:
    """The property each violation names (the text before its first colon)."""
    names = {v.split(":", 1)[0] for v in violations}
    assert names <= set(PROPERTIES), violations
    return names


def test_compliant_file_has_no_violations(compliant: Path, preset: Preset) -> None:
    """A file built to the preset's contract passes, also against its expected duration."""
    assert check_output(compliant, preset, expected_duration=SECONDS) == []


_VARIANTS: dict[str, tuple[dict[str, object], set[str]]] = {
    "no_faststart": ({"mux": []}, {"faststart"}),
    "25_fps": ({"video": [*_COMPLIANT_VIDEO[:-1], "25"]}, {"fps"}),
    "baseline": ({"video": ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline",
                            "-pix_fmt", "yuv420p", "-r", "30"]}, {"profile"}),
    # libx264 cannot encode 4:4:4 in High, so the profile changes with it.
    "yuv444p": ({"video": ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high444",
                           "-pix_fmt", "yuv444p", "-r", "30"]}, {"pix_fmt", "profile"}),
    "hevc": ({"video": ["-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                        "-r", "30", "-x265-params", "log-level=error"]},
             {"video_codec", "profile"}),
    "untagged_colour": ({"tags": []}, {"color_space", "color_primaries", "color_transfer"}),
    "wrong_size": ({"size": (176, 320)}, {"resolution"}),
    # The source is mono made stereo at -3 dB a side; folding it back keeps the loudness.
    "mono": ({"audio": ["-c:a", "aac", "-ar", "48000", "-ac", "1", "-b:a", "160k"]},
             {"channels"}),
    "44_1_khz": ({"audio": ["-c:a", "aac", "-ar", "44100", "-ac", "2", "-b:a", "160k"]},
                 {"sample_rate"}),
    "mp3_audio": ({"audio": ["-c:a", "libmp3lame", "-ar", "48000", "-ac", "2", "-b:a", "160k"]},
                  {"audio_codec"}),
    "96_kbps": ({"audio": ["-c:a", "aac", "-ar", "48000", "-ac", "2", "-b:a", "96k"]},
                {"audio_bitrate"}),
    "too_loud": ({"gain_db": _AUDIO_GAIN_DB + 4.0}, {"loudness"}),
    "too_quiet": ({"gain_db": _AUDIO_GAIN_DB - 4.0}, {"loudness"}),
    "peaky": ({"click": True}, {"true_peak"}),
}


@pytest.mark.parametrize(("change", "broken"), list(_VARIANTS.values()), ids=list(_VARIANTS))
def test_each_broken_property_is_named(tmp_path: Path, preset: Preset,
                                       change: dict[str, object], broken: set[str]) -> None:
    """A file that differs from the compliant one in one setting is flagged for exactly that."""
    path = _encode(tmp_path / "variant.mp4", **change)  # type: ignore[arg-type]
    violations = check_output(path, preset, expected_duration=SECONDS)
    assert _named(violations) == broken, violations
    for violation in violations:
        assert "found" in violation and "want" in violation


def test_violation_text_names_found_and_wanted_values(tmp_path: Path, preset: Preset) -> None:
    """A 25 fps file's violation shows the rate found and the constant rate wanted."""
    path = _encode(tmp_path / "v.mp4", video=[*_COMPLIANT_VIDEO[:-1], "25"])
    assert check_output(path, preset) == [
        "fps: found r_frame_rate 25/1 and avg_frame_rate 25/1, want constant 30/1"]


def test_no_faststart_is_seen_in_the_atoms(tmp_path: Path, compliant: Path) -> None:
    """The atom walker sees moov first with faststart and after mdat without it."""
    slow = _encode(tmp_path / "slow.mp4", mux=[])
    assert top_level_atoms(compliant).index("moov") < top_level_atoms(compliant).index("mdat")
    assert top_level_atoms(slow).index("moov") > top_level_atoms(slow).index("mdat")


def test_too_long_for_the_preset(compliant: Path, preset: Preset) -> None:
    """A file longer than the platform's maximum is flagged on duration."""
    short_platform = dataclasses.replace(preset, max_duration=1.5)
    violations = check_output(compliant, short_platform)
    assert violations == ["duration: found 2.00 s, want <= 1.5 s"]


def test_duration_other_than_expected(compliant: Path, preset: Preset) -> None:
    """A file whose length misses the expected one by more than the tolerance is flagged."""
    assert _named(check_output(compliant, preset, expected_duration=3.0)) == {"duration"}
    assert check_output(compliant, preset, expected_duration=2.2) == []


def test_missing_audio_stream(tmp_path: Path, compliant: Path, preset: Preset) -> None:
    """A video without sound is reported as lacking its audio stream."""
    path = tmp_path / "mute.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(compliant), "-map", "0:v",
                    "-c", "copy", "-movflags", "+faststart", str(path)], check=True, timeout=60)
    assert check_output(path, preset) == ["audio_codec: found no audio stream, want aac"]


def test_unreadable_file(tmp_path: Path, preset: Preset) -> None:
    """A file ffprobe cannot read gives one `file` violation instead of an exception."""
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00" * 64)
    assert _named(check_output(path, preset)) == {"file"}
