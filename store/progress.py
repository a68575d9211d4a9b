"""Progress: live in Redis (or memory), durable in generation_progress, never fatal."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from pipeline.sequence import overall_percent

log = logging.getLogger(__name__)

LIVE_TTL_SECONDS = 7 * 24 * 3600

# (job_id, stage, percent, message) → row in generation_progress
DurableWriter = Callable[[str, str, int, str | None], None]


class LiveProgress(Protocol):
    """Fast, shared, disposable progress that the API polls."""

    def set(self, job_id: str, values: dict[str, str]) -> None:
        """Store the latest progress of a job."""

    def get(self, job_id: str) -> dict[str, str] | None:
        """The latest progress of a job, if known."""


class RedisLiveProgress:
    """A hash per job, expiring a week after its last update."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, job_id: str) -> str:
        return f"{self.prefix}:progress:{job_id}"

    def set(self, job_id: str, values: dict[str, str]) -> None:
        """Store the latest progress of a job."""
        key = self._key(job_id)
        pipe = self.redis.pipeline()
        pipe.hset(key, mapping=values)
        pipe.expire(key, LIVE_TTL_SECONDS)
        pipe.execute()

    def get(self, job_id: str) -> dict[str, str] | None:
        """The latest progress of a job, if known."""
        raw = self.redis.hgetall(self._key(job_id))
        if not raw:
            return None
        return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes)
                                                                else v) for k, v in raw.items()}


class MemoryLiveProgress:
    """The same inside one process (embedded mode)."""

    def __init__(self) -> None:
        self._values: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def set(self, job_id: str, values: dict[str, str]) -> None:
        """Store the latest progress of a job."""
        with self._lock:
            self._values.setdefault(job_id, {}).update(values)

    def get(self, job_id: str) -> dict[str, str] | None:
        """The latest progress of a job, if known."""
        with self._lock:
            values = self._values.get(job_id)
            return dict(values) if values else None


class ProgressReporter:
    """Writes every update live and, throttled, durably; a failed durable write waits.

    A database outage must not stop a render: the pending value is written again on the
    next update or at `flush`, and failures are only logged.
    """

    def __init__(self, job_id: str, live: LiveProgress, durable: DurableWriter, *,
                 min_interval: float = 2.0,
                 on_update: Callable[[str, float], None] | None = None) -> None:
        self.job_id = job_id
        self.live = live
        self.durable = durable
        self.min_interval = min_interval
        self.on_update = on_update
        self._last_durable = 0.0
        self._pending: tuple[str, int, str | None] | None = None
        self._percent = -1

    def report(self, stage: str, fraction: float, message: str | None = None) -> None:
        """Record that `stage` is `fraction` done."""
        percent = overall_percent(stage, fraction)
        stage_percent = str(int(max(0.0, min(1.0, fraction)) * 100))
        try:
            self.live.set(self.job_id, {"stage": stage, "percent": str(percent),
                                        "stage_percent": stage_percent,
                                        "updated_at": f"{time.time():.3f}"})
        except Exception as exc:  # noqa: BLE001 - live progress is best effort
            log.warning("live progress write failed: %s", exc)
        if self.on_update is not None:
            self.on_update(stage, fraction)
        if percent != self._percent or message:
            self._pending = (stage, percent, message)
            self._percent = percent
        if self._pending and (time.monotonic() - self._last_durable >= self.min_interval
                              or percent >= 100):
            self.flush()

    def flush(self) -> bool:
        """Write the pending durable value now; False (and still pending) when it fails."""
        if self._pending is None:
            return True
        stage, percent, message = self._pending
        try:
            self.durable(self.job_id, stage, percent, message)
        except Exception as exc:  # noqa: BLE001 - caught up on the next update
            log.warning("durable progress write failed, will retry: %s", exc)
            return False
        self._pending = None
        self._last_durable = time.monotonic()
        return True
