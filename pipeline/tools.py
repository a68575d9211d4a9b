"""The one place that runs external media tools (ffmpeg, ffprobe)."""

from __future__ import annotations

import contextvars
import json
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.types import MediaInfo


class ToolError(RuntimeError):
    """An external tool failed; keeps its argv, exit code and the tail of its stderr."""

    def __init__(self, argv: Sequence[str], returncode: int | None, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr_tail = stderr[-2000:]
        reason = "timed out" if returncode is None else f"exited with {returncode}"
        last_line = next((ln for ln in reversed(stderr.splitlines()) if ln.strip()), "")
        super().__init__(f"{Path(argv[0]).name} {reason}: {last_line}".rstrip(": "))


class Stopped(Exception):
    """The run was told to stop (superseded or canceled); its tools were killed."""


class StopScope:
    """Lets another thread stop a stage: kills the tools it runs and fails its checkpoints.

    A stage's work runs with the scope current (a context variable, so threads that copy the
    context see it too); every tool started meanwhile is registered and killed on `stop`.
    """

    def __init__(self) -> None:
        self.reason = ""
        self._stopped = threading.Event()
        self._processes: set[subprocess.Popen[bytes] | subprocess.Popen[str]] = set()
        self._mutex = threading.Lock()

    @property
    def stopped(self) -> bool:
        """Whether `stop` was called."""
        return self._stopped.is_set()

    def stop(self, reason: str) -> None:
        """Kill every running tool of the scope; later checkpoints and launches raise."""
        with self._mutex:
            self.reason = self.reason or reason
            self._stopped.set()
            processes = list(self._processes)
        for proc in processes:
            if proc.poll() is None:
                proc.kill()

    def check(self) -> None:
        """Raise Stopped once the scope was stopped."""
        if self._stopped.is_set():
            raise Stopped(self.reason)

    def _adopt(self, proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
        with self._mutex:
            self._processes.add(proc)
            stopped = self._stopped.is_set()
        if stopped:  # stopped between the launch and the registration
            proc.kill()

    def _release(self, proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
        with self._mutex:
            self._processes.discard(proc)

    @contextmanager
    def active(self) -> Iterator[StopScope]:
        """Make this the current scope of the calling thread's context."""
        token = _current_scope.set(self)
        try:
            yield self
        finally:
            _current_scope.reset(token)


_current_scope: contextvars.ContextVar[StopScope | None] = contextvars.ContextVar(
    "vf_stop_scope", default=None)


def checkpoint() -> None:
    """Raise Stopped if the current stage was told to stop (long in-process work calls this)."""
    scope = _current_scope.get()
    if scope is not None:
        scope.check()


@contextmanager
def supervised(proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> Iterator[None]:
    """Register a started tool with the current scope for as long as it runs.

    Raises Stopped afterwards if the scope killed it, so a killed tool reads as a stop, not
    as the tool failing.
    """
    scope = _current_scope.get()
    if scope is None:
        yield
        return
    scope._adopt(proc)
    try:
        yield
    except BaseException:
        scope.check()
        raise
    finally:
        scope._release(proc)
    scope.check()


def _launch_error(argv: Sequence[str], exc: FileNotFoundError) -> ToolError:
    """Tell a missing tool from a missing working directory."""
    if exc.filename not in (None, argv[0]):
        return ToolError(argv, 127, f"{exc.filename}: {exc.strerror}")
    return ToolError(argv, 127, f"{argv[0]} is not installed or not on PATH")


def run(argv: Sequence[str], *, timeout: float, cwd: Path | None = None) -> str:
    """Run a tool to completion and return its stdout; raise ToolError on failure."""
    checkpoint()
    try:
        proc = subprocess.Popen(list(argv), cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, errors="replace")
    except FileNotFoundError as exc:
        raise _launch_error(argv, exc) from None
    stdout, _ = wait_supervised(proc, argv, timeout)
    return stdout


def read_frames(argv: Sequence[str], frame_bytes: int, *, timeout: float,
                cwd: Path | None = None) -> Iterator[bytes]:
    """Run a tool and yield its stdout `frame_bytes` at a time, as it writes them (no file of
    raw frames on disk); raise ToolError when it fails, runs past `timeout` or ends mid-frame.
    Leaving the loop early kills the tool."""
    checkpoint()
    try:
        proc = subprocess.Popen(list(argv), cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    except FileNotFoundError as exc:
        raise _launch_error(argv, exc) from None
    watch = _Watch(proc, timeout)
    short = False
    with proc, supervised(proc):
        try:
            assert proc.stdout is not None
            while data := proc.stdout.read(frame_bytes):
                if len(data) < frame_bytes:
                    short = True
                    break
                yield data
            returncode = proc.wait()
        finally:
            watch.stop()
    watch.raise_failure(argv, returncode)
    if short:
        raise ToolError(argv, returncode,
                        watch.stderr() + "\nits output ended in the middle of a frame")


class _Watch:
    """A started tool's stderr, read by a thread of its own, and a timer that kills the tool
    at `timeout`."""

    def __init__(self, proc: subprocess.Popen[Any], timeout: float) -> None:
        self._proc = proc
        self._chunks: list[str | bytes] = []
        self._reader = threading.Thread(
            target=lambda: self._chunks.append(proc.stderr.read() if proc.stderr else ""),
            daemon=True)
        self._reader.start()
        self.timed_out = threading.Event()
        self._timer = threading.Timer(timeout, self._kill)
        self._timer.start()

    def _kill(self) -> None:
        self.timed_out.set()
        self._proc.kill()

    def stop(self) -> None:
        """Cancel the timer, kill the tool if it still runs, and wait for its stderr."""
        self._timer.cancel()
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=5)

    def stderr(self) -> str:
        """What the tool wrote on stderr (once `stop` returned)."""
        return "".join(_text(chunk) for chunk in self._chunks)

    def raise_failure(self, argv: Sequence[str], returncode: int) -> None:
        """Raise ToolError if the timer killed the tool or it exited non-zero."""
        if self.timed_out.is_set():
            raise ToolError(argv, None, self.stderr())
        if returncode != 0:
            raise ToolError(argv, returncode, self.stderr())


def _text(data: str | bytes | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else data or ""


def wait_supervised(proc: subprocess.Popen[Any], argv: Sequence[str],
                    timeout: float) -> tuple[Any, Any]:
    """Wait for a started tool under the current stop scope; return (stdout, stderr).

    Raises ToolError when it runs past `timeout` or exits non-zero, Stopped when a stop
    killed it.
    """
    with proc, supervised(proc):
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
            raise ToolError(argv, None, _text(stderr)) from None
        except BaseException:
            # A soft time limit or a stop raised here: leaving the `with` would otherwise
            # wait for the tool to finish on its own.
            proc.kill()
            raise
    if proc.returncode != 0:
        raise ToolError(argv, proc.returncode, _text(stderr))
    return stdout, stderr


def run_ffmpeg(
    argv: Sequence[str],
    *,
    timeout: float,
    total_seconds: float,
    on_progress: Callable[[float], None],
    cwd: Path | None = None,
) -> None:
    """Run ffmpeg with `-progress pipe:1` and report the fraction of `total_seconds` done."""
    checkpoint()
    full = [argv[0], "-nostdin", "-hide_banner", "-loglevel", "error", "-progress", "pipe:1",
            *argv[1:]]
    try:
        proc = subprocess.Popen(
            full, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            errors="replace",
        )
    except FileNotFoundError as exc:
        raise _launch_error(full, exc) from None
    with proc, supervised(proc):  # closes both pipes and reaps ffmpeg however we leave
        _follow_progress(proc, full, timeout, total_seconds, on_progress)


def _follow_progress(proc: subprocess.Popen[str], argv: list[str], timeout: float,
                     total_seconds: float, on_progress: Callable[[float], None]) -> None:
    watch = _Watch(proc, timeout)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and value.isdigit() and total_seconds > 0:
                on_progress(min(1.0, int(value) / 1e6 / total_seconds))
        returncode = proc.wait()
    finally:
        watch.stop()
    watch.raise_failure(argv, returncode)


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def probe(path: Path, *, ffprobe: str = "ffprobe", timeout: float = 30.0) -> MediaInfo:
    """Describe a media file with ffprobe."""
    out = run(
        [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
         str(path)],
        timeout=timeout,
    )
    data = json.loads(out)
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), {})
    audio = next((s for s in streams if s.get("codec_type") == "audio"), {})
    return MediaInfo(
        duration=float(data.get("format", {}).get("duration", 0.0)),
        format_name=data.get("format", {}).get("format_name", ""),
        video_codec=video.get("codec_name"),
        video_profile=video.get("profile"),
        width=_int_or_none(video.get("width")),
        height=_int_or_none(video.get("height")),
        pix_fmt=video.get("pix_fmt"),
        frame_rate=video.get("r_frame_rate"),
        avg_frame_rate=video.get("avg_frame_rate"),
        color_space=video.get("color_space"),
        color_primaries=video.get("color_primaries"),
        color_transfer=video.get("color_transfer"),
        audio_codec=audio.get("codec_name"),
        sample_rate=_int_or_none(audio.get("sample_rate")),
        channels=_int_or_none(audio.get("channels")),
        nb_video_frames=_int_or_none(video.get("nb_frames")),
    )
