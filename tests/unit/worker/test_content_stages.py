"""The script stage's content choices against real local servers: an LLM's script (and its
costs), a profile's own endpoint with its sealed key, stock footage for each scene with its
credits, and the zero-cost usage rows local stages write."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from store.models import ApiCost, Job
from store.secrets import SecretBox
from store.services import Services
from store.settings import Settings
from tests.support.chat_server import chat_server, completion
from tests.support.jobs import migrated_services, queued_idea_job
from tests.support.stock_servers import PexelsServer, pexels_server
from worker.execution import execute_stage
from worker.runner import run_job
from worker.stages import post_caption, script_notes

SECRET = "a-long-secret-key-for-the-content-tests-0123456789"


def _answer(words_per_scene: int = 15) -> str:
    scenes = [{"narration": " ".join(["Cold", *["brew"] * (words_per_scene - 2), "wins."]),
               "headline": f"Point {n}", "search_terms": [f"cold brew {n}", "coffee"]}
              for n in range(1, 5)]
    return json.dumps({"hook": "Ever wondered why cold brew tastes so smooth?",
                       "scenes": scenes, "call_to_action": "Follow for more coffee.",
                       "hashtags": ["coffee", "coldbrew"], "caption": "Smooth, explained."})


def _services(tmp_path: Path, **env: str) -> Any:
    return migrated_services(Settings.from_env({"DATA_DIR": str(tmp_path / "data"),
                                                "FETCH_ALLOW_HOSTS": "127.0.0.1", **env}))


def _set_options(services: Services, job_id: str, **options: Any) -> None:
    with services.sessions() as session:
        job = session.get(Job, job_id)
        job.options = {**(job.options or {}), **options}
        session.commit()


def _artifacts(services: Services, job_id: str) -> dict[str, str]:
    with services.sessions() as session:
        return dict(session.get(Job, job_id).artifacts)


def _costs(services: Services, job_id: str) -> list[ApiCost]:
    with services.sessions() as session:
        rows = list(session.scalars(select(ApiCost).where(ApiCost.job_id == job_id)
                                    .order_by(ApiCost.created_at)))
        for row in rows:
            session.expunge(row)
        return rows


def test_an_llm_writes_the_script_and_every_call_is_costed(tmp_path: Path) -> None:
    with chat_server(completion(_answer(), prompt_tokens=812, completion_tokens=230)) as llm, \
            _services(tmp_path, LLM_BASE_URL=f"{llm.base_url}", LLM_MODEL="tiny-model",
                      LLM_PRICE_INPUT_PER_1K="0.5", LLM_PRICE_OUTPUT_PER_1K="1.5") as services:
        job_id = queued_idea_job(services, "Why cold brew tastes smoother than hot coffee")
        execute_stage(services, "script", job_id, worker="test")
        artifacts = _artifacts(services, job_id)
        script = json.loads(services.media.read_bytes(artifacts["script"]))
        [request] = llm.received()
        assert request.body["model"] == "tiny-model"
        assert "Why cold brew tastes smoother than hot coffee" in request.prompt
        assert "authorization" not in request.headers  # no LLM_API_KEY: no header
        [cost] = _costs(services, job_id)
        notes = script_notes(services.media, artifacts)
    assert script["scenes"][0]["narration"] == "Ever wondered why cold brew tastes so smooth?"
    assert script["scenes"][1]["search_terms"] == ["cold brew 1", "coffee"]
    assert script["caption"] == "Smooth, explained."
    assert notes["generator"] == "llm:tiny-model"
    assert (cost.provider, cost.operation, cost.unit) == ("llm:tiny-model", "script", "tokens")
    assert (cost.prompt_tokens, cost.completion_tokens, cost.units) == (812, 230, 1042)
    # 812 × 0.5 / 1000 + 230 × 1.5 / 1000
    assert Decimal(cost.cost_usd) == Decimal("0.751000")
    assert cost.seconds is not None and cost.seconds >= 0


def test_a_profiles_own_endpoint_gets_its_own_sealed_key(tmp_path: Path) -> None:
    with chat_server(completion(_answer())) as llm, \
            _services(tmp_path, SECRET_KEY=SECRET, LLM_BASE_URL="http://127.0.0.1:9/v1",
                      LLM_MODEL="server-model", LLM_API_KEY="server-key") as services:
        job_id = queued_idea_job(services, "Why kites fly")
        _set_options(services, job_id, llm={"base_url": f"{llm.base_url}",
                                            "model": "brand-model"},
                     secrets={"llm_api_key": SecretBox(SECRET).seal("brand-key")},
                     script={"generator": "llm", "tone": "playful"})
        execute_stage(services, "script", job_id, worker="test")
        [request] = llm.received()
    assert request.headers["authorization"] == "Bearer brand-key"
    assert request.body["model"] == "brand-model"
    assert "playful" in request.prompt


def test_template_is_chosen_when_asked_even_with_an_llm(tmp_path: Path) -> None:
    with chat_server() as llm, _services(tmp_path, LLM_BASE_URL=f"{llm.base_url}",
                                         LLM_MODEL="m") as services:
        job_id = queued_idea_job(services, "Why kites fly")
        _set_options(services, job_id, script={"generator": "template"})
        execute_stage(services, "script", job_id, worker="test")
        notes = script_notes(services.media, _artifacts(services, job_id))
        assert llm.received() == [] and notes["generator"] == "template"


@pytest.fixture(scope="module")
def portrait_mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("stock") / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc=size=108x192:rate=25", "-t", "6", "-pix_fmt", "yuv420p",
                    str(out)], check=True, timeout=60)
    return out.read_bytes()


@pytest.fixture
def pexels() -> Iterator[PexelsServer]:
    with pexels_server() as server:
        yield server


def test_stock_footage_per_scene_with_credits(tmp_path: Path, pexels: PexelsServer,
                                             portrait_mp4: bytes) -> None:
    """A scene whose terms find a clip shows it; one whose terms find nothing gets a
    generated background, with the reason; the credits name the authors."""
    first = pexels.video(11, 1080, 1920, 20, user="Ana Lens")
    second = pexels.video(12, 1080, 1920, 20, user="Bo Frame")
    for video in (first, second):
        for file in video["video_files"]:
            if file["width"]:
                pexels.serve(file["link"].removeprefix(pexels.base_url), portrait_mp4)
    pexels.videos = {"cold brew 1": [first], "cold brew 2": [second]}
    with chat_server(completion(_answer())) as llm, _services(
            tmp_path, LLM_BASE_URL=f"{llm.base_url}", LLM_MODEL="m",
            PEXELS_API_KEY=pexels.api_key, PEXELS_BASE_URL=pexels.base_url) as services:
        job_id = queued_idea_job(services, "Why cold brew tastes smoother")
        _set_options(services, job_id, visuals="stock")
        execute_stage(services, "script", job_id, worker="test")
        artifacts = _artifacts(services, job_id)
        script = json.loads(services.media.read_bytes(artifacts["script"]))
        visuals = json.loads(services.media.read_bytes(artifacts["visuals"]))
        notes = script_notes(services.media, artifacts)
        costs = [c for c in _costs(services, job_id) if c.operation == "stock"]
    assert [v["source"] for v in visuals] == ["stock", "stock"]
    # Every search the provider answered is one request on the job's api_costs row.
    assert [(c.provider, c.units, c.unit, c.cost_usd) for c in costs] == [
        ("pexels", len(pexels.api_requests()), "requests", 0)]
    assert all(v["kind"] == "clip" and v["key"].startswith("fetched/") for v in visuals)
    # The hook (scene 0) searches with the first scene's terms and takes its clip; no clip is
    # shown twice, so scene 1 falls back; scene 2 finds its own; the rest find nothing.
    shown = [scene["visuals"] for scene in script["scenes"]]
    assert shown == [[0], [-1], [1], [-1], [-1], [-1]]
    reasons = {r["scene"]: r for r in notes["visuals"]}
    assert reasons[0]["visual"] == reasons[2]["visual"] == "stock"
    assert "earlier scene" in reasons[1]["reason"]
    assert reasons[3]["visual"] == "generated" and "cold brew 3" in reasons[3]["reason"]
    assert {a["author"] for a in notes["attribution"]} == {"Ana Lens", "Bo Frame"}
    assert all(a["licence"] == "Pexels License" for a in notes["attribution"])
    assert "Pexels" in notes["credit"] and "Ana Lens" in notes["credit"]
    assert all(r.headers.get("Authorization") == pexels.api_key
               for r in pexels.api_requests())


def test_post_caption_carries_the_credit_line() -> None:
    from pipeline.types import Scene, Script

    script = Script("Cold brew", (Scene("x", "y"),), "cta", ("#coffee", "brew"),
                    caption="Smooth, explained.")
    assert post_caption(script, "Footage: Pexels (Ana Lens)") == (
        "Smooth, explained. #coffee #brew\nFootage: Pexels (Ana Lens)")
    assert post_caption(Script("Title", (Scene("x", "y"),), "", ()), "") == "Title"


def test_a_job_without_an_llm_writes_zero_cost_usage_for_voice_and_render(
        tmp_path: Path) -> None:
    with _services(tmp_path) as services:
        job_id = queued_idea_job(services, "Why kites fly")
        _set_options(services, job_id, quality="draft", visuals="generated")
        assert run_job(services, job_id)
        rows = {row.operation: row for row in _costs(services, job_id)}
    assert set(rows) == {"voice", "render"}
    assert rows["voice"].unit == "speech_seconds" and rows["voice"].units > 0.5
    assert rows["render"].unit == "cpu_seconds" and rows["render"].units > 0
    assert all(Decimal(row.cost_usd) == 0 for row in rows.values())
