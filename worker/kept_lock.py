"""A lock kept alive from a thread while its holder works: one worker at a time reads a
batch or delivers a publication, and a dead worker's lock expires within
STAGE_LEASE_SECONDS, so the next one resumes where the rows say it stopped."""

from __future__ import annotations

import logging
import secrets
import threading

from store.services import Services

log = logging.getLogger(__name__)


def heartbeat_interval(lease_seconds: float) -> float:
    """How often a run checks in: often enough that a cancel or takeover stops it in < 5 s."""
    return min(2.0, max(0.2, lease_seconds / 6))


class LockLost(Exception):
    """Another worker took the lock over (this one stalled past its expiry): stop here."""


class KeptLock:
    """A named lock in services.locks, refreshed every few seconds until released. A holder
    that lost it (the refresh found another owner) learns so at its next `check`."""

    def __init__(self, services: Services, name: str, ttl: float | None = None) -> None:
        self.locks = services.locks
        self.name = name
        self.token = secrets.token_hex(8)
        self.ttl = ttl or services.settings.stage_lease_seconds
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._keep, daemon=True, name="vf-kept-lock")

    def acquire(self) -> bool:
        """Take the lock; False while another holder has it."""
        if not self.locks.acquire(self.name, self.token, self.ttl):
            return False
        self._thread.start()
        return True

    def _keep(self) -> None:
        while not self._done.wait(heartbeat_interval(self.ttl)):
            try:
                if not self.locks.refresh(self.name, self.token, self.ttl):
                    self.lost.set()
                    return
            except Exception as exc:  # noqa: BLE001 - Redis away: try again, the lock may hold
                log.warning("lock %s not refreshed: %s", self.name, exc)

    def check(self) -> None:
        """Raise LockLost once the lock has passed to another holder."""
        if self.lost.is_set():
            raise LockLost(self.name)

    def release(self) -> None:
        """Stop refreshing and let the lock go."""
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if not self.lost.is_set():
            self.locks.release(self.name, self.token)
