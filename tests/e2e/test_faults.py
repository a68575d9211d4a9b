"""Real faults on a real fleet: a worker killed mid-stage, Redis restarted empty, a poison
input. Each test checks that nothing is lost and that only the broken stage runs again."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests
from PIL import Image
from sqlalchemy.engine import make_url

from bench.fleet import fresh_database
from store.migrate import upgrade
from tests.conftest import POSTGRES_ADMIN_URL
from tests.e2e.conftest import VIDEOFACTORY, _start, _stop, _wait_for_workers, free_port
from tests.support.ideas import idea_source
from tests.support.tiny_piper import build_tiny_piper_voice

pytestmark = pytest.mark.slow
SLOW_VOICE = "en_US-slowtest-low"


@dataclass
class FaultFleet:
    """A fleet with its own Redis server, whose processes the tests may kill and restart."""

    root: Path
    env: dict[str, str]
    base_url: str
    api_key: str
    database_url: str
    redis_port: int
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def start(self, name: str, *args: str) -> None:
        # Each start logs to its own file: a restarted worker must not erase its predecessor's.
        log = self.root / f"{name}-{len(list(self.root.glob(f'{name}-*.log')))}.log"
        self.processes[name] = _start(list(args), self.env, log)

    def kill(self, name: str) -> None:
        """SIGKILL the whole process group: the worker, its pool and its reconciler."""
        proc = self.processes.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def submit(self, body: dict) -> str:
        if body["source"].get("type") == "idea":  # timed faults need stages that take a while
            body = {**body, "source": idea_source(body["source"]["idea"])}
        response = requests.post(f"{self.base_url}/v1/jobs", json=body, headers=self.headers(),
                                 timeout=10)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def job(self, job_id: str) -> dict:
        return requests.get(f"{self.base_url}/v1/jobs/{job_id}", headers=self.headers(),
                            timeout=10).json()

    def wait(self, job_id: str, predicate, timeout: float = 400) -> dict:
        deadline = time.monotonic() + timeout
        body: dict = {}
        while time.monotonic() < deadline:
            body = self.job(job_id)
            if predicate(body):
                return body
            time.sleep(0.3)
        raise AssertionError(f"{job_id} never got there: {body}\n{self.logs()}")

    def finish(self, job_id: str, timeout: float = 400) -> dict:
        """The job's body once it has succeeded or failed."""
        return self.wait(job_id, lambda b: b["status"] in ("succeeded", "failed"), timeout)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}"
                         for p in sorted(self.root.glob("*.log")))

    def publications(self, job_id: str) -> int:
        url = make_url(self.database_url)
        with psycopg.connect(host=url.host, port=url.port, user=url.username,
                             password=url.password, dbname=url.database) as db:
            return int(db.execute("SELECT count(*) FROM publications WHERE job_id = %s",
                                  (job_id,)).fetchone()[0])


def _start_redis(port: int, root: Path) -> None:
    subprocess.run(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--daemonize", "yes", "--dir", str(root),
                    "--pidfile", str(root / "redis.pid"), "--logfile", str(root / "redis.out")],
                   check=True, timeout=30)
    for _ in range(100):
        if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                          text=True).stdout.strip() == "PONG":
            return
        time.sleep(0.1)
    raise AssertionError("redis-server did not start")


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultFleet]:
    """API, one cpu and one gpu worker (each with its reconciler) on a private Redis and a
    private database: another fleet's reconciler on the same database would act on these
    jobs through its own broker."""
    with fresh_database(POSTGRES_ADMIN_URL, f"vf_faults_{secrets.token_hex(4)}") as url:
        upgrade(url)
        yield from _fault_fleet(url, tmp_path_factory.mktemp("faults"))


def _fault_fleet(postgres_url: str, root: Path, **extra_env: str) -> Iterator[FaultFleet]:
    port, redis_port = free_port(), free_port()
    _start_redis(redis_port, root)
    voices = root / "voices"
    voices.mkdir()
    build_tiny_piper_voice(voices / f"{SLOW_VOICE}.onnx", slow_matmuls=60)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env.update({
        "DATABASE_URL": postgres_url, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "DATA_DIR": str(root / "data"), "MEDIA_ROOT": str(root / "media"),
        "EXPORT_DIR": str(root / "exports"), "VOICES_DIR": str(voices), "API_PORT": str(port),
        "VOICE_DOWNLOADS": "false",
        # Short leases and frequent passes, so the tests see recovery in seconds.
        "STAGE_LEASE_SECONDS": "6", "RECONCILE_INTERVAL": "1", **extra_env,
    })
    created = subprocess.run([VIDEOFACTORY, "accounts", "create", "faults"], env=env,
                             capture_output=True, text=True, timeout=60, check=True)
    fleet = FaultFleet(root, env, f"http://127.0.0.1:{port}", created.stdout.split()[-1],
                       postgres_url, redis_port)
    fleet.start("api", "serve")
    fleet.start("cpu", "worker", "--pool", "cpu", "--name", "cpu1")
    fleet.start("gpu", "worker", "--pool", "gpu", "--name", "gpu1")
    try:
        _wait_for_workers(env, ["cpu1", "gpu1"])
        yield fleet
    finally:
        _stop(list(fleet.processes.values()))
        subprocess.run(["redis-cli", "-p", str(redis_port), "shutdown", "nosave"],
                       capture_output=True, timeout=30)


def _stage(body: dict, name: str) -> dict:
    return body["stages"][name]


def _attempts(body: dict) -> dict[str, int]:
    """How many times each stage of a job ran."""
    return {name: stage["attempts"] for name, stage in body["stages"].items()}


ONCE_EACH = {"script": 1, "voice": 1, "captions": 1, "render": 1, "publish": 1}


def test_cpu_worker_killed_mid_render(faults: FaultFleet) -> None:
    """kill -9 of the cpu worker while it renders: a new worker renders again, nothing else."""
    job_id = faults.submit({"source": {"type": "idea", "idea": "Why cold brew is smoother"}})
    faults.wait(job_id, lambda b: _stage(b, "render")["status"] == "running"
                and b["progress"] > 30)
    faults.kill("cpu")
    faults.start("cpu", "worker", "--pool", "cpu", "--name", "cpu2")
    done = faults.finish(job_id)
    assert done["status"] == "succeeded", done
    assert _attempts(done) == {**ONCE_EACH, "render": 2}
    assert _stage(done, "render")["worker"].startswith("cpu2@")
    assert faults.publications(job_id) == 1


def test_gpu_worker_killed_mid_voice(faults: FaultFleet) -> None:
    """kill -9 of the gpu worker while it speaks: the voice runs again elsewhere, only it."""
    job_id = faults.submit({"source": {"type": "idea", "idea": "Why tea calms you down"},
                            "voice": {"voice": SLOW_VOICE}, "quality": "draft"})
    faults.wait(job_id, lambda b: _stage(b, "voice")["status"] == "running")
    # At once: a loaded machine still speaks the half-minute script in a few seconds, and a
    # kill after the voice finished would test nothing.
    time.sleep(0.3)
    faults.kill("gpu")
    assert _stage(faults.job(job_id), "voice")["status"] == "running", "killed too late"
    faults.start("gpu", "worker", "--pool", "gpu", "--name", "gpu2")
    done = faults.finish(job_id)
    assert done["status"] == "succeeded", done
    assert _attempts(done) == {**ONCE_EACH, "voice": 2}
    assert _stage(done, "voice")["worker"].startswith("gpu2@")


def test_redis_restarted_empty_during_a_batch(faults: FaultFleet) -> None:
    """Redis loses every message mid-batch: the reconciler re-sends from Postgres, all 6 finish."""
    jobs = [faults.submit({"source": {"type": "idea", "idea": f"Batch idea number {i}"},
                           "quality": "draft"}) for i in range(6)]
    faults.wait(jobs[0], lambda b: b["status"] == "running")
    subprocess.run(["redis-cli", "-p", str(faults.redis_port), "shutdown", "nosave"],
                   capture_output=True, timeout=30)
    time.sleep(2)
    _start_redis(faults.redis_port, faults.root)
    finished = [faults.finish(job, timeout=600) for job in jobs]
    assert [b["status"] for b in finished] == ["succeeded"] * 6, finished
    worker_logs = "".join(p.read_text(errors="replace") for p in faults.root.glob("*.log"))
    assert "(its message is no longer in the queue)" in worker_logs
    assert all(faults.publications(job) == 1 for job in jobs)


def test_poison_input_fails_only_its_own_job(faults: FaultFleet) -> None:
    """A picture that breaks the render fails its job with stage and reason; the next job runs;
    once the picture is replaced, a retry finishes the job from its render."""
    picture = faults.root / "fake.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(4000))  # a PNG that is not one
    key = "uploads/poison/fake.png"
    media = Path(faults.env["MEDIA_ROOT"]) / key
    media.parent.mkdir(parents=True, exist_ok=True)
    media.write_bytes(picture.read_bytes())
    poison = faults.submit({"source": {"type": "idea", "idea": "A poisoned picture"},
                            "quality": "draft"})
    # The API refuses such an upload; a file that rots in storage after upload is the case
    # left, so the media option is set on the stored job directly.
    url = make_url(faults.database_url)
    with psycopg.connect(host=url.host, port=url.port, user=url.username,
                         password=url.password, dbname=url.database) as db:
        db.execute("UPDATE jobs SET options = jsonb_set(options::jsonb, '{media}', "
                   "%s::jsonb)::json WHERE id = %s",
                   ('[{"key": "uploads/poison/fake.png", "kind": "still"}]', poison))
    healthy = faults.submit({"source": {"type": "idea", "idea": "A healthy idea"},
                             "quality": "draft"})
    bad = faults.finish(poison)
    good = faults.finish(healthy)
    assert bad["status"] == "failed"
    assert (bad["error"]["stage"], bad["error"]["code"]) == ("render", "bad_image")
    assert "fake.png" in bad["error"]["message"]
    assert good["status"] == "succeeded"

    # The picture is replaced by a good one; a retry renders from the failed stage on.
    Image.new("RGB", (640, 480), (40, 120, 200)).save(media, format="PNG")
    retried = requests.post(f"{faults.base_url}/v1/jobs/{poison}/retry",
                            headers=faults.headers(), timeout=10)
    assert retried.status_code == 202, retried.text
    assert retried.json()["from_stage"] == "render"
    done = faults.finish(poison)
    assert done["status"] == "succeeded", done
    assert _attempts(done) == ONCE_EACH
    for name in ("script", "voice", "captions"):  # not run again: same run as the failure
        assert _stage(done, name)["finished_at"] == _stage(bad, name)["finished_at"], name
    assert faults.publications(poison) == 1


def test_sigterm_lets_the_worker_finish_its_render(faults: FaultFleet) -> None:
    """SIGTERM during a render: the worker finishes it (warm shutdown), nothing runs twice."""
    job_id = faults.submit({"source": {"type": "idea", "idea": "Why bread rises"},
                            "quality": "draft"})
    faults.wait(job_id, lambda b: _stage(b, "render")["status"] == "running")
    worker = faults.processes.pop("cpu")
    os.kill(worker.pid, signal.SIGTERM)  # the main process only, as a supervisor would
    worker.wait(timeout=180)
    after = faults.job(job_id)
    assert _stage(after, "render")["status"] == "succeeded"
    faults.start("cpu", "worker", "--pool", "cpu", "--name", "cpu3")
    done = faults.finish(job_id)
    assert done["status"] == "succeeded"
    assert _attempts(done) == ONCE_EACH


def test_time_limit_fails_the_job_and_frees_the_worker(faults: FaultFleet) -> None:
    """A render past its time limit fails its job with a timeout reason; the worker goes on."""
    faults.kill("cpu")
    limited = {**faults.env, "TIME_LIMIT_SCALE": "0.004"}  # render: 7.2 s soft, 7.6 s hard
    faults.processes["cpu"] = _start(["worker", "--pool", "cpu", "--name", "cpu-limited"],
                                     limited, faults.root / "cpu-limited.log")
    _wait_for_workers(faults.env, ["cpu-limited"])
    slow = faults.submit({"source": {"type": "idea", "idea": "Why the sky is blue"},
                          "quality": "high"})
    failed = faults.finish(slow)
    assert failed["status"] == "failed"
    assert (failed["error"]["stage"], failed["error"]["code"]) == ("render", "timeout")
    assert "time limit" in failed["error"]["message"]
    after = faults.submit({"source": {"type": "idea", "idea": "Why leaves turn red"}})
    body = faults.wait(after, lambda b: b["stages"]["script"]["status"] == "succeeded")
    assert body["stages"]["script"]["worker"].startswith("cpu-limited@")
    faults.kill("cpu")
    faults.start("cpu", "worker", "--pool", "cpu", "--name", "cpu4")
    done = faults.finish(after)
    assert done["status"] == "succeeded", done
