"""The chain a job is sent as: one task per stage, on its pool's queue, later stages first."""

from __future__ import annotations

import pytest
from kombu.transport.redis import PRIORITY_STEPS

from pipeline.sequence import STAGE_NAMES
from store.settings import Settings
from worker.celery_app import create_celery, task_name
from worker.chains import build_chain
from worker.routing import ROUTES


@pytest.fixture(scope="module")
def app():
    # Building the app and its signatures never connects to the broker.
    return create_celery(Settings.from_env({"REDIS_URL": "redis://127.0.0.1:1/0"}))


def _messages(app, from_stage: str | None = None) -> list[tuple[str, str, int]]:
    return [(task.task, task.options["queue"], task.options["priority"])
            for task in build_chain(app, "job_1", from_stage).tasks]


def test_each_stage_goes_to_its_pool(app) -> None:
    """Every stage is one task on its spec's queue, in the sequence's order."""
    assert [(name, queue) for name, queue, _ in _messages(app)] == [
        (task_name(route.stage), route.queue) for route in ROUTES]
    assert build_chain(app, "job_1").tasks[0].args == ({"job_id": "job_1"},)


def test_later_stages_are_served_first_on_each_queue(app) -> None:
    """On one queue a later stage has a lower number (Redis serves it first): a started job
    publishes before the next job's render begins."""
    messages = _messages(app)
    assert all(priority in PRIORITY_STEPS for _, _, priority in messages)
    for queue in ("cpu", "gpu"):
        on_queue = [priority for _, q, priority in messages if q == queue]
        assert on_queue == sorted(on_queue, reverse=True)
        assert len(set(on_queue)) == len(on_queue), queue


def test_a_resent_chain_keeps_its_priorities(app) -> None:
    """The reconciler's chain from a stage on carries the same priorities as the first one."""
    whole = _messages(app)
    for index, stage in enumerate(STAGE_NAMES):
        assert _messages(app, stage) == whole[index:]


def test_dispatch_marks_the_message_before_sending_it(app, monkeypatch) -> None:
    """When the chain is sent, its dispatch mark already exists (a fast worker clears it)."""
    from store.dispatch import MemoryDispatchMarks
    from worker import chains

    marks = MemoryDispatchMarks()
    seen_at_send: list[bool] = []

    class Chain:
        def apply_async(self) -> None:
            seen_at_send.append(marks.present("job_1", "voice"))
            marks.clear("job_1", "voice")  # the worker takes the message at once

    monkeypatch.setattr(chains, "build_chain", lambda *args: Chain())
    chains.CeleryDispatcher(app, marks).dispatch("job_1", "voice")
    assert seen_at_send == [True]
    assert not marks.present("job_1", "voice")  # nothing stale left for the reconciler


def test_a_failed_send_leaves_no_mark(app, monkeypatch) -> None:
    """A send that raises removes its mark again, so the reconciler re-sends the stage."""
    from store.dispatch import MemoryDispatchMarks
    from worker import chains

    marks = MemoryDispatchMarks()

    class Chain:
        def apply_async(self) -> None:
            raise ConnectionError("broker away")

    monkeypatch.setattr(chains, "build_chain", lambda *args: Chain())
    with pytest.raises(ConnectionError):
        chains.CeleryDispatcher(app, marks).dispatch("job_1", None)
    assert not marks.present("job_1", "script")


def test_dispatch_many_marks_every_job_first_and_drops_only_a_failed_ones_mark(
        app, monkeypatch) -> None:
    """A batch chunk's marks are all written before the first chain goes out; a send that
    fails loses only its own mark, and the chunk's other jobs are still sent."""
    from store.dispatch import MemoryDispatchMarks
    from worker import chains

    marks = MemoryDispatchMarks()
    job_ids = ["job_1", "job_2", "job_3"]
    sent: list[tuple[str, list[bool]]] = []

    class Chain:
        def __init__(self, job_id: str) -> None:
            self.job_id = job_id

        def apply_async(self) -> None:
            sent.append((self.job_id, [marks.present(j, "script") for j in job_ids]))
            if self.job_id == "job_2":
                raise ConnectionError("broker away")

    monkeypatch.setattr(chains, "build_chain", lambda _app, job_id, *rest: Chain(job_id))
    chains.CeleryDispatcher(app, marks).dispatch_many(job_ids)
    assert [job_id for job_id, _ in sent] == job_ids
    assert sent[0][1] == [True, True, True]
    assert [marks.present(j, "script") for j in job_ids] == [True, False, True]


def test_redis_marks_many_in_one_round_trip(redis_url: str) -> None:
    """Every mark of a chunk lands, with the broker's expiry, in one pipeline."""
    import redis

    from store.dispatch import RedisDispatchMarks

    client = redis.Redis.from_url(redis_url)
    marks = RedisDispatchMarks(client, "vf-test-marks", ttl_seconds=600)
    job_ids = [f"job_{n}" for n in range(250)]
    calls: list[str] = []
    original = client.execute_command

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(str(args[0]))
        return original(*args, **kwargs)

    client.execute_command = counted  # type: ignore[method-assign]
    marks.mark_many(job_ids, "script")
    client.execute_command = original  # type: ignore[method-assign]
    assert calls == []  # a pipeline sends its commands together, not one call each
    assert all(marks.present(j, "script") for j in job_ids)
    assert 590 <= client.ttl("vf-test-marks:dispatch:job_7:script") <= 600
    assert not marks.present("job_7", "voice")


def test_several_apps_in_one_process_keep_their_own_tasks() -> None:
    """Tests, benchmarks and the API each build apps: a second app (or any other) must not
    receive copies of the first one's tasks, which Celery reports as duplicate names."""
    import warnings

    from celery import Celery

    settings = Settings.from_env({"REDIS_URL": "redis://127.0.0.1:1/0"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first, second = create_celery(settings), create_celery(settings)
        other = Celery("other", broker="memory://", set_as_current=False)
        for each in (first, second, other):
            each.finalize()
    assert task_name("render") in second.tasks
    assert not [name for name in other.tasks if name.startswith("videofactory.")]
