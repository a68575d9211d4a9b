"""GET /v1/jobs: the account's jobs, newest first, filtered and paged."""

from __future__ import annotations

import pytest

from store.db import session_scope
from store.models import Job
from store.services import Services
from tests.unit.api.conftest import Api, new_account


def _submit(api: Api, count: int) -> list[str]:
    ids = []
    for i in range(count):
        response = api.create_job({"source": {"type": "idea", "idea": f"Why idea {i} works"}})
        assert response.status_code == 202, response.get_json()
        ids.append(response.get_json()["id"])
    return ids


def _set_status(services: Services, job_id: str, status: str) -> None:
    with session_scope(services.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.status = status


def test_jobs_are_listed_newest_first_with_their_stages(api: Api) -> None:
    """Every job of the account, newest first, in the same shape as GET /v1/jobs/<id> but for
    the costs, content and publications, which only the job itself shows."""
    ids = _submit(api, 3)
    body = api.get("/v1/jobs").get_json()
    assert [job["id"] for job in body["jobs"]] == ids[::-1]
    assert body["next_before"] is None
    single = api.get(f"/v1/jobs/{ids[-1]}").get_json()
    assert single.pop("costs") == {"items": [], "total_usd": "0.000000"}
    assert single.pop("content") == {"generator": None, "warnings": [], "visuals": [],
                                     "attribution": [], "post_caption": None}  # no script yet
    assert single.pop("publications") == []
    assert body["jobs"][0] == single


def test_pages_follow_each_other_without_gaps(api: Api) -> None:
    """limit + next_before walk every job exactly once; the last page says there is no more."""
    ids = _submit(api, 5)
    seen, before = [], None
    for _ in range(3):
        query = "/v1/jobs?limit=2" + (f"&before={before}" if before else "")
        body = api.get(query).get_json()
        seen += [job["id"] for job in body["jobs"]]
        before = body["next_before"]
    assert seen == ids[::-1]
    assert before is None


def test_filters_by_status_and_project(api: Api, services: Services) -> None:
    """status= and project_id= narrow the list to matching jobs."""
    ids = _submit(api, 3)
    _set_status(services, ids[0], "failed")
    failed = api.get("/v1/jobs?status=failed").get_json()["jobs"]
    assert [job["id"] for job in failed] == [ids[0]]
    project = api.get(f"/v1/jobs/{ids[1]}").get_json()["project_id"]
    in_project = api.get(f"/v1/jobs?project_id={project}").get_json()["jobs"]
    assert [job["id"] for job in in_project] == [ids[1]]
    profile = failed[0]["profile_id"]
    assert len(api.get(f"/v1/jobs?profile_id={profile}").get_json()["jobs"]) == 3


def test_other_accounts_jobs_are_not_listed(api: Api, client, services: Services) -> None:
    """Another account sees only its own jobs, and cannot page from one of ours."""
    mine = _submit(api, 2)
    other = Api(client, new_account(services, "other"))
    assert other.get("/v1/jobs").get_json() == {"jobs": [], "next_before": None}
    response = other.get(f"/v1/jobs?before={mine[0]}")
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "before"


@pytest.mark.parametrize(("query", "field", "code"), [
    ("status=done", "status", "invalid_field"),
    ("limit=0", "limit", "invalid_field"),
    ("limit=101", "limit", "invalid_field"),
    ("limit=ten", "limit", "invalid_field"),
    ("limit=%C2%B2", "limit", "invalid_field"),  # "²" is a digit to str.isdigit, not to int
    ("before=job_missing", "before", "invalid_field"),
    ("sort=asc", "sort", "unknown_field"),
])
def test_bad_query_says_what_to_fix(api: Api, query: str, field: str, code: str) -> None:
    """A bad parameter is a 422 naming the parameter, never a 500 or a silent default."""
    response = api.get(f"/v1/jobs?{query}")
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert field in error["message"]


def test_listing_needs_a_key(client) -> None:
    """Without credentials the list is a JSON 401."""
    response = client.get("/v1/jobs")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"]
