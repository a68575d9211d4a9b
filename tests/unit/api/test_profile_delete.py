"""DELETE /v1/profiles/<id>: the default and busy profiles stay; a deleted brand's projects,
logo and music go, while its jobs, batches and costs stay with no profile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from store import batches as batch_store
from store import jobs as job_store
from store.costs import Usage, record_usage
from store.db import session_scope
from store.models import ApiCost, Batch, Job, Profile, Project
from store.services import Services
from tests.unit.api.conftest import Api, new_account
from tests.unit.api.test_uploads import image_bytes, tone_bytes


def _new_brand(api: Api, name: str = "Summer range") -> str:
    response = api.client.post("/v1/profiles", json={"name": name, "hashtags": ["summer"]},
                               headers=api.headers)
    assert response.status_code == 201, response.json
    return response.json["id"]


def _delete(api: Api, profile_id: str) -> Any:
    return api.client.delete(f"/v1/profiles/{profile_id}", headers=api.headers)


def _finish(services: Services, job_id: str, status: str = "succeeded") -> None:
    with session_scope(services.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.status = status
    services.locks.release(job.project_id, job_id)


def test_the_default_profile_cannot_be_deleted(api: Api, services: Services) -> None:
    response = _delete(api, api.account.profile_id)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "default_profile"
    assert "/default" in response.json["error"]["message"]
    with services.sessions() as session:
        assert session.get(Profile, api.account.profile_id) is not None


def test_a_profile_with_a_job_under_way_cannot_be_deleted(api: Api, services: Services) -> None:
    brand = _new_brand(api)
    queued = api.create_job({"source": {"type": "idea", "idea": "Iced tea in a minute"},
                             "profile_id": brand})
    assert queued.status_code == 202
    response = _delete(api, brand)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "profile_in_use"
    assert "1 jobs" in response.json["error"]["message"]


def test_deleting_a_brand_keeps_its_jobs_batches_and_costs(api: Api, services: Services,
                                                            tmp_path: Path) -> None:
    brand = _new_brand(api)
    submitted = api.create_job({"source": {"type": "idea", "idea": "Iced tea in a minute"},
                                "profile_id": brand})
    job_id, project_id = submitted.json["id"], submitted.json["project_id"]
    _finish(services, job_id, "failed")
    with session_scope(services.sessions) as session:
        batch_id = batch_store.create_batch(
            session, account_id=api.account.account_id, profile_id=brand, preset="tiktok",
            source={"type": "feed", "url": "https://shop.example/feed.xml"}, options={}).id
    with session_scope(services.sessions) as session:
        cost_id = record_usage(session, job_id, Usage("llm:tiny", "script", 1200, "tokens",
                                                      prompt_tokens=900,
                                                      completion_tokens=300)).id
    headers = api.headers
    logo = api.client.put(f"/v1/profiles/{brand}/logo", data=image_bytes(),
                          headers=headers, content_type="image/png")
    assert logo.status_code == 200
    music = api.client.post(f"/v1/profiles/{brand}/music?filename=bed.mp3",
                            data=tone_bytes(tmp_path, seconds=6, name="bed.mp3"),
                            headers=headers, content_type="audio/mpeg")
    assert music.status_code == 201
    media_dir = services.settings.media_root / "profiles" / brand
    assert any(media_dir.rglob("*"))

    response = _delete(api, brand)
    assert response.status_code == 200, response.json
    assert response.json == {"id": brand, "deleted": True}

    with services.sessions() as session:
        assert session.get(Profile, brand) is None
        assert session.get(Project, project_id) is None
        job = session.get(Job, job_id)
        assert job is not None and (job.profile_id, job.project_id) == (None, None)
        stored_batch = session.get(Batch, batch_id)
        assert stored_batch is not None and stored_batch.profile_id is None
        cost = session.get(ApiCost, cost_id)
        assert cost is not None and cost.profile_id is None and cost.job_id == job_id
    assert not [path for path in media_dir.rglob("*") if path.is_file()]
    # The job is still the account's to read, with no profile, and its costs still count.
    shown = api.get(f"/v1/jobs/{job_id}")
    assert shown.status_code == 200
    assert (shown.json["profile_id"], shown.json["project_id"]) == (None, None)
    assert api.get("/v1/costs?group_by=job").json["groups"][0]["key"] == job_id
    # It cannot run again without a profile, and the profile is gone for every route.
    retried = api.client.post(f"/v1/jobs/{job_id}/retry", headers=headers)
    assert retried.status_code == 409
    assert retried.json["error"]["code"] == "profile_deleted"
    assert api.get(f"/v1/profiles/{brand}").status_code == 404
    assert _delete(api, brand).status_code == 404
    again = api.create_job({"source": {"type": "idea", "idea": "Iced tea"}, "profile_id": brand})
    assert again.status_code == 404
    assert again.json["error"]["code"] == "profile_not_found"


def test_a_deleted_brand_leaves_the_default_in_place(api: Api, services: Services) -> None:
    brand = _new_brand(api)
    assert _delete(api, brand).status_code == 200
    listed = api.get("/v1/profiles").json["profiles"]
    assert [(p["id"], p["is_default"]) for p in listed] == [(api.account.profile_id, True)]


def test_after_a_new_default_the_old_one_can_be_deleted(api: Api, services: Services) -> None:
    brand = _new_brand(api)
    made = api.client.post(f"/v1/profiles/{brand}/default", headers=api.headers)
    assert made.status_code == 200 and made.json["is_default"] is True
    assert _delete(api, api.account.profile_id).status_code == 200
    job = api.create_job({"source": {"type": "idea", "idea": "Iced tea in a minute"}})
    assert job.status_code == 202 and job.json["profile_id"] == brand


def test_another_accounts_profile_cannot_be_deleted(api: Api, services: Services,
                                                    client: FlaskClient) -> None:
    other = Api(client, new_account(services, "rival"))
    brand = _new_brand(other, "Rival brand")
    response = _delete(api, brand)
    assert response.status_code == 404
    assert "Rival" not in response.get_data(as_text=True)
    with services.sessions() as session:
        assert session.get(Profile, brand) is not None


@pytest.mark.parametrize("status", ["queued", "running", job_store.AWAITING_REVIEW])
def test_every_unfinished_status_keeps_the_profile(api: Api, services: Services,
                                                   status: str) -> None:
    brand = _new_brand(api)
    job_id = api.create_job({"source": {"type": "idea", "idea": "Iced tea in a minute"},
                             "profile_id": brand}).json["id"]
    _finish(services, job_id, status)
    assert _delete(api, brand).json["error"]["code"] == "profile_in_use"
    _finish(services, job_id, "canceled")
    assert _delete(api, brand).status_code == 200
