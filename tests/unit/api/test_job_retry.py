"""POST /v1/jobs/<id>/retry: a failed job runs again from its failed stage."""

from __future__ import annotations

from store import jobs as job_store
from store.db import session_scope
from store.models import Job
from store.services import Services
from tests.unit.api.conftest import Api, RecordingDispatcher, new_account


def _failed_job(api: Api, services: Services, stage: str = "render") -> str:
    created = api.create_job()
    assert created.status_code == 202
    job_id = created.get_json()["id"]
    with session_scope(services.sessions) as session:
        for done in ("script", "voice", "captions", "render"):
            if done == stage:
                break
            job_store.mark_stage_running(session, job_id, done, "w")
            job_store.mark_stage_succeeded(session, job_id, done, {})
        job_store.mark_stage_running(session, job_id, stage, "w")
        job = job_store.mark_stage_failed(session, job_id, stage, "timeout", "too slow")
        assert job is not None
        project_id = job.project_id
    services.locks.release(project_id, job_id)  # as the worker does when a job fails
    return job_id


def test_retry_sends_the_job_from_its_failed_stage(api: Api, services: Services,
                                                   dispatcher: RecordingDispatcher) -> None:
    """202 from the failed stage; the stages before it stay done, the job is queued again."""
    job_id = _failed_job(api, services, "render")
    response = api.client.post(f"/v1/jobs/{job_id}/retry", headers=api.headers)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert (body["id"], body["status"], body["from_stage"]) == (job_id, "queued", "render")
    assert response.headers["Location"].endswith(f"/v1/jobs/{job_id}")
    assert (dispatcher.dispatched[-1], dispatcher.from_stages[-1]) == (job_id, "render")
    job = api.get(f"/v1/jobs/{job_id}").get_json()
    assert (job["status"], job["error"]) == ("queued", None)
    assert {name: stage["status"] for name, stage in job["stages"].items()} == {
        "script": "succeeded", "voice": "succeeded", "captions": "succeeded",
        "render": "pending", "publish": "pending"}
    with services.sessions() as session:
        project_id = session.get(Job, job_id).project_id
    assert services.locks.holder(project_id) == job_id


def test_only_failed_jobs_are_retried(api: Api, dispatcher: RecordingDispatcher) -> None:
    """A queued job is a 409 job_not_failed and is not sent again."""
    job_id = api.create_job().get_json()["id"]
    sent = len(dispatcher.dispatched)
    response = api.client.post(f"/v1/jobs/{job_id}/retry", headers=api.headers)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "job_not_failed"
    assert "queued" in response.get_json()["error"]["message"]
    assert len(dispatcher.dispatched) == sent


def test_retry_waits_for_the_projects_running_generation(api: Api, services: Services) -> None:
    """While another job of the project holds its lock, a retry is 409 project_busy, unchanged."""
    job_id = _failed_job(api, services, "voice")
    with services.sessions() as session:
        project_id = session.get(Job, job_id).project_id
    assert services.locks.acquire(project_id, "job_other", 60)
    response = api.client.post(f"/v1/jobs/{job_id}/retry", headers=api.headers)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "project_busy"
    assert api.get(f"/v1/jobs/{job_id}").get_json()["status"] == "failed"


def test_another_accounts_job_cannot_be_retried(api: Api, client, services: Services) -> None:
    """Another account's failed job is a 404, like a missing one."""
    job_id = _failed_job(api, services)
    other = Api(client, new_account(services, "other"))
    response = other.client.post(f"/v1/jobs/{job_id}/retry", headers=other.headers)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "job_not_found"


def test_retry_that_cannot_be_sent_fails_the_job_again(api: Api, services: Services,
                                                       dispatcher: RecordingDispatcher) -> None:
    """With the broker down the retry is a 503 and the job is failed at its stage, not queued."""
    job_id = _failed_job(api, services, "captions")
    dispatcher.fail_with = ConnectionError("redis down")
    response = api.client.post(f"/v1/jobs/{job_id}/retry", headers=api.headers)
    assert response.status_code == 503
    job = api.get(f"/v1/jobs/{job_id}").get_json()
    assert (job["status"], job["error"]["stage"], job["error"]["code"]) == (
        "failed", "captions", "broker_unavailable")
