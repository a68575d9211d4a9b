"""A job's caption files, its draft preview and the post caption, after its real script, voice
and captions stages ran in-process; and voice samples from GET /v1/voices/sample."""

from __future__ import annotations

import io
import json
import subprocess
import wave
from pathlib import Path

import pytest

from store.models import Job
from store.services import Services
from tests.unit.api.conftest import Api
from worker.execution import execute_stage

IDEA = "Why kites fly higher at the beach"


@pytest.fixture
def spoken_job(api: Api, services: Services) -> str:
    """A job whose script, voice and captions are done; render and publish are not."""
    answer = api.create_job({"source": {"type": "idea", "idea": IDEA,
                                        "points": ["Sea wind is steady."]},
                             "preset": "tiktok"})
    assert answer.status_code == 202, answer.json
    job_id = answer.json["id"]
    for stage in ("script", "voice", "captions"):
        execute_stage(services, stage, job_id, worker=f"{stage}@test")
    return job_id


def test_caption_files_are_served_once_made(api: Api, services: Services,
                                            spoken_job: str) -> None:
    srt = api.get(f"/v1/jobs/{spoken_job}/files/captions.srt")
    assert srt.status_code == 200 and srt.mimetype == "application/x-subrip"
    assert "-->" in srt.get_data(as_text=True)
    vtt = api.get(f"/v1/jobs/{spoken_job}/files/captions.vtt")
    assert vtt.mimetype == "text/vtt" and vtt.get_data(as_text=True).startswith("WEBVTT")
    words = json.loads(api.get(f"/v1/jobs/{spoken_job}/files/captions.json").get_data())
    assert words  # the caption words with their times
    ranged = api.get(f"/v1/jobs/{spoken_job}/files/captions.srt", headers={"Range": "bytes=0-4"})
    assert ranged.status_code == 206 and len(ranged.get_data()) == 5
    unknown = api.get(f"/v1/jobs/{spoken_job}/files/voice.wav")
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "file_not_found"
    not_yet = api.get(f"/v1/jobs/{spoken_job}/files/preview.mp4")
    assert not_yet.status_code == 409 and not_yet.json["error"]["code"] == "file_not_ready"


def test_the_post_caption_is_shown_once_there_is_a_script(api: Api, spoken_job: str) -> None:
    content = api.get(f"/v1/jobs/{spoken_job}").json["content"]
    assert content["post_caption"] and "#" in content["post_caption"]


def test_a_preview_is_rendered_as_a_half_size_draft(api: Api, services: Services,
                                                    spoken_job: str, tmp_path: Path) -> None:
    made = api.client.post(f"/v1/jobs/{spoken_job}/preview", headers=api.headers)
    assert made.status_code == 200, made.json
    assert made.json["url"] == f"/v1/jobs/{spoken_job}/files/preview.mp4"
    video = api.get(made.json["url"])
    assert video.status_code == 200 and video.mimetype == "video/mp4"
    path = tmp_path / "preview.mp4"
    path.write_bytes(video.get_data())
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
        capture_output=True, check=True, text=True).stdout)
    picture = next(s for s in probe["streams"] if s["codec_type"] == "video")
    assert (picture["width"], picture["height"]) == (540, 960)
    assert any(s["codec_type"] == "audio" for s in probe["streams"])
    # The job's own artifacts are left as its stages wrote them.
    with services.sessions() as session:
        job = session.get(Job, spoken_job)
        assert job is not None and "preview" not in job.artifacts
        assert set(job.artifacts) >= {"script", "voice_wav", "captions_srt"}


def test_a_preview_before_the_voice_is_409(api: Api) -> None:
    job_id = api.create_job().json["id"]
    refused = api.client.post(f"/v1/jobs/{job_id}/preview", headers=api.headers)
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "preview_not_ready"
    assert "voice_wav" in refused.json["error"]["message"]


def _wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as wav:
        return wav.getnframes() / wav.getframerate()


def test_a_voice_sample_speaks_and_is_kept(api: Api, services: Services) -> None:
    sample = api.get("/v1/voices/sample?language=de&engine=espeak")
    assert sample.status_code == 200 and sample.mimetype == "audio/wav"
    assert 1.0 < _wav_seconds(sample.get_data()) < 8.0
    faster = api.get("/v1/voices/sample?language=de&engine=espeak&speed=1.5")
    assert _wav_seconds(faster.get_data()) < _wav_seconds(sample.get_data())
    kept = list((services.settings.media_root / "voice-samples").iterdir())
    assert len(kept) == 2
    again = api.get("/v1/voices/sample?language=de&engine=espeak")
    assert again.get_data() == sample.get_data()
    assert len(list((services.settings.media_root / "voice-samples").iterdir())) == 2


@pytest.mark.parametrize("query, field", [
    ("language=english", "language"), ("speed=9", "speed"), ("speed=nan", "speed"),
    ("voice=../../etc/passwd", "voice"), ("engine=loud", "engine"),
    ("language=de&engine=espeak&voice=en-us", "voice"),
])
def test_bad_sample_requests_are_422_naming_the_field(api: Api, query: str,
                                                      field: str) -> None:
    refused = api.get(f"/v1/voices/sample?{query}")
    assert refused.status_code == 422, refused.json
    assert refused.json["error"]["field"] == field
