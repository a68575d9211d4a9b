"""The soundtrack: voice over a ducked, faded music bed, loudness-normalised for the platforms.

`mix_audio` runs ffmpeg a few times, each run built as data and run through `pipeline.tools`:

1. measure the voice (and the music) with ebur128, so the music bed and the ducking key are set
   relative to how loud the narrator actually is, not to whatever level the TTS engine or the
   music file happens to have;
2. build the bed: the voice padded to the video's length and gently compressed, the music
   looped and trimmed to it, clip sound laid in at its place on the timeline, music and clips
   ducked under the (uncompressed) voice with `sidechaincompress`, the music faded in and out,
   all mixed to 48 kHz stereo (float, so nothing clips before the gain stage) and measured in
   the same run; the voice itself bypasses the compressor and is never ducked;
3. normalise: one gain to the target integrated loudness followed by a true-peak limiter that
   runs at 4× the sample rate (the oversampling ebur128 uses to find true peaks), measured in
   the same run; if the limiter took the loudness off target, the gain is corrected and the pass
   repeated.

We do not use `loudnorm`'s second pass: its linear mode refuses whenever the gain would push the
peaks over the ceiling, which is the usual case for speech at -14 LUFS (espeak's voice has a
peak-to-loudness ratio near 18 dB), and its dynamic fallback misses the target by more than
half a LU on clips of a few seconds.

Measurements come from ffmpeg's `ebur128` filter. Its end-of-run summary goes to stderr, which
`tools.run` only hands back on failure, so we ask it for the same numbers as frame metadata
(`metadata=1`) and print those to stdout with `ametadata`; the last frame holds the totals.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pipeline.tools import probe, run

# What every platform preset asks of the soundtrack (the numbers).
TARGET_LUFS = -14.0
LUFS_TOLERANCE = 1.0
MAX_TRUE_PEAK_DBTP = -1.0

DEFAULT_MUSIC_GAIN_DB = -12.0  # the music bed this far under the voice, before ducking
MUSIC_EXTENSIONS = frozenset({".mp3", ".m4a", ".aac", ".wav", ".ogg", ".opus", ".flac"})

# ebur128 reports -70 LUFS (its absolute gate) for a file with nothing above the gate.
SILENCE_LUFS = -70.0

# Clip sound segments this close to one clock are one file playing on.
_JOIN_SLACK_S = 0.002
# The ducking key runs this far ahead of the voice, so the music is already down when the first
# syllable lands instead of 20 ms into it.
_KEY_LEAD_S = 0.05
# The compressor's threshold; the key is scaled so that speech sits a fixed height above it.
_KEY_THRESHOLD_DB = -50.0
# How far (in dB) the ducking may miss `duck_db` on speech at the voice's integrated loudness.
_DUCK_PRECISION_DB = 0.5
# The voice compressor starts this far below the voice's integrated loudness.
_VOICE_COMPRESS_BELOW_DB = 4.0
# Clip sound fades in and out this fast so its cut points do not click.
_CLIP_EDGE_FADE_S = 0.05
# Above this many LU off target after a normalisation pass, correct the gain and run again.
_NORMALISE_SLACK_LU = 0.15
_NORMALISE_PASSES = 4
# With an AAC bit rate given, the encoded mix is measured, and limited harder while its true
# peak is within this margin of the limit (at most this many more passes).
_AAC_MARGIN_DB = 0.2
_AAC_PASSES = 3


@dataclass(frozen=True)
class LoudnessReport:
    """EBU R128 measurements of a file: integrated loudness, true peak, loudness range."""

    integrated_lufs: float
    true_peak_dbtp: float
    lra: float


def pick_music(tracks: Sequence[str], seed: str) -> str | None:
    """Choose one audio track (by name or key), the same one for the same seed; None if none."""
    usable = sorted(t for t in tracks if PurePosixPath(t).suffix.lower() in MUSIC_EXTENSIONS)
    if not usable:
        return None
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    return usable[int.from_bytes(digest[:8], "big") % len(usable)]


# --- measuring ---------------------------------------------------------------------------------


def _meter_filter() -> str:
    # The padding completes ebur128's last 100 ms block, so the last frame's metadata covers the
    # whole input (silence is below the absolute gate and does not move the integrated value).
    return ("apad=pad_dur=0.1,ebur128=peak=true:metadata=1:framelog=verbose,"
            "ametadata=mode=print:file=-")


def _parse_meter(text: str) -> LoudnessReport:
    """The totals from `ametadata` printing ebur128's frame metadata (the last value wins)."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.startswith("lavfi.r128."):
            try:
                values[key] = float(value)
            except ValueError:
                continue
    if "lavfi.r128.I" not in values:
        raise ValueError("ebur128 reported no loudness (is there an audio stream?)")
    peak = values.get("lavfi.r128.true_peak", 0.0)
    return LoudnessReport(
        integrated_lufs=values["lavfi.r128.I"],
        true_peak_dbtp=20 * math.log10(peak) if peak > 0 else -math.inf,
        lra=values.get("lavfi.r128.LRA", 0.0),
    )


def measure_loudness(path: Path, *, ffmpeg: str = "ffmpeg", timeout: float = 120.0,
                     max_seconds: float | None = None) -> LoudnessReport:
    """Measure the first audio stream of `path` with ffmpeg's ebur128 (true-peak mode)."""
    return _measure(path, ffmpeg=ffmpeg, timeout=timeout, max_seconds=max_seconds)


def _measure(path: Path, *, ffmpeg: str, timeout: float, max_seconds: float | None = None,
             before: str = "") -> LoudnessReport:
    """Measure `path` after the filters in `before` (e.g. the conversion the bed applies)."""
    limit = ["-t", f"{max_seconds:.3f}"] if max_seconds is not None else []
    meter = f"{before},{_meter_filter()}" if before else _meter_filter()
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-nostats", "-v", "error", *limit,
            "-i", str(path), "-map", "0:a:0", "-af", meter, "-f", "null", "-"]
    return _parse_meter(run(argv, timeout=timeout))


# --- the bed -----------------------------------------------------------------------------------


def _db(gain_db: float) -> str:
    return f"volume={gain_db:.3f}dB"


def _to_float_stereo(sample_rate: int) -> str:
    return f"aresample={sample_rate},aformat=sample_fmts=flt:channel_layouts=stereo"


def _fit(duration: float) -> str:
    """Pad with silence or cut, so the stream lasts exactly `duration` seconds."""
    return f"apad=whole_dur={duration:.6f},atrim=end={duration:.6f},asetpts=PTS-STARTPTS"


def _sidechain(duck_db: float, key_gain_db: float) -> tuple[str, str]:
    """The key's gain filter and a sidechaincompress that ducks by `duck_db` during speech.

    `mix` blends the compressed and the dry signal, so however hard the compressor clamps, the
    bed never drops more than `duck_db`: out = bed * (gain * mix + 1 - mix). Driving the
    compressor far past the threshold (ratio 20, speech `headroom` dB above it) makes the depth
    that cap rather than something that depends on each syllable's level.
    """
    dry = 10 ** (-duck_db / 20)
    mix = 1 - dry
    # compressor gain needed for the blend to be within _DUCK_PRECISION_DB of the cap
    needed_gain = dry * (10 ** (_DUCK_PRECISION_DB / 20) - 1) / mix
    reduction_db = -20 * math.log10(needed_gain)
    headroom = reduction_db / (1 - 1 / 20) + 3  # + 3 dB for syllables quieter than average
    threshold = 10 ** (_KEY_THRESHOLD_DB / 20)
    return (
        _db(key_gain_db + headroom),
        f"sidechaincompress=threshold={threshold:.6f}:ratio=20:attack=20:release=400"
        f":detection=rms:mix={mix:.6f}",
    )


def _voice_compressor(voice_lufs: float) -> str:
    """Gentle compression from just below the voice's loudness up, so its peaks need less limiting.

    TTS speech peaks 15-18 dB above its loudness; at -14 LUFS and -1 dBTP only 13 dB fit, and a
    limiter alone would flatten every stressed syllable. Ratio 3 on the loud syllables takes
    most of that off first, and the limiter only trims what remains.
    """
    threshold = 10 ** (min(-1.0, voice_lufs - _VOICE_COMPRESS_BELOW_DB) / 20)
    return (f"acompressor=threshold={max(threshold, 0.001):.6f}:ratio=3:attack=5:release=80"
            ":knee=4")


def _bed_args(
    voice_wav: Path, out_wav: Path, *, duration: float, music: Path | None,
    clips: Sequence[tuple[Path, float, float, float]], music_gain_db: float, clip_gain_db: float,
    duck_db: float, voice_lufs: float, fade_in: float, fade_out: float, sample_rate: int,
    ffmpeg: str,
) -> list[str]:
    """ffmpeg argv that writes the mixed, ducked, unnormalised bed and prints its loudness."""
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-nostats", "-v", "error", "-y",
            "-i", str(voice_wav)]
    chains: list[str] = []
    under: list[str] = []  # labels of everything that ducks under the voice
    if music is not None:
        argv += ["-stream_loop", "-1", "-i", str(music)]
        # The input loops forever (-stream_loop -1); _fit's atrim is what ends it.
        music_chain = f"[1:a]{_to_float_stereo(sample_rate)},{_fit(duration)},{_db(music_gain_db)}"
        if fade_in > 0:
            music_chain += f",afade=t=in:st=0:d={fade_in:.3f}"
        if fade_out > 0:
            music_chain += f",afade=t=out:st={max(0.0, duration - fade_out):.6f}:d={fade_out:.3f}"
        chains.append(music_chain + "[music]")
        under.append("[music]")
    first_clip = 2 if music is not None else 1
    for k, (path, start, in_point, length) in enumerate(clips):
        argv += ["-ss", f"{in_point:.3f}", "-t", f"{length:.3f}", "-i", str(path)]
        edge = min(_CLIP_EDGE_FADE_S, length / 2)
        delay_ms = max(0, round(start * 1000))
        chains.append(
            f"[{first_clip + k}:a]{_to_float_stereo(sample_rate)},asetpts=PTS-STARTPTS,"
            f"afade=t=in:st=0:d={edge:.3f},afade=t=out:st={max(0.0, length - edge):.3f}"
            f":d={edge:.3f},{_db(clip_gain_db)},adelay={delay_ms}:all=1[clip{k}]"
        )
        under.append(f"[clip{k}]")
    voice = f"[0:a]{_to_float_stereo(sample_rate)},{_fit(duration)}"
    if under:
        key_gain, compressor = _sidechain(duck_db, _KEY_THRESHOLD_DB - voice_lufs)
        chains.append(f"{voice},asplit=2[voicesrc][keysrc]")
        chains.append(f"[voicesrc]{_voice_compressor(voice_lufs)}[voice]")
        chains.append(f"[keysrc]atrim=start={_KEY_LEAD_S},asetpts=PTS-STARTPTS,{key_gain},"
                      f"{_fit(duration)}[key]")
        if len(under) > 1:
            chains.append(f"{''.join(under)}amix=inputs={len(under)}:normalize=0:"
                          f"duration=longest,{_fit(duration)}[under]")
        else:
            chains.append(f"{under[0]}anull[under]")
        chains.append(f"[under][key]{compressor}[ducked]")
        chains.append("[voice][ducked]amix=inputs=2:normalize=0:duration=first[mixed]")
    else:
        chains.append(f"{voice},{_voice_compressor(voice_lufs)}[mixed]")
    chains.append("[mixed]asplit=2[out][meter]")
    chains.append(f"[meter]{_meter_filter()},anullsink")
    return argv + ["-filter_complex", ";".join(chains), "-map", "[out]",
                   "-c:a", "pcm_f32le", "-ar", str(sample_rate), "-ac", "2",
                   "-t", f"{duration:.6f}", "-f", "wav", str(out_wav)]


def _normalise_args(bed_wav: Path, out_wav: Path, *, gain_db: float, ceiling_db: float,
                    duration: float, sample_rate: int, ffmpeg: str) -> list[str]:
    """ffmpeg argv that applies the gain, limits true peaks, writes 16-bit PCM and measures it."""
    oversampled = sample_rate * 4
    chain = (f"[0:a]{_db(gain_db)},aresample={oversampled},"
             f"alimiter=limit={10 ** (ceiling_db / 20):.6f}:level=false:latency=true:"
             f"attack=5:release=50,aresample={sample_rate},{_fit(duration)},asplit=2[out][meter];"
             f"[meter]{_meter_filter()},anullsink")
    return [ffmpeg, "-nostdin", "-hide_banner", "-nostats", "-v", "error", "-y",
            "-i", str(bed_wav), "-filter_complex", chain, "-map", "[out]",
            "-c:a", "pcm_s16le", "-ar", str(sample_rate), "-ac", "2", "-f", "wav", str(out_wav)]


def join_continuing(clips: Sequence[tuple[Path, float, float, float]]
                    ) -> list[tuple[Path, float, float, float]]:
    """Clip sound that plays one file straight on through several visuals (a long scene cut
    into visuals, which overlap at their transitions) as one segment.

    Each segment was an input of the mix (180 s of one uploaded clip made 55 of them, and the
    mix 170 MB), and where two overlapped, for a transition, the same sound played twice:
    6 dB louder for half a second at every cut. Joined, it plays once, straight through.
    """
    joined: list[tuple[Path, float, float, float]] = []
    for path, start, in_point, length in clips:
        if joined:
            last_path, last_start, last_in, last_length = joined[-1]
            same_clock = abs((start - last_start) - (in_point - last_in)) < _JOIN_SLACK_S
            if (last_path == path and same_clock
                    and last_start <= start <= last_start + last_length + _JOIN_SLACK_S):
                joined[-1] = (path, last_start, last_in,
                              max(last_length, start + length - last_start))
                continue
        joined.append((path, start, in_point, length))
    return joined


def _with_audio(clips: Sequence[tuple[Path, float, float, float]], duration: float, *,
                ffprobe: str, timeout: float) -> list[tuple[Path, float, float, float]]:
    """The clips that have sound and fall inside the video (a silent clip adds nothing),
    continuing segments joined; each file is probed once."""
    has_sound: dict[Path, bool] = {}
    kept = []
    for path, start, in_point, length in join_continuing(clips):
        if length <= 0 or start >= duration:
            continue
        if path not in has_sound:
            has_sound[path] = probe(path, ffprobe=ffprobe, timeout=timeout).audio_codec is not None
        if has_sound[path]:
            kept.append((path, start, in_point, min(length, duration - start)))
    return kept


def mix_audio(
    voice_wav: Path,
    out_wav: Path,
    *,
    duration: float,
    music: Path | None,
    clip_audio: Sequence[tuple[Path, float, float, float]] = (),
    music_gain_db: float = DEFAULT_MUSIC_GAIN_DB,
    clip_gain_db: float = -6.0,
    duck_db: float = 14.0,
    fade_in: float = 1.0,
    fade_out: float = 1.5,
    sample_rate: int = 48000,
    target_lufs: float = TARGET_LUFS,
    # 1 dB under the -1 dBTP limit: the AAC encode after the mix adds peaks of its own, up
    # to 0.7 dB measured on a short video with bright hi-hats (0.5 dB of margin was not enough).
    true_peak_db: float = -2.0,
    aac_bitrate_kbps: int | None = None,
    encoded_out: Path | None = None,
    ffmpeg: str = "ffmpeg",
    ffprobe: str = "ffprobe",
    timeout: float,
) -> LoudnessReport:
    """Mix the voice over the ducked music and clip sound into a normalised 16-bit stereo WAV.

    `music_gain_db` sets the music's loudness relative to the voice's (both measured, before
    ducking); `clip_gain_db` does the same for clip sound, which is taken to sit near the
    target. `clip_audio` holds (file, start on the timeline, in-point in the file, length).
    Music and clip sound drop by `duck_db` while the voice speaks. With `aac_bitrate_kbps`,
    the true peak is kept under the limit in the AAC the video will carry, not only in the WAV;
    with `encoded_out` as well, that AAC (in an M4A) is kept there, for the video to copy.
    Returns the loudness of the written file.
    """
    if duration <= 0:
        raise ValueError(f"duration must be positive, got {duration}")
    if duck_db <= 0:
        raise ValueError(f"duck_db must be positive, got {duck_db}")
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    bed_wav = out_wav.with_name(f".{out_wav.stem}.bed.{os.getpid()}.wav")
    partial = out_wav.with_name(f".{out_wav.stem}.partial.{os.getpid()}.wav")
    trial = out_wav.with_name(f".{out_wav.stem}.trial.{os.getpid()}.m4a")
    try:
        # Measured after the same conversion the bed applies (mono becomes stereo there).
        as_mixed = _to_float_stereo(sample_rate)
        voice = _measure(voice_wav, ffmpeg=ffmpeg, timeout=timeout, before=as_mixed)
        # A silent voice leaves nothing to set levels against; use the target instead.
        voice_lufs = voice.integrated_lufs if voice.integrated_lufs > SILENCE_LUFS else target_lufs
        music_shift = 0.0
        if music is not None:
            measured = _measure(music, ffmpeg=ffmpeg, timeout=timeout, max_seconds=duration,
                                before=as_mixed)
            if measured.integrated_lufs > SILENCE_LUFS:
                music_shift = voice_lufs - measured.integrated_lufs
        clips = _with_audio(clip_audio, duration, ffprobe=ffprobe, timeout=timeout)
        # Clip sound is not measured (one more pass per clip); it is taken to sit near the
        # target, as platform-ready footage does, and follows the voice from there.
        clip_shift = voice_lufs - target_lufs
        bed = _parse_meter(run(_bed_args(
            voice_wav, bed_wav, duration=duration, music=music, clips=clips,
            music_gain_db=music_gain_db + music_shift, clip_gain_db=clip_gain_db + clip_shift,
            duck_db=duck_db, voice_lufs=voice_lufs, fade_in=fade_in,
            fade_out=fade_out, sample_rate=sample_rate, ffmpeg=ffmpeg), timeout=timeout))
        report = _normalise(bed_wav, partial, bed, target_lufs=target_lufs,
                            true_peak_db=true_peak_db, duration=duration,
                            sample_rate=sample_rate, ffmpeg=ffmpeg, timeout=timeout)
        bitrate = aac_bitrate_kbps or 0
        for attempt in range(_AAC_PASSES + 1 if bitrate else 0):
            # What the platforms get is the AAC, not this WAV: its encoder adds peaks of its
            # own, usually under 0.8 dB but 1.9 dB on one 60 s mix. It is deterministic, and
            # the video copies this very encode when `encoded_out` asks for it.
            excess = _encoded_peak(partial, trial, bitrate, sample_rate, ffmpeg=ffmpeg,
                                   timeout=timeout) - (MAX_TRUE_PEAK_DBTP - _AAC_MARGIN_DB)
            if excess <= 0 or attempt == _AAC_PASSES:
                break
            true_peak_db -= excess
            report = _normalise(bed_wav, partial, bed, target_lufs=target_lufs,
                                true_peak_db=true_peak_db, duration=duration,
                                sample_rate=sample_rate, ffmpeg=ffmpeg, timeout=timeout)
        if encoded_out is not None and bitrate:
            os.replace(trial, encoded_out)
        os.replace(partial, out_wav)
        return report
    finally:
        bed_wav.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
        trial.unlink(missing_ok=True)


def _encoded_peak(wav: Path, out: Path, bitrate_kbps: int, sample_rate: int, *, ffmpeg: str,
                  timeout: float) -> float:
    """True peak (dBTP) of `wav` once encoded as the videos encode it (AAC, stereo), into an
    M4A `out`: unlike ADTS it keeps the encoder's priming, so a copy stays sample-exact."""
    run([ffmpeg, "-nostdin", "-hide_banner", "-nostats", "-v", "error", "-y", "-i", str(wav),
         "-c:a", "aac", "-b:a", f"{bitrate_kbps}k", "-ar", str(sample_rate), "-ac", "2",
         "-f", "ipod", str(out)], timeout=timeout)
    return _measure(out, ffmpeg=ffmpeg, timeout=timeout).true_peak_dbtp


def _normalise(bed_wav: Path, out_wav: Path, bed: LoudnessReport, *, target_lufs: float,
               true_peak_db: float, duration: float, sample_rate: int, ffmpeg: str,
               timeout: float) -> LoudnessReport:
    """Gain the bed to the target and limit its true peaks, correcting for what the limiter ate."""
    silent = bed.integrated_lufs <= SILENCE_LUFS
    gain = 0.0 if silent else target_lufs - bed.integrated_lufs
    # The limiter works on 4× oversampled audio; a little margin covers what the resampling back
    # to the output rate adds between samples.
    ceiling = true_peak_db - 0.2
    report = bed
    tried: list[tuple[float, float]] = []  # (gain, loudness it gave)
    for _ in range(_NORMALISE_PASSES):
        report = _parse_meter(run(_normalise_args(
            bed_wav, out_wav, gain_db=gain, ceiling_db=ceiling, duration=duration,
            sample_rate=sample_rate, ffmpeg=ffmpeg), timeout=timeout))
        miss = target_lufs - report.integrated_lufs
        if silent or abs(miss) <= _NORMALISE_SLACK_LU:
            break
        tried.append((gain, report.integrated_lufs))
        # Once the limiter works, a dB of gain buys less than a dB of loudness: step along the
        # slope seen between the last two passes (a secant step), never steeper than 1:1.
        slope = 1.0
        if len(tried) >= 2:
            (g0, l0), (g1, l1) = tried[-2:]
            if g1 != g0:
                slope = min(1.0, max(0.1, (l1 - l0) / (g1 - g0)))
        gain += miss / slope
    return report
