"""Running external tools: errors carry what happened, ffmpeg reports progress, ffprobe parses."""

from __future__ import annotations

import gc
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from pipeline.tools import ToolError, probe, read_frames, run, run_ffmpeg


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


# --- run -------------------------------------------------------------------------------------


def test_run_returns_stdout(tmp_path: Path) -> None:
    """A successful command's stdout comes back as text, run in the given directory."""
    out = run(_python("import os; print('héllo', os.getcwd())"), timeout=10, cwd=tmp_path)
    assert out == f"héllo {tmp_path}\n"


def test_run_failure_carries_returncode_and_stderr_tail() -> None:
    """A failing command raises ToolError with its exit code, argv and the end of its stderr."""
    argv = _python("import sys; sys.stderr.write('x' * 5000 + '\\nfirst\\nthe real reason\\n\\n');"
                   " sys.exit(3)")
    with pytest.raises(ToolError) as caught:
        run(argv, timeout=10)
    error = caught.value
    assert error.returncode == 3
    assert error.argv == argv
    assert len(error.stderr_tail) == 2000
    assert error.stderr_tail.endswith("first\nthe real reason\n\n")
    assert str(error) == f"{Path(sys.executable).name} exited with 3: the real reason"


def test_run_missing_binary() -> None:
    """A binary that does not exist raises ToolError 127 saying it is not installed."""
    with pytest.raises(ToolError) as caught:
        run(["vf-no-such-tool-xyz", "--help"], timeout=10)
    assert caught.value.returncode == 127
    assert "vf-no-such-tool-xyz is not installed or not on PATH" in caught.value.stderr_tail
    assert "vf-no-such-tool-xyz exited with 127" in str(caught.value)


def test_run_timeout() -> None:
    """A command that outlives its timeout is killed and reported with no exit code."""
    with pytest.raises(ToolError) as caught:
        run(_python("import time; time.sleep(30)"), timeout=0.3)
    assert caught.value.returncode is None
    assert "timed out" in str(caught.value)


# --- read_frames -----------------------------------------------------------------------------


def test_read_frames_yields_each_frame_as_the_tool_writes_it(tmp_path: Path) -> None:
    """Whole frames in order, read from the tool's stdout while it runs, in its directory."""
    code = ("import os, sys, time\n"
            "for k in range(3):\n"
            "    sys.stdout.buffer.write(bytes([k]) * 4 + os.getcwd()[:2].encode()); "
            "sys.stdout.flush(); time.sleep(0.05)")
    frames = list(read_frames(_python(code), 6, timeout=10, cwd=tmp_path))
    assert frames == [bytes([k]) * 4 + str(tmp_path)[:2].encode() for k in range(3)]


@pytest.mark.parametrize(("code", "reason"), [
    ("import sys; sys.stdout.buffer.write(b'x' * 10); sys.stderr.write('cut short')",
     "ended in the middle of a frame"),
    ("import sys; sys.stdout.buffer.write(b'x' * 8); sys.stderr.write('bad input'); "
     "sys.exit(2)", "bad input"),
])
def test_read_frames_failure_is_a_tool_error(code: str, reason: str) -> None:
    """A tool that fails, or stops mid-frame, raises ToolError once its whole frames are read."""
    got = []
    with pytest.raises(ToolError) as caught:
        for frame in read_frames(_python(code), 4, timeout=10):
            got.append(frame)
    assert got == [b"xxxx", b"xxxx"]
    assert reason in caught.value.stderr_tail


def test_read_frames_timeout_kills_the_tool() -> None:
    """A tool that stops writing is killed at the timeout and reported with no exit code."""
    with pytest.raises(ToolError) as caught:
        list(read_frames(_python("import time; time.sleep(30)"), 4, timeout=0.3))
    assert caught.value.returncode is None


def test_leaving_read_frames_early_kills_the_tool() -> None:
    """A reader that stops after the first frame leaves no tool running behind it."""
    code = ("import os, sys, time\n"
            "while True:\n"
            "    sys.stdout.buffer.write(b'%08d' % os.getpid()); sys.stdout.flush(); "
            "time.sleep(0.01)")
    frames = read_frames(_python(code), 8, timeout=30)
    pid = int(next(frames))
    assert Path(f"/proc/{pid}").exists()
    frames.close()  # what a for loop's break does once the generator is dropped
    # killed and reaped: not even a zombie is left under its pid
    assert not Path(f"/proc/{pid}").exists()


# --- run_ffmpeg ------------------------------------------------------------------------------

_TEST_SOURCE = ["-f", "lavfi", "-i", "testsrc=duration=3:size=96x64:rate=30",
                "-f", "lavfi", "-i", "sine=frequency=440:duration=3"]


def test_run_ffmpeg_reports_rising_progress(tmp_path: Path) -> None:
    """Progress fractions lie in [0, 1], never go down, and end near 1; the output is written."""
    fractions: list[float] = []
    out = tmp_path / "o.mp4"
    run_ffmpeg(["ffmpeg", "-y", *_TEST_SOURCE, "-c:v", "libx264", "-preset", "ultrafast",
                "-c:a", "aac", str(out)],
               timeout=60, total_seconds=3.0, on_progress=fractions.append, cwd=tmp_path)
    assert fractions
    assert fractions == sorted(fractions)
    assert all(0.0 <= f <= 1.0 for f in fractions)
    assert fractions[-1] > 0.95
    assert probe(out).duration == pytest.approx(3.0, abs=0.1)


def test_run_ffmpeg_failure_keeps_stderr(tmp_path: Path) -> None:
    """A failing ffmpeg raises ToolError with its exit code and the error it printed."""
    missing = tmp_path / "missing-input.wav"
    with pytest.raises(ToolError) as caught:
        run_ffmpeg(["ffmpeg", "-y", "-i", str(missing), str(tmp_path / "o.mp4")],
                   timeout=30, total_seconds=1.0, on_progress=lambda f: None)
    error = caught.value
    assert error.returncode not in (None, 0)
    assert "missing-input.wav" in error.stderr_tail
    assert "No such file or directory" in error.stderr_tail
    assert error.argv[:2] == ["ffmpeg", "-nostdin"] and "-progress" in error.argv


def test_run_ffmpeg_missing_binary() -> None:
    """A missing ffmpeg binary raises ToolError 127."""
    with pytest.raises(ToolError) as caught:
        run_ffmpeg(["vf-no-such-ffmpeg", "-version"], timeout=5, total_seconds=1.0,
                   on_progress=lambda f: None)
    assert caught.value.returncode == 127
    assert "not installed" in caught.value.stderr_tail


def test_run_ffmpeg_timeout_kills_it() -> None:
    """An encode that outlives its timeout is killed and reported as timed out."""
    with pytest.raises(ToolError) as caught:
        run_ffmpeg(["ffmpeg", "-re", "-f", "lavfi", "-i", "testsrc=duration=30:size=32x32",
                    "-f", "null", "-"], timeout=0.5, total_seconds=30.0,
                   on_progress=lambda f: None)
    assert caught.value.returncode is None
    assert "timed out" in str(caught.value)


# --- probe -----------------------------------------------------------------------------------


def test_probe_video_and_audio(tmp_path: Path) -> None:
    """probe reads codec, profile, size, pixel format, rates, colour tags, audio and frames."""
    out = tmp_path / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", *_TEST_SOURCE, "-t", "1",
         "-c:v", "libx264", "-profile:v", "high", "-pix_fmt", "yuv420p",
         "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
         "-c:a", "aac", "-ar", "44100", "-ac", "1", str(out)],
        check=True, timeout=60,
    )
    info = probe(out)
    assert info.video_codec == "h264" and info.video_profile == "High"
    assert (info.width, info.height, info.pix_fmt) == (96, 64, "yuv420p")
    assert info.frame_rate == info.avg_frame_rate == "30/1"
    assert (info.color_space, info.color_primaries, info.color_transfer) == ("bt709",) * 3
    assert (info.audio_codec, info.sample_rate, info.channels) == ("aac", 44100, 1)
    assert info.nb_video_frames == 30
    assert info.duration == pytest.approx(1.0, abs=0.05)


def test_probe_audio_only(tmp_path: Path) -> None:
    """An audio-only file has no video fields."""
    out = tmp_path / "tone.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "sine=duration=0.5", "-ar", "22050", str(out)], check=True, timeout=30)
    info = probe(out)
    assert info.video_codec is None and info.width is None and info.nb_video_frames is None
    assert (info.audio_codec, info.sample_rate, info.channels) == ("pcm_s16le", 22050, 1)
    assert info.duration == pytest.approx(0.5, abs=0.01)


def test_probe_of_a_non_media_file_is_a_tool_error(tmp_path: Path) -> None:
    """Probing a file that is not media raises ToolError with ffprobe's complaint."""
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("not a video", encoding="utf-8")
    with pytest.raises(ToolError) as caught:
        probe(bogus)
    assert caught.value.returncode not in (None, 0)
    assert "notes.mp4" in caught.value.stderr_tail


def test_run_ffmpeg_closes_its_pipes() -> None:
    """run_ffmpeg leaves no unclosed pipe behind for the garbage collector to complain about."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_ffmpeg(["ffmpeg", "-f", "lavfi", "-i", "sine=duration=0.2", "-f", "null", "-"],
                   timeout=30, total_seconds=0.2, on_progress=lambda f: None)
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_run_missing_workdir_is_not_reported_as_missing_binary(tmp_path: Path) -> None:
    """A working directory that does not exist is not blamed on the tool being absent."""
    with pytest.raises((ToolError, FileNotFoundError)) as caught:
        run(_python("print(1)"), timeout=10, cwd=tmp_path / "gone")
    assert "not installed" not in str(caught.value)
    assert "gone" in str(getattr(caught.value, "stderr_tail", caught.value))


def test_an_exception_while_a_tool_runs_kills_it() -> None:
    """An exception raised into run() (a soft time limit, say) ends the tool at once."""
    import signal
    import time as _time

    from pipeline.tools import run as run_tool

    class SoftLimit(Exception):
        pass

    def raise_soon(*_args: object) -> None:
        raise SoftLimit()

    previous = signal.signal(signal.SIGALRM, raise_soon)
    started = _time.monotonic()
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(SoftLimit):
            run_tool(["sleep", "30"], timeout=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert _time.monotonic() - started < 5
