"""Dispatch marks: a key per sent stage message, so the reconciler can tell a lost message.

A mark lives in Redis beside the message it stands for; when Redis loses its data (a restart
without persistence) both vanish together, and the reconciler sends the stage again.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol


class DispatchMarks(Protocol):
    """Which stage messages are believed to be in flight."""

    def mark(self, job_id: str, stage: str) -> None:
        """A message for the stage was just sent."""

    def mark_many(self, job_ids: list[str], stage: str) -> None:
        """Messages for the stage of each job are about to be sent."""

    def clear(self, job_id: str, stage: str) -> None:
        """The stage's message was taken by a worker."""

    def present(self, job_id: str, stage: str) -> bool:
        """Whether a sent message for the stage may still be waiting."""


class RedisDispatchMarks:
    """Marks as Redis keys that expire with the broker's visibility timeout."""

    def __init__(self, redis: Any, prefix: str, ttl_seconds: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl = ttl_seconds

    def _key(self, job_id: str, stage: str) -> str:
        return f"{self.prefix}:dispatch:{job_id}:{stage}"

    def mark(self, job_id: str, stage: str) -> None:
        """A message for the stage was just sent."""
        self.redis.set(self._key(job_id, stage), "1", ex=self.ttl)

    def mark_many(self, job_ids: list[str], stage: str) -> None:
        """Messages for the stage of each job are about to be sent: one round trip for all,
        which a batch of thousands of jobs feels."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.set(self._key(job_id, stage), "1", ex=self.ttl)
        pipe.execute()

    def clear(self, job_id: str, stage: str) -> None:
        """The stage's message was taken by a worker."""
        self.redis.delete(self._key(job_id, stage))

    def present(self, job_id: str, stage: str) -> bool:
        """Whether a sent message for the stage may still be waiting."""
        return bool(self.redis.exists(self._key(job_id, stage)))


class MemoryDispatchMarks:
    """The same inside one process (embedded mode has no broker to lose messages)."""

    def __init__(self, ttl_seconds: float = 3600) -> None:
        self.ttl = ttl_seconds
        self._marks: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def mark(self, job_id: str, stage: str) -> None:
        """A message for the stage was just sent."""
        with self._lock:
            self._marks[(job_id, stage)] = time.monotonic() + self.ttl

    def mark_many(self, job_ids: list[str], stage: str) -> None:
        """Messages for the stage of each job are about to be sent."""
        until = time.monotonic() + self.ttl
        with self._lock:
            self._marks.update({(job_id, stage): until for job_id in job_ids})

    def clear(self, job_id: str, stage: str) -> None:
        """The stage's message was taken by a worker."""
        with self._lock:
            self._marks.pop((job_id, stage), None)

    def present(self, job_id: str, stage: str) -> bool:
        """Whether a sent message for the stage may still be waiting."""
        with self._lock:
            return self._marks.get((job_id, stage), 0) > time.monotonic()
