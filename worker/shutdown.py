"""Worker lifecycle: a bounded warm shutdown, and the reconciler started beside the worker."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from typing import Any

from celery.signals import worker_shutting_down

log = logging.getLogger(__name__)


def install_shutdown_grace(grace_seconds: float) -> None:
    """On SIGTERM Celery finishes the running task (warm shutdown); after the grace period
    the worker stops anyway (cold), and the unfinished task is redelivered elsewhere."""

    def start_clock(sig: str = "", how: str = "", exitcode: int = 0, **_: Any) -> None:
        if how != "Warm":
            return
        log.info("warm shutdown: finishing the current task, at most %.0f s", grace_seconds)
        timer = threading.Timer(grace_seconds, lambda: os.kill(os.getpid(), signal.SIGQUIT))
        timer.daemon = True
        timer.start()

    worker_shutting_down.connect(start_clock, weak=False)


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM when the worker dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class ReconcilerProcess:
    """`videofactory reconcile` as a child process of the worker: no threads beside the
    prefork pool (forking with threads can deadlock), and it dies with the worker."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ReconcilerProcess:
        if self.enabled:
            command = [sys.executable, "-m", "videofactory", "reconcile"]
            self.process = subprocess.Popen(command, preexec_fn=_die_with_parent)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
