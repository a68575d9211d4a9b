"""Videos worth watching, end to end: `./vf make` with an LLM (a local chat-completions
server) and a stock provider (a local Pexels), and a person approving an edited script on
the real fleet before anything is spoken."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import requests

from pipeline.tools import probe
from tests.e2e.conftest import Fleet
from tests.support.chat_server import chat_server, completion
from tests.support.stock_servers import pexels_server

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _answer() -> str:
    scenes = [("Cold water pulls out fewer bitter compounds from the beans than hot water "
               "ever could, so the cup tastes rounder.", "Fewer bitter notes",
               ["cold brew", "coffee beans"]),
              ("The coffee steeps for twelve to twenty four hours, slowly and gently, in the "
               "fridge.", "A slow steep", ["coffee steeping", "fridge"]),
              ("Less acid reaches the cup, which is why it feels so smooth and mellow on the "
               "tongue, even without any milk or sugar added.",
               "Less acid", ["iced coffee", "coffee cup"])]
    return json.dumps({"hook": "Why does cold brew taste so smooth?",
                       "scenes": [{"narration": n, "headline": h, "search_terms": t}
                                  for n, h, t in scenes],
                       "call_to_action": "Follow for more coffee science.",
                       "hashtags": ["coffee", "coldbrew"],
                       "caption": "The science of a smoother cup."})


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("stock") / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=1080x1920:rate=30", "-t", "12", "-pix_fmt", "yuv420p",
                    "-c:v", "libx264", "-preset", "ultrafast", str(out)], check=True,
                   timeout=120)
    return out.read_bytes()


def test_make_with_an_llm_and_stock_footage(tmp_path: Path, clip_bytes: bytes) -> None:
    """The narration is the model's script, the scenes show the stock clip, the job's costs
    are the server's token counts times the prices, and the sidecar credits the author."""
    with chat_server(completion(_answer(), prompt_tokens=900, completion_tokens=300)) as llm, \
            pexels_server() as pexels:
        video = pexels.video(7, 1080, 1920, 12, user="Ana Lens")
        for file in video["video_files"]:
            if file["width"]:
                pexels.serve(file["link"].removeprefix(pexels.base_url), clip_bytes)
        pexels.videos = {"cold brew": [video]}
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        env.update(DATA_DIR=str(tmp_path / "data"), LLM_BASE_URL=llm.base_url,
                   LLM_MODEL="tiny-coffee", LLM_PRICE_INPUT_PER_1K="0.25",
                   LLM_PRICE_OUTPUT_PER_1K="1.0", PEXELS_API_KEY=pexels.api_key,
                   PEXELS_BASE_URL=pexels.base_url, FETCH_ALLOW_HOSTS="127.0.0.1")
        out = tmp_path / "out.mp4"
        done = subprocess.run([str(REPO / "vf"), "make", "--idea",
                               "Why cold brew tastes smoother than hot coffee", "-o", str(out)],
                              env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        [request] = llm.received()
        assert "Why cold brew tastes smoother than hot coffee" in request.prompt
        assert any(r.path == "/videos/search" for r in pexels.api_requests())
        assert pexels.file_requests()  # the chosen clip was downloaded
    assert probe(out).duration > 15
    [sidecar_path] = (tmp_path / "data" / "exports").glob("*.json")
    sidecar = json.loads(sidecar_path.read_text())
    assert sidecar["narration"].startswith("Why does cold brew taste so smooth?")
    assert "twelve to twenty four hours" in sidecar["narration"]
    assert sidecar["generator"] == "llm:tiny-coffee"
    assert [a["author"] for a in sidecar["attribution"]] == ["Ana Lens"]
    assert sidecar["post"]["caption"].endswith("Footage: Pexels (Ana Lens)")
    with sqlite3.connect(tmp_path / "data" / "videofactory.db") as db:
        rows = db.execute("SELECT provider, operation, prompt_tokens, completion_tokens, "
                          "cost_usd, units FROM api_costs ORDER BY created_at").fetchall()
    by_operation = {row[1]: row for row in rows}
    assert by_operation["script"][:4] == ("llm:tiny-coffee", "script", 900, 300)
    assert float(by_operation["script"][4]) == pytest.approx(900 * 0.25 / 1000 + 300 / 1000)
    assert float(by_operation["voice"][4]) == 0 and by_operation["voice"][5] > 5
    assert float(by_operation["render"][4]) == 0 and by_operation["render"][5] > 0


def test_a_person_edits_and_approves_the_script_on_the_fleet(fleet: Fleet) -> None:
    """Submit with review; the job waits; one scene is edited; approval goes on from the
    voice stage and the captions speak the edited words; the script stage ran once."""
    headers = fleet.headers()
    made = requests.post(f"{fleet.base_url}/v1/jobs", headers=headers, timeout=10, json={
        "source": {"type": "idea", "idea": "Why kites fly",
                   "points": ["Wind pushes up on the sail", "The string holds it at an angle"]},
        "review": True, "quality": "draft", "visuals": "generated"})
    assert made.status_code == 202, made.text
    job_id = made.json()["id"]
    job = fleet.wait_for(job_id, {"awaiting_review", "failed"}, timeout=300)
    assert job["status"] == "awaiting_review", job
    assert job["stages"]["voice"]["status"] == "pending"
    time.sleep(2)  # nothing moves while it waits
    assert requests.get(f"{fleet.base_url}/v1/jobs/{job_id}", headers=headers,
                        timeout=10).json()["status"] == "awaiting_review"

    script = requests.get(f"{fleet.base_url}/v1/jobs/{job_id}/script", headers=headers,
                          timeout=10).json()
    script["scenes"][1]["narration"] = "Marmalade cartwheels lift every kite skyward."
    edited = requests.put(f"{fleet.base_url}/v1/jobs/{job_id}/script", headers=headers,
                          json=script, timeout=10)
    assert edited.status_code == 200, edited.text
    approved = requests.post(f"{fleet.base_url}/v1/jobs/{job_id}/approve", headers=headers,
                             timeout=10)
    assert approved.status_code == 202, approved.text
    job = fleet.wait_for(job_id, {"succeeded", "failed"}, timeout=600)
    assert job["status"] == "succeeded", (job, fleet.tail_logs())
    assert job["stages"]["script"]["attempts"] == 1
    sidecar = json.loads((fleet.export_dir / f"{job_id}.json").read_text())
    spoken = json.dumps(sidecar["captions"], ensure_ascii=False)  # the caption groups' words
    for word in ("Marmalade", "cartwheels", "skyward"):
        assert word in spoken
    assert "Wind pushes up on the sail" not in sidecar["narration"]
