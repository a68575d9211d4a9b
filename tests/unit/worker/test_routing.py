"""Fleet routing lives in worker/: queues, priorities and time limits per stage; the store is
told the queues and never imports the fleet's settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.sequence import STAGE_NAMES
from store.settings import Settings, SettingsError
from worker.celery_app import create_celery
from worker.routing import QUEUES, ROUTES, STAGE_QUEUES, longest_time_limit, route_for

REPO = Path(__file__).resolve().parents[3]


def test_a_route_for_every_stage_in_order() -> None:
    """Each stage has one route on a known queue, and later stages get lower numbers."""
    assert [route.stage for route in ROUTES] == list(STAGE_NAMES)
    assert {route.queue for route in ROUTES} == set(QUEUES)
    assert STAGE_QUEUES == {"script": "cpu", "voice": "gpu", "captions": "gpu",
                            "render": "cpu", "publish": "cpu"}
    assert route_for("publish").priority < route_for("render").priority < route_for(
        "script").priority
    assert all(route.soft_time_limit < route.time_limit for route in ROUTES)
    assert longest_time_limit(2.0) == 2 * route_for("render").time_limit


def test_a_visibility_timeout_below_the_longest_limit_is_refused() -> None:
    """A broker that would redeliver a running render is refused, naming both settings."""
    env = {"REDIS_URL": "redis://127.0.0.1:1/0", "TIME_LIMIT_SCALE": "5"}
    with pytest.raises(SettingsError) as caught:
        create_celery(Settings.from_env(env))
    assert "BROKER_VISIBILITY_TIMEOUT" in str(caught.value)
    assert "TIME_LIMIT_SCALE" in str(caught.value)
    app = create_celery(Settings.from_env({**env, "BROKER_VISIBILITY_TIMEOUT": "20000"}))
    assert app.conf.broker_transport_options["visibility_timeout"] == 20000


def test_the_store_imports_no_fleet_settings() -> None:
    """store/ never imports worker/, and importing it loads no routing module."""
    for path in (REPO / "store").rglob("*.py"):
        source = path.read_text()
        assert "from worker" not in source and "import worker" not in source, path
    done = subprocess.run(
        [sys.executable, "-c", "import sys, store.jobs, store.services, store.settings; "
         "print(sorted(m for m in sys.modules if m.startswith('worker')))"],
        capture_output=True, text=True, check=True, timeout=60, cwd=REPO)
    assert done.stdout.strip() == "[]"
