"""The connections one process needs, built once from Settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from store.db import make_engine, make_session_factory
from store.dispatch import DispatchMarks, MemoryDispatchMarks, RedisDispatchMarks
from store.locks import MemoryProjectLock, ProjectLock, RedisProjectLock
from store.media import MediaStorage, build_media
from store.progress import LiveProgress, MemoryLiveProgress, RedisLiveProgress
from store.rate_limit import MemoryTokenBucket, RedisTokenBucket, TokenBucket
from store.settings import Settings


@dataclass
class Services:
    """Database, storage, live progress and locks of one process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    media: MediaStorage
    live: LiveProgress
    locks: ProjectLock
    marks: DispatchMarks
    redis: Any | None = None
    # Shared limits on what external APIs accept (posts an hour per Postiz organisation).
    rate_limits: TokenBucket = field(default_factory=MemoryTokenBucket)

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()
        close_media = getattr(self.media, "close", None)  # a bucket's client holds a pool
        if close_media is not None:
            close_media()
        if self.redis is not None:
            self.redis.close()


def redis_client(url: str) -> Any:
    """A Redis client with timeouts, so a dead Redis fails fast instead of hanging."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5,
                                health_check_interval=30)


def build_services(settings: Settings) -> Services:
    """Connect to what the settings name; embedded mode keeps locks and progress in memory."""
    engine = make_engine(settings.database_url)
    media = build_media(settings)
    if settings.redis_url is None:
        return Services(settings, engine, make_session_factory(engine), media,
                        MemoryLiveProgress(), MemoryProjectLock(), MemoryDispatchMarks())
    client = redis_client(settings.redis_url)
    return Services(settings, engine, make_session_factory(engine), media,
                    RedisLiveProgress(client, settings.redis_key_prefix),
                    RedisProjectLock(client, settings.redis_key_prefix),
                    RedisDispatchMarks(client, settings.redis_key_prefix,
                                       settings.broker_visibility_timeout),
                    redis=client,
                    rate_limits=RedisTokenBucket(client, settings.redis_key_prefix))
