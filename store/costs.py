"""api_costs: what each job used, priced where it costs money."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.jobs import aware
from store.models import ApiCost, Job, new_id

_MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class Usage:
    """One use of something countable by a stage: an LLM call, seconds of speech, CPU time."""

    provider: str  # "llm:<model>", "piper", "espeak", "ffmpeg", …
    operation: str  # the stage's work: script, voice, render, …
    units: float
    unit: str  # tokens, speech_seconds, cpu_seconds
    seconds: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    price_input_per_1k: float | None = None
    price_output_per_1k: float | None = None

    @property
    def cost_usd(self) -> Decimal:
        """Tokens times the configured prices (zero for local work)."""
        cost = Decimal(0)
        if self.prompt_tokens and self.price_input_per_1k:
            cost += Decimal(self.prompt_tokens) * Decimal(str(self.price_input_per_1k)) / 1000
        if self.completion_tokens and self.price_output_per_1k:
            cost += (Decimal(self.completion_tokens) * Decimal(str(self.price_output_per_1k))
                     / 1000)
        return cost.quantize(_MICRO)


def _price(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(_MICRO)


def record_usage(session: Session, job_id: str, usage: Usage) -> ApiCost:
    """Write one api_costs row for the job (its profile with it)."""
    job = session.get(Job, job_id)
    row = ApiCost(id=new_id("cost"), profile_id=job.profile_id if job else None,
                  job_id=job_id, provider=usage.provider[:64], operation=usage.operation[:64],
                  units=usage.units, unit=usage.unit, prompt_tokens=usage.prompt_tokens,
                  completion_tokens=usage.completion_tokens,
                  price_input_per_1k=_price(usage.price_input_per_1k),
                  price_output_per_1k=_price(usage.price_output_per_1k),
                  cost_usd=usage.cost_usd, seconds=usage.seconds)
    session.add(row)
    return row


def job_costs(session: Session, job_id: str) -> dict[str, Any]:
    """The job's usage rows, oldest first, and the money they cost in all."""
    rows = session.scalars(select(ApiCost).where(ApiCost.job_id == job_id)
                           .order_by(ApiCost.created_at, ApiCost.id)).all()
    items = [{"provider": row.provider, "operation": row.operation, "units": row.units,
              "unit": row.unit, "prompt_tokens": row.prompt_tokens,
              "completion_tokens": row.completion_tokens,
              "price_input_per_1k": _as_text(row.price_input_per_1k),
              "price_output_per_1k": _as_text(row.price_output_per_1k),
              "cost_usd": _as_text(row.cost_usd), "seconds": row.seconds} for row in rows]
    total = sum((Decimal(row.cost_usd or 0) for row in rows), Decimal(0)).quantize(_MICRO)
    return {"items": items, "total_usd": str(total)}


def _as_text(value: Decimal | None) -> str | None:
    """Money as a decimal string: JSON numbers would round it."""
    return None if value is None else str(Decimal(value).quantize(_MICRO))


COST_GROUPS = ("provider", "day", "job", "profile", "operation")


def cost_totals(session: Session, account_id: str, *, group_by: str = "provider",
                profile_id: str | None = None, start: datetime | None = None,
                end: datetime | None = None) -> dict[str, Any]:
    """The account's usage rows summed per group: money, units per unit name, row count.

    Rows belong to the account through their job; `start` is inclusive, `end` exclusive.
    """
    if group_by not in COST_GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(COST_GROUPS)}")
    query = (select(ApiCost.provider, ApiCost.operation, ApiCost.job_id, ApiCost.profile_id,
                    ApiCost.created_at, ApiCost.unit, ApiCost.units, ApiCost.cost_usd)
             .join(Job, Job.id == ApiCost.job_id).where(Job.account_id == account_id))
    if profile_id is not None:
        query = query.where(ApiCost.profile_id == profile_id)
    if start is not None:
        query = query.where(ApiCost.created_at >= start)
    if end is not None:
        query = query.where(ApiCost.created_at < end)
    groups: dict[str, dict[str, Any]] = {}
    total = Decimal(0)
    for provider, operation, job_id, profile, created, unit, units, cost in session.execute(
            query.order_by(ApiCost.created_at)):
        key = {"provider": provider, "operation": operation, "job": job_id,
               "profile": profile or "(deleted)",
               "day": (aware(created) or created).date().isoformat()}[group_by]
        group = groups.setdefault(key, {"key": key, "cost_usd": Decimal(0), "units": {},
                                        "rows": 0})
        money = Decimal(cost or 0)
        group["cost_usd"] += money
        group["units"][unit or "units"] = round(group["units"].get(unit or "units", 0.0)
                                                + float(units or 0), 6)
        group["rows"] += 1
        total += money
    ordered = sorted(groups.values(), key=lambda g: g["key"])
    for group in ordered:
        group["cost_usd"] = _as_text(group["cost_usd"])
    return {"group_by": group_by, "groups": ordered, "total_usd": _as_text(total)}
