"""Project locks: one generation per project at a time; a dead holder's lock expires."""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

# Compare-and-act scripts: only the job holding the lock may extend or release it.
_REFRESH = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class ProjectLock(Protocol):
    """Mutual exclusion of generations per project."""

    def acquire(self, project_id: str, job_id: str, ttl: float) -> bool:
        """Take the lock for job_id; False when another job holds it."""

    def refresh(self, project_id: str, job_id: str, ttl: float) -> bool:
        """Extend the lock if job_id still holds it."""

    def release(self, project_id: str, job_id: str) -> None:
        """Drop the lock if job_id holds it."""

    def holder(self, project_id: str) -> str | None:
        """The job holding the lock, if any."""


class RedisProjectLock:
    """SET NX PX: atomic across API processes and workers; expiry frees a dead worker's lock."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._refresh = redis.register_script(_REFRESH)
        self._release = redis.register_script(_RELEASE)

    def _key(self, project_id: str) -> str:
        return f"{self.prefix}:lock:project:{project_id}"

    def acquire(self, project_id: str, job_id: str, ttl: float) -> bool:
        """Take the lock for job_id; False when another job holds it."""
        return bool(self.redis.set(self._key(project_id), job_id, nx=True, px=int(ttl * 1000)))

    def refresh(self, project_id: str, job_id: str, ttl: float) -> bool:
        """Extend the lock if job_id still holds it."""
        return bool(self._refresh(keys=[self._key(project_id)], args=[job_id, int(ttl * 1000)]))

    def release(self, project_id: str, job_id: str) -> None:
        """Drop the lock if job_id holds it."""
        self._release(keys=[self._key(project_id)], args=[job_id])

    def holder(self, project_id: str) -> str | None:
        """The job holding the lock, if any."""
        value = self.redis.get(self._key(project_id))
        return value.decode() if isinstance(value, bytes) else value


class MemoryProjectLock:
    """The same contract inside one process (embedded mode)."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, float]] = {}
        self._mutex = threading.Lock()

    def _live(self, project_id: str) -> tuple[str, float] | None:
        entry = self._held.get(project_id)
        if entry and entry[1] < time.monotonic():
            del self._held[project_id]
            return None
        return entry

    def acquire(self, project_id: str, job_id: str, ttl: float) -> bool:
        """Take the lock for job_id; False when another job holds it."""
        with self._mutex:
            if self._live(project_id):
                return False
            self._held[project_id] = (job_id, time.monotonic() + ttl)
            return True

    def refresh(self, project_id: str, job_id: str, ttl: float) -> bool:
        """Extend the lock if job_id still holds it."""
        with self._mutex:
            entry = self._live(project_id)
            if not entry or entry[0] != job_id:
                return False
            self._held[project_id] = (job_id, time.monotonic() + ttl)
            return True

    def release(self, project_id: str, job_id: str) -> None:
        """Drop the lock if job_id holds it."""
        with self._mutex:
            entry = self._live(project_id)
            if entry and entry[0] == job_id:
                del self._held[project_id]

    def holder(self, project_id: str) -> str | None:
        """The job holding the lock, if any."""
        with self._mutex:
            entry = self._live(project_id)
            return entry[0] if entry else None
