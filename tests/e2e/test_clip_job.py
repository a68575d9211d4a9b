"""An uploaded landscape product clip becomes a vertical video: cut and fitted to the preset,
its own sound kept under a voiceover written from the product fields, captioned, with a call
to action — through the embedded API and its in-process runner."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from flask.testing import FlaskClient

from api.app import create_app
from pipeline.render.check import check_output
from pipeline.render.compositor import output_preset
from pipeline.render.presets import get_preset
from store.accounts import create_account
from store.db import session_scope
from store.services import Services
from store.settings import Settings
from tests.support.jobs import migrated_services
from tests.support.media import frame_at

pytestmark = pytest.mark.slow
TONE_HZ = 1000


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    with migrated_services(Settings.from_env({"DATA_DIR": str(tmp_path / "data")})) as svc:
        yield svc


def _green_clip(out: Path) -> Path:
    """6 s of 1280×720 pure green at 30 fps with a steady 1 kHz tone."""
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi",
                    "-i", "color=c=0x00C000:s=1280x720:r=30",
                    "-f", "lavfi", "-i", f"sine=f={TONE_HZ}:sample_rate=48000", "-t", "6",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", str(out)], check=True, timeout=120)
    return out


def _tone_share(video: Path, start: float, seconds: float) -> float:
    """How much of the audio's energy in a window lies within 20 Hz of the tone."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-ss", str(start), "-t", str(seconds),
                          "-i", str(video), "-ac", "1", "-ar", "16000", "-f", "s16le", "-"],
                         check=True, capture_output=True, timeout=60).stdout
    samples = np.frombuffer(raw, np.int16).astype(np.float64)
    power = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / 16000)
    return float(power[np.abs(freqs - TONE_HZ) < 20].sum() / power.sum())


def test_a_landscape_clip_is_fitted_voiced_captioned_and_keeps_its_sound(
    services: Services, tmp_path: Path
) -> None:
    with session_scope(services.sessions) as session:
        account = create_account(session, "clip-shop")
    app = create_app(services=services)  # embedded: the in-process runner
    client: FlaskClient = app.test_client()
    headers = {"Authorization": f"Bearer {account.api_key}"}
    upload = client.post("/v1/uploads?filename=mug.mp4", headers=headers,
                         data=_green_clip(tmp_path / "mug.mp4").read_bytes(),
                         content_type="application/octet-stream")
    assert upload.status_code == 201 and upload.json["audio"] is True
    submitted = client.post("/v1/jobs", headers=headers, json={
        "source": {"type": "clip", "upload_id": upload.json["id"], "keep_audio": True,
                   "product": {"title": "Acme Thermal Mug", "price": "20.00",
                               "currency": "USD", "link": "https://shop.example.com/mug",
                               "description": "Keeps coffee hot for six hours. "
                                              "Double-walled steel stays cool to the touch."}},
        "quality": "draft"})
    assert submitted.status_code == 202, submitted.json
    job_id = submitted.json["id"]
    deadline = time.monotonic() + 300
    while (job := client.get(f"/v1/jobs/{job_id}", headers=headers).json)["status"] in (
            "queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
    assert job["status"] == "succeeded", job
    video = tmp_path / "out.mp4"
    video.write_bytes(client.get(f"/v1/jobs/{job_id}/video", headers=headers).data)
    app.extensions["videofactory"]["dispatcher"].shutdown()

    draft = output_preset(get_preset("tiktok"), "draft")
    problems = [p for p in check_output(video, draft) if not p.startswith("profile:")]
    assert problems == []  # 540×960 (draft), 30 fps, H.264 + AAC, within the duration
    # The clip fills the vertical frame (over a blurred copy of itself): green everywhere
    # outside the text, at 2 s and again at 8 s, when the 6 s clip has started again.
    for t in (2.0, 8.0):
        frame = frame_at(video, t, draft.width, draft.height).astype(int)
        middle = frame[draft.height * 2 // 5: draft.height // 2]
        assert middle[..., 1].mean() > 120 and middle[..., 0].mean() < 60, t
    # Its own sound stays under the voice: ducked, the tone is still a clear part of the mix
    # (about 4 %; a voiceover alone puts about 0.3 % of its energy within 20 Hz of 1 kHz).
    assert _tone_share(video, 1.0, 4.0) > 0.02
    # Captioned from the voiceover, which the product fields wrote.
    captions = services.media.read_bytes(f"{job_id}/captions/captions.srt").decode()
    assert "Acme" in captions and "$20.00" in captions
