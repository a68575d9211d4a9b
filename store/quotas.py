"""Per-account quotas: the longest video, the items of one batch, the jobs running at once.

The QUOTA_* settings are every account's defaults; an account's own `quotas` override them,
one by one. Zero means no limit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.jobs import ACTIVE_STATUSES
from store.models import Account, Job
from store.settings import Settings


@dataclass(frozen=True)
class Quotas:
    """What an account may ask for; 0 is no limit."""

    video_seconds: int
    batch_items: int
    running_jobs: int


QUOTA_NAMES = tuple(f.name for f in fields(Quotas))


def default_quotas(settings: Settings) -> Quotas:
    """The QUOTA_* settings; a batch limit of 0 is the server's MAX_BATCH_ITEMS."""
    return Quotas(video_seconds=settings.quota_video_seconds,
                  batch_items=settings.quota_batch_items or settings.max_batch_items,
                  running_jobs=settings.quota_running_jobs)


def account_quotas(account: Account, settings: Settings) -> Quotas:
    """The account's quotas: its own where set, the settings' otherwise."""
    own = {name: int(value) for name, value in (account.quotas or {}).items()
           if name in QUOTA_NAMES and value is not None}
    quotas = replace(default_quotas(settings), **own)
    # No account may make more of a batch than the server does.
    if not quotas.batch_items or quotas.batch_items > settings.max_batch_items:
        quotas = replace(quotas, batch_items=settings.max_batch_items)
    return quotas


def set_account_quotas(account: Account, changes: dict[str, int | None]) -> None:
    """Set (a number, 0 for no limit) or reset to the default (None) some of the quotas."""
    unknown = set(changes) - set(QUOTA_NAMES)
    if unknown:
        raise ValueError(f"unknown quota {sorted(unknown)[0]!r}; quotas are "
                         f"{', '.join(QUOTA_NAMES)}")
    own = dict(account.quotas or {})
    for name, value in changes.items():
        if value is None:
            own.pop(name, None)
        elif value < 0:
            raise ValueError(f"{name} must be 0 (no limit) or more, got {value}")
        else:
            own[name] = value
    account.quotas = own or None


def running_jobs(session: Session, account_id: str) -> int:
    """The account's jobs that are queued or running now."""
    return session.scalar(select(func.count()).select_from(Job).where(
        Job.account_id == account_id, Job.status.in_(ACTIVE_STATUSES))) or 0
