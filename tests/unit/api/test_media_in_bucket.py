"""The API with its media in an S3 bucket (moto's server): uploads, brand files, the video by
Range and by presigned redirect, and the publish stage's export, all in the bucket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient

from api.app import create_app
from pipeline.sequence import STAGE_NAMES
from pipeline.types import no_progress
from store import jobs as job_store
from store.db import session_scope
from store.media import S3MediaStorage, artifact_key
from store.models import Upload
from store.services import Services
from store.settings import Settings
from tests.support.jobs import migrated_services
from tests.support.s3 import S3Server
from tests.unit.api.conftest import Api, RecordingDispatcher, new_account
from tests.unit.api.test_uploads import image_bytes, post_upload, tone_bytes
from worker.stages import JobInput, StageContext, run_publish


@pytest.fixture
def bucket_settings(embedded_settings: Settings, s3_server: S3Server,
                    s3_bucket: str) -> Settings:
    """Embedded settings whose media live in a fresh bucket, exports included."""
    env = {"DATA_DIR": str(embedded_settings.data_dir), "MEDIA_URL": f"s3://{s3_bucket}/vf",
           "S3_ENDPOINT_URL": s3_server.endpoint_url, "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test"}
    return Settings.from_env(env)


@pytest.fixture
def bucket_services(bucket_settings: Settings) -> Iterator[Services]:
    """Services on SQLite with media in the bucket."""
    with migrated_services(bucket_settings) as services:
        assert isinstance(services.media, S3MediaStorage)
        yield services


def _api(services: Services) -> tuple[Api, FlaskClient]:
    client = create_app(services=services, dispatcher=RecordingDispatcher()).test_client()
    return Api(client, new_account(services)), client


def _keys(services: Services, prefix: str) -> list[str]:
    return services.media.list(prefix)


def _finished_job(api: Api, services: Services, mp4: Path) -> str:
    job_id = api.create_job().json["id"]
    key = services.media.put_file(artifact_key(job_id, "render", "video.mp4"), mp4)
    with session_scope(services.sessions) as session:
        for stage in STAGE_NAMES:
            job_store.mark_stage_running(session, job_id, stage, worker="w@test")
            job_store.mark_stage_succeeded(session, job_id, stage,
                                           {"video": key} if stage == "render" else {})
    return job_id


def test_an_upload_goes_to_the_bucket_and_its_meta_to_the_database(
        bucket_services: Services) -> None:
    """The picture is an object in the bucket; its metadata a row; nothing else is stored."""
    api, _ = _api(bucket_services)
    data = image_bytes((64, 48), "PNG")
    response = post_upload(api, data, "shot.png")
    assert response.status_code == 201, response.json
    upload_id = response.json["id"]
    key = f"uploads/{api.account.account_id}/{upload_id}/shot.png"
    assert _keys(bucket_services, "uploads") == [key]
    assert bucket_services.media.read_bytes(key) == data
    with bucket_services.sessions() as session:
        assert session.get(Upload, upload_id).key == key
    assert api.get(f"/v1/uploads/{upload_id}").json == response.json


def test_the_video_is_served_by_range_from_the_bucket(bucket_services: Services,
                                                      small_mp4: Path) -> None:
    """A whole download and a Range request (206) read the object from the bucket."""
    api, _ = _api(bucket_services)
    job_id = _finished_job(api, bucket_services, small_mp4)
    data = small_mp4.read_bytes()
    with api.get(f"/v1/jobs/{job_id}/video") as whole:
        assert whole.status_code == 200 and whole.mimetype == "video/mp4"
        assert whole.get_data() == data
        assert whole.headers["Accept-Ranges"] == "bytes"
    with api.get(f"/v1/jobs/{job_id}/video", headers={"Range": "bytes=10-109"}) as part:
        assert part.status_code == 206
        assert part.headers["Content-Range"] == f"bytes 10-109/{len(data)}"
        assert part.get_data() == data[10:110]
    with api.get(f"/v1/jobs/{job_id}/video", headers={"Range": "bytes=-7"}) as tail:
        assert tail.status_code == 206 and tail.get_data() == data[-7:]
    with api.get(f"/v1/jobs/{job_id}/video",
                 headers={"Range": f"bytes={len(data) + 5}-"}) as past:
        assert past.status_code == 416
    bucket_services.media.delete(artifact_key(job_id, "render", "video.mp4"))
    gone = api.get(f"/v1/jobs/{job_id}/video")
    assert gone.status_code == 410 and gone.json["error"]["code"] == "video_gone"


def test_with_media_presign_the_video_is_a_redirect_to_the_bucket(
        bucket_settings: Settings, small_mp4: Path) -> None:
    """MEDIA_PRESIGN=true answers 302 to a presigned URL that serves the same bytes."""
    with migrated_services(replace(bucket_settings, media_presign=True)) as services:
        api, _ = _api(services)
        job_id = _finished_job(api, services, small_mp4)
        response = api.get(f"/v1/jobs/{job_id}/video")
        assert response.status_code == 302
        location = response.headers["Location"]
        assert "Signature" in location or "X-Amz-Signature" in location
        fetched = requests.get(location, timeout=10)
        assert fetched.status_code == 200 and fetched.content == small_mp4.read_bytes()
        seek = requests.get(location, headers={"Range": "bytes=0-9"}, timeout=10)
        assert seek.status_code == 206 and seek.content == small_mp4.read_bytes()[:10]


def test_the_export_copy_goes_to_the_buckets_exports(bucket_services: Services,
                                                     small_mp4: Path, tmp_path: Path) -> None:
    """Without EXPORT_DIR, publish writes exports/<job>.mp4 and .json into the bucket."""
    assert bucket_services.settings.export_dir is None
    api, _ = _api(bucket_services)
    job_id = _finished_job(api, bucket_services, small_mp4)
    media = bucket_services.media
    script = {"title": "Cold brew", "language": "en", "scenes": [],
              "call_to_action": "", "hashtags": ["#coffee"]}
    artifacts = {
        "script": media.put_bytes(artifact_key(job_id, "script", "script.json"),
                                  json.dumps(script).encode()),
        "voiceover": media.put_bytes(artifact_key(job_id, "voice", "voiceover.json"),
                                     json.dumps({"duration": 1.0, "sample_rate": 22050,
                                                 "words": [], "scenes": [],
                                                 "engine": "espeak"}).encode()),
        "captions_json": media.put_bytes(artifact_key(job_id, "captions", "captions.json"),
                                         b"[]"),
        "video": artifact_key(job_id, "render", "video.mp4"),
    }
    context = StageContext(bucket_services.settings, media, tmp_path, no_progress)
    run_publish(context, JobInput(job_id, "tiktok", {}, {}, artifacts))
    assert media.read_bytes(f"exports/{job_id}.mp4") == small_mp4.read_bytes()
    sidecar = json.loads(media.read_bytes(f"exports/{job_id}.json"))
    assert sidecar["job_id"] == job_id and sidecar["post"]["caption"] == "Cold brew #coffee"


def test_brand_logo_and_music_live_in_the_bucket(bucket_services: Services,
                                                tmp_path: Path) -> None:
    """A logo and a track are objects under profiles/<id>/; listing and deleting use them."""
    api, _ = _api(bucket_services)
    profile = api.account.profile_id
    logo = api.client.put(f"/v1/profiles/{profile}/logo", data=image_bytes((64, 64), "PNG"),
                          headers=api.headers)
    assert logo.status_code == 200, logo.json
    assert bucket_services.media.exists(f"profiles/{profile}/logo.png")
    deleted = api.client.delete(f"/v1/profiles/{profile}/logo", headers=api.headers)
    assert deleted.status_code == 200 and deleted.json["logo"] is False
    assert not bucket_services.media.exists(f"profiles/{profile}/logo.png")
    track = tone_bytes(tmp_path, seconds=6, name="six.mp3")
    added = api.client.post(f"/v1/profiles/{profile}/music?filename=song.mp3", data=track,
                            headers=api.headers)
    assert added.status_code == 201, added.json
    assert added.json["music"] == ["song.mp3"]
    assert bucket_services.media.read_bytes(f"profiles/{profile}/music/song.mp3") == track
    removed = api.client.delete(f"/v1/profiles/{profile}/music/song.mp3", headers=api.headers)
    assert removed.status_code == 200 and removed.json["music"] == []
    assert _keys(bucket_services, f"profiles/{profile}/music") == []
