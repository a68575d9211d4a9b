"""DELETE /v1/jobs/<id>: cancel a queued or running job; a canceled job can be retried."""

from __future__ import annotations

from store import jobs as job_store
from store.db import session_scope
from store.models import Job
from store.services import Services
from tests.unit.api.conftest import Api, RecordingDispatcher, new_account


def _project_of(services: Services, job_id: str) -> str:
    with services.sessions() as session:
        return session.get(Job, job_id).project_id


def test_cancel_a_queued_job(api: Api, services: Services) -> None:
    """202 with the job canceled in its first stage, the others skipped, the lock released."""
    job_id = api.create_job().get_json()["id"]
    project_id = _project_of(services, job_id)
    assert services.locks.holder(project_id) == job_id
    response = api.client.delete(f"/v1/jobs/{job_id}", headers=api.headers)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert (body["id"], body["status"], body["stage"]) == (job_id, "canceled", "script")
    assert {name: stage["status"] for name, stage in body["stages"].items()} == {
        "script": "canceled", "voice": "skipped", "captions": "skipped", "render": "skipped",
        "publish": "skipped"}
    assert body["finished_at"] is not None
    assert services.locks.holder(project_id) is None
    listed = api.get("/v1/jobs?status=canceled").get_json()["jobs"]
    assert [job["id"] for job in listed] == [job_id]


def test_cancel_a_running_job_cancels_its_running_stage(api: Api, services: Services) -> None:
    """The running stage becomes canceled (so its heartbeat fails), earlier work stays."""
    job_id = api.create_job().get_json()["id"]
    with session_scope(services.sessions) as session:
        job_store.mark_stage_running(session, job_id, "script", "w")
        job_store.mark_stage_succeeded(session, job_id, "script", {})
        acquired = job_store.acquire_stage(session, job_id, "voice", "w", 30)
        assert acquired is not None
        token = acquired[1]
    response = api.client.delete(f"/v1/jobs/{job_id}", headers=api.headers)
    assert response.status_code == 202
    stages = response.get_json()["stages"]
    assert (stages["script"]["status"], stages["voice"]["status"]) == ("succeeded", "canceled")
    with session_scope(services.sessions) as session:
        assert not job_store.heartbeat(session, job_id, "voice", token)
        assert job_store.mark_stage_succeeded(session, job_id, "voice", {}, token) is None
        assert job_store.acquire_stage(session, job_id, "voice", "w2", 30) is None


def test_a_finished_job_cannot_be_canceled(api: Api, services: Services) -> None:
    """Canceling twice, or canceling a failed job, is 409 job_finished saying its status."""
    job_id = api.create_job().get_json()["id"]
    assert api.client.delete(f"/v1/jobs/{job_id}", headers=api.headers).status_code == 202
    again = api.client.delete(f"/v1/jobs/{job_id}", headers=api.headers)
    assert again.status_code == 409
    error = again.get_json()["error"]
    assert error["code"] == "job_finished" and "canceled" in error["message"]


def test_another_accounts_job_cannot_be_canceled(api: Api, client, services: Services) -> None:
    """Another account's job is a 404, and it stays queued."""
    job_id = api.create_job().get_json()["id"]
    other = Api(client, new_account(services, "other"))
    response = other.client.delete(f"/v1/jobs/{job_id}", headers=other.headers)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "job_not_found"
    assert api.get(f"/v1/jobs/{job_id}").get_json()["status"] == "queued"


def test_a_canceled_job_is_retried_from_the_stage_it_was_canceled_in(
        api: Api, services: Services, dispatcher: RecordingDispatcher) -> None:
    """Retry after a cancel in `voice`: 202 from voice, script keeps its work, lock taken."""
    job_id = api.create_job().get_json()["id"]
    with session_scope(services.sessions) as session:
        job_store.mark_stage_running(session, job_id, "script", "w")
        job_store.mark_stage_succeeded(session, job_id, "script", {})
    assert api.client.delete(f"/v1/jobs/{job_id}", headers=api.headers).status_code == 202
    response = api.client.post(f"/v1/jobs/{job_id}/retry", headers=api.headers)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["from_stage"] == "voice"
    assert (dispatcher.dispatched[-1], dispatcher.from_stages[-1]) == (job_id, "voice")
    job = api.get(f"/v1/jobs/{job_id}").get_json()
    assert job["status"] == "queued"
    assert (job["stages"]["script"]["status"], job["stages"]["voice"]["status"]) == (
        "succeeded", "pending")
    assert services.locks.holder(_project_of(services, job_id)) == job_id
