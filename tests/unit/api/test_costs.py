"""GET /v1/costs and `videofactory costs`: the account's usage rows summed per group, with
another account's rows never counted."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from click.testing import CliRunner

from store.costs import Usage, record_usage
from store.models import ApiCost
from store.services import Services
from tests.support.jobs import queued_idea_job
from tests.unit.api.conftest import Api, new_account
from videofactory.cli import cli


def _job_of(services: Services, api: Api) -> str:
    response = api.create_job()
    assert response.status_code == 202, response.get_json()
    return str(response.get_json()["id"])


def _use(services: Services, job_id: str, usage: Usage, when: datetime | None = None) -> None:
    with services.sessions() as session:
        row = record_usage(session, job_id, usage)
        if when is not None:
            row.created_at = when
        session.commit()


LLM = Usage("llm:tiny", "script", 1042, "tokens", seconds=2.0, prompt_tokens=812,
            completion_tokens=230, price_input_per_1k=0.5, price_output_per_1k=1.5)
VOICE = Usage("piper", "voice", 27.5, "speech_seconds")
RENDER = Usage("ffmpeg", "render", 41.25, "cpu_seconds")


@pytest.fixture
def used(api: Api, services: Services) -> list[str]:
    first, second = _job_of(services, api), _job_of(services, api)
    _use(services, first, LLM, datetime(2026, 11, 30, 22, tzinfo=UTC))
    _use(services, first, VOICE, datetime(2026, 12, 1, 9, tzinfo=UTC))
    _use(services, second, VOICE, datetime(2026, 12, 1, 10, tzinfo=UTC))
    _use(services, second, RENDER, datetime(2026, 12, 2, 8, tzinfo=UTC))
    # Another account's spending never shows.
    _use(services, queued_idea_job(services, "someone else"), LLM)
    return [first, second]


def test_costs_per_provider_with_units(api: Api, used: list[str]) -> None:
    body = api.get("/v1/costs").get_json()
    assert body["group_by"] == "provider" and body["total_usd"] == "0.751000"
    assert [(g["key"], g["cost_usd"], g["units"], g["rows"]) for g in body["groups"]] == [
        ("ffmpeg", "0.000000", {"cpu_seconds": 41.25}, 1),
        ("llm:tiny", "0.751000", {"tokens": 1042.0}, 1),
        ("piper", "0.000000", {"speech_seconds": 55.0}, 2)]


@pytest.mark.parametrize(("query", "keys"), [
    ("group_by=day", ["2026-11-30", "2026-12-01", "2026-12-02"]),
    ("group_by=operation", ["render", "script", "voice"]),
    ("group_by=day&from=2026-12-01&to=2026-12-01", ["2026-12-01"]),
    ("group_by=day&from=2026-12-01T09:30:00Z", ["2026-12-01", "2026-12-02"]),
])
def test_costs_grouped_and_filtered(api: Api, used: list[str], query: str,
                                    keys: list[str]) -> None:
    body = api.get(f"/v1/costs?{query}").get_json()
    assert [g["key"] for g in body["groups"]] == keys


def test_costs_per_job_are_the_accounts_jobs(api: Api, used: list[str]) -> None:
    body = api.get("/v1/costs?group_by=job").get_json()
    assert sorted(g["key"] for g in body["groups"]) == sorted(used)
    profile = api.get(f"/v1/costs?group_by=profile&profile_id={api.account.profile_id}")
    assert [g["key"] for g in profile.get_json()["groups"]] == [api.account.profile_id]


@pytest.mark.parametrize(("query", "status", "field"), [
    ("group_by=month", 422, "group_by"), ("from=yesterday", 422, "from"),
    ("from=2026-12-02&to=2026-12-01T00:00:00Z", 422, "to"),
    ("profile_id=prof_nope", 404, "profile_id")])
def test_bad_cost_queries_name_the_field(api: Api, query: str, status: int,
                                         field: str) -> None:
    answer = api.get(f"/v1/costs?{query}")
    assert answer.status_code == status and answer.get_json()["error"]["field"] == field


def test_another_accounts_profile_is_not_found(api: Api, services: Services,
                                               used: list[str]) -> None:
    other = new_account(services, "other")
    answer = api.get(f"/v1/costs?profile_id={other.profile_id}")
    assert answer.status_code == 404 and other.profile_id in answer.get_json()["error"][
        "message"]


def test_the_costs_command_prints_the_same_totals(api: Api, services: Services,
                                                  used: list[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", services.settings.database_url)
    monkeypatch.setenv("DATA_DIR", str(services.settings.data_dir))
    with services.sessions() as session:
        assert session.query(ApiCost).count() == 5
        assert sum(Decimal(r.cost_usd) for r in session.query(ApiCost)) == Decimal("1.502")
    done = CliRunner().invoke(cli, ["costs", "--account", api.account.account_id, "--by",
                                    "operation"])
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert any("script" in line and "0.751000" in line and "1042 tokens" in line
               for line in lines)
    assert any("voice" in line and "55 speech_seconds" in line for line in lines)
    assert lines[-1].split()[-1] == "0.751000"
