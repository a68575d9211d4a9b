"""Database tables. The schema itself changes only through Alembic migrations."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints let batch migrations on SQLite find them again.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id(prefix: str) -> str:
    """Ids are made in Python (not by a server default) so SQLite and Postgres agree."""
    return f"{prefix}_{secrets.token_hex(12)}"


def utcnow() -> datetime:
    """Timezone-aware now, in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column()  # set: every key is refused
    # This account's limits over the QUOTA_* settings: video_seconds, batch_items,
    # running_jobs (0: no limit); see store/quotas.py.
    quotas: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    profiles: Mapped[list[Profile]] = relationship(back_populates="account",
                                                   cascade="all, delete-orphan",
                                                   passive_deletes=True)


class ApiKey(Base):
    """One of an account's API keys: its SHA-256 (keys are 256-bit random, so a slow hash
    would add nothing), a name, when it was last used, and whether it was revoked."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"),
                                            index=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))  # the key's first characters, to tell them apart
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class WebSession(Base):
    """A browser signed in to the web page with an API key. The cookie holds a random token;
    only its SHA-256 is stored, with the key it was opened with (a revoke or a disabled
    account ends it at once) and the token its forms must echo against CSRF."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    api_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"),
                                            index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class Profile(Base):
    """A brand: its style, voice and destinations. Exactly one per account is the default."""

    __tablename__ = "profiles"
    __table_args__ = (
        Index("uq_profiles_default_per_account", "account_id", unique=True,
              postgresql_where=text("is_default"), sqlite_where=text("is_default")),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"),
                                            index=True)
    name: Mapped[str] = mapped_column(String(200))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    account: Mapped[Account] = relationship(back_populates="profiles")


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    profile_id: Mapped[str] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"),
                                            index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """One generation: a source becomes a published video through the stage sequence."""

    __tablename__ = "jobs"
    # GET /v1/jobs reads an account's jobs newest first, a page at a time.
    __table_args__ = (Index("ix_jobs_account_id_created_at", "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"),
                                            index=True)
    # Null once its profile was deleted: the job and its costs stay for the account's records.
    profile_id: Mapped[str | None] = mapped_column(
        ForeignKey("profiles.id", ondelete="SET NULL"), index=True)
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="SET NULL"), index=True)
    # queued | running | succeeded | failed, stored by value.
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    current_stage: Mapped[str | None] = mapped_column(String(16))
    preset: Mapped[str] = mapped_column(String(32))
    source: Mapped[dict[str, Any]] = mapped_column()
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    artifacts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error_stage: Mapped[str | None] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    stages: Mapped[list[JobStage]] = relationship(order_by="JobStage.position",
                                                  cascade="all, delete-orphan",
                                                  passive_deletes=True)


class JobStage(Base):
    """One stage of one job: where it ran and how it ended."""

    __tablename__ = "job_stages"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"),
                                        primary_key=True)
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    queue: Mapped[str] = mapped_column(String(16))
    # pending | running | succeeded | failed | skipped
    status: Mapped[str] = mapped_column(String(16), default="pending")
    worker: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    # Fencing token: each run of the stage takes the next number, and only the run holding
    # the current number may record a result, so a superseded run cannot overwrite a newer one.
    lease_token: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    heartbeat_at: Mapped[datetime | None] = mapped_column()  # a live run refreshes this
    dispatched_at: Mapped[datetime | None] = mapped_column()  # its message was last sent


class Upload(Base):
    """An uploaded picture or clip: what we checked of it, and where its bytes are stored."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"),
                                            index=True)
    kind: Mapped[str] = mapped_column(String(16))  # still | clip
    filename: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(Text)  # media storage key of the bytes
    content_type: Mapped[str] = mapped_column(String(100))
    bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    duration: Mapped[float | None] = mapped_column(Float)
    audio: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Publication(Base):
    """A video delivered to a destination, recorded once per idempotency key."""

    __tablename__ = "publications"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    destination: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    location: Mapped[str | None] = mapped_column(Text)
    # pending → uploaded → posting → queued → published, or failed / rejected.
    state: Mapped[str] = mapped_column(String(16), default="published",
                                       server_default="published")
    post_id: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(Text)  # where the post can be seen
    error: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column()  # upload, schedule, platform
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column()


class WebhookDelivery(Base):
    """One event for a profile's webhook: its body as sent, and how delivering it went."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
                      UniqueConstraint("event", "subject",
                                       name="uq_webhook_deliveries_event_subject"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"),
                                            index=True)
    profile_id: Mapped[str | None] = mapped_column(
        ForeignKey("profiles.id", ondelete="SET NULL"))
    event: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(200))  # the job, batch or publication
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()


class ApiCost(Base):
    """What a job used: money spent on an external call (an LLM's tokens), or a local stage's
    compute at zero cost (seconds of speech, CPU seconds of a render). Kept when its profile
    is deleted, for accounting."""

    __tablename__ = "api_costs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    profile_id: Mapped[str | None] = mapped_column(
        ForeignKey("profiles.id", ondelete="SET NULL"), index=True)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"),
                                               index=True)
    provider: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(64))
    units: Mapped[float] = mapped_column(Float, default=0.0)
    unit: Mapped[str | None] = mapped_column(String(32))  # tokens, speech_seconds, cpu_seconds
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    price_input_per_1k: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    price_output_per_1k: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(12, 6), default=Decimal(0))
    seconds: Mapped[float | None] = mapped_column(Float)  # wall time of the call or the work
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GenerationProgress(Base):
    """Durable progress of a generation, keyed by the id the API shows (the job id)."""

    __tablename__ = "generation_progress"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    stage: Mapped[str | None] = mapped_column(String(16))
    percent: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Batch(Base):
    """A feed or collection made into one video per product; its items say what became of
    each product (rendered, unchanged since an earlier run, skipped, failed)."""

    __tablename__ = "batches"
    __table_args__ = (Index("ix_batches_account_id_created_at", "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"),
                                            index=True)
    profile_id: Mapped[str | None] = mapped_column(
        ForeignKey("profiles.id", ondelete="SET NULL"), index=True)
    # queued | parsing | running | failed (the feed could not be read); once parsed, the
    # status shown is worked out from the items.
    status: Mapped[str] = mapped_column(String(16), default="queued")
    preset: Mapped[str] = mapped_column(String(32))
    source: Mapped[dict[str, Any]] = mapped_column()
    # dry_run, limit, include_out_of_stock, mapping, and the options every item's job gets.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    format: Mapped[str | None] = mapped_column(String(32))
    parsed: Mapped[int] = mapped_column(Integer, default=0)  # items read so far
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    parsed_at: Mapped[datetime | None] = mapped_column()


class BatchItem(Base):
    """One product of a batch: its job, or why it has none."""

    __tablename__ = "batch_items"
    __table_args__ = (Index("ix_batch_items_batch_id_position", "batch_id", "position",
                            unique=True),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(Text)  # the product's identity in its feed
    title: Mapped[str] = mapped_column(Text, default="")
    # job (its job's status is the item's) | unchanged | skipped | failed | planned (dry run)
    status: Mapped[str] = mapped_column(String(16))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"),
                                               index=True)
    # Everything that shapes the item's video; an equal fingerprint means an equal video.
    fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
