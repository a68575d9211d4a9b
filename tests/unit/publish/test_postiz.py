"""The Postiz client, post bodies, pre-publish checks and posting windows, against a fake
Postiz on 127.0.0.1 that answers as Postiz's code does."""

from __future__ import annotations

import hashlib
import subprocess
import tracemalloc
import unicodedata
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pipeline.publish.checks import VideoInfo, check_for_platform
from pipeline.publish.postiz import (
    MAX_UPLOAD_BYTES,
    PostizClient,
    PostizError,
    PostRequest,
    UploadedMedia,
)
from pipeline.publish.postiz_posts import (
    PostPlan,
    build_request,
    caption_with_marker,
    content_html,
    content_marker,
    render_title,
)
from pipeline.publish.schedule import next_slots, parse_windows
from tests.support.postiz_server import PostizServer, _plain, postiz_server

LOCAL = frozenset({"127.0.0.1"})
WHEN = datetime(2030, 3, 4, 17, 30, tzinfo=ZoneInfo("Europe/Berlin"))
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
BERLIN = "Europe/Berlin"
ALL_DAY = [{"days": "mon-sun", "from": "09:00", "to": "21:00"}]


@pytest.fixture
def server() -> Iterator[PostizServer]:
    """A fake Postiz with a TikTok, a YouTube and an Instagram channel."""
    with postiz_server(api_key="pk_live_5ecret") as fake:
        yield fake


@pytest.fixture
def client(server: PostizServer) -> Iterator[PostizClient]:
    """A client for the fake, with loopback allow-listed."""
    with PostizClient(server.base_url, server.api_key, allow_hosts=LOCAL) as postiz:
        yield postiz


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """A small file that sniffs as MP4."""
    path = tmp_path / "job-1.mp4"
    path.write_bytes(MP4_HEAD + bytes(range(256)) * 40)
    return path


def _plan(platform: str, uploaded: UploadedMedia, /, **changes: Any) -> PostPlan:
    fields: dict[str, Any] = {
        "platform": platform, "integration_id": f"int-{platform}", "post_type": "schedule",
        "date": WHEN, "caption": "Five facts about owls\n#owls #facts", "media": (uploaded,),
        "title": "Five facts about owls" if platform == "youtube" else "",
    }
    return PostPlan(**{**fields, **changes})


def _vertical(**changes: Any) -> VideoInfo:
    fields: dict[str, Any] = {"duration": 42.0, "width": 1080, "height": 1920,
                              "video_codec": "h264", "audio_codec": "aac",
                              "size_bytes": 30_000_000}
    return VideoInfo(**{**fields, **changes})


# --- the client against the fake ---------------------------------------------------------

def test_integrations_sends_the_bare_key(server: PostizServer, client: PostizClient) -> None:
    """The key goes in Authorization exactly as given, with no Bearer prefix."""
    channels = client.integrations()
    assert [(c.id, c.identifier) for c in channels] == [
        ("int-tiktok", "tiktok"), ("int-youtube", "youtube"), ("int-instagram", "instagram")]
    [seen] = server.seen("GET", "/integrations")
    assert seen.headers["authorization"] == "pk_live_5ecret"


def test_base_url_may_omit_public_v1(server: PostizServer) -> None:
    """`http://host/api`-style backend URLs get /public/v1 appended."""
    backend = server.base_url.removesuffix("/public/v1")
    with PostizClient(backend + "/", server.api_key, allow_hosts=LOCAL) as postiz:
        assert postiz.base_url == server.base_url
        assert len(postiz.integrations()) == 3


def test_upload_is_multipart_field_file(server: PostizServer, client: PostizClient,
                                        video: Path) -> None:
    """The video goes as multipart field "file" and comes back as {id, path}."""
    media = client.upload(video)
    [seen] = server.seen("POST", "/upload")
    assert seen.upload is not None
    assert (seen.upload.field, seen.upload.filename, seen.upload.content_type) == (
        "file", "job-1.mp4", "video/mp4")
    assert seen.upload.size == video.stat().st_size
    assert seen.upload.sha256 == hashlib.sha256(video.read_bytes()).hexdigest()
    assert seen.headers["authorization"] == "pk_live_5ecret"
    assert server.uploads[media.id] == video.read_bytes()
    assert media.path.endswith(".mp4")


def test_upload_streams_from_disk(server: PostizServer, client: PostizClient,
                                  tmp_path: Path) -> None:
    """A 48 MB upload never holds more than a few MB in memory on either side."""
    server.keep_upload_bytes = False
    path = tmp_path / "big.mp4"
    with path.open("wb") as handle:
        handle.write(MP4_HEAD)
        handle.truncate(48 * 1024 * 1024)
    tracemalloc.start()
    try:
        client.upload(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert server.seen("POST", "/upload")[0].upload.size == path.stat().st_size
    assert peak < 8 * 1024 * 1024


def test_upload_over_one_gib_is_refused_before_sending(server: PostizServer,
                                                       client: PostizClient,
                                                       tmp_path: Path) -> None:
    """Postiz's 1 GiB limit is checked here, so a huge file is never sent."""
    path = tmp_path / "huge.mp4"
    with path.open("wb") as handle:
        handle.write(MP4_HEAD)
        handle.truncate(MAX_UPLOAD_BYTES + 1)  # sparse: takes no disk space
    with pytest.raises(PostizError) as caught:
        client.upload(path)
    assert caught.value.code == "postiz_rejected"
    assert "1 GiB" in caught.value.message
    assert server.requests == []


def test_upload_refuses_what_postiz_does_not_take(server: PostizServer, client: PostizClient,
                                                  tmp_path: Path) -> None:
    """A QuickTime file is refused with the type found; Postiz keeps only MP4 video."""
    path = tmp_path / "clip.mov"
    path.write_bytes(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + b"\x00" * 64)
    with pytest.raises(PostizError, match="video/quicktime") as caught:
        client.upload(path)
    assert caught.value.code == "postiz_rejected"
    assert server.requests == []


TIKTOK_SETTINGS = {
    "__type": "tiktok", "privacy_level": "PUBLIC_TO_EVERYONE", "duet": False, "stitch": False,
    "comment": True, "autoAddMusic": "no", "brand_content_toggle": False,
    "brand_organic_toggle": False, "video_made_with_ai": True,
    "content_posting_method": "DIRECT_POST",
}
YOUTUBE_SETTINGS = {"__type": "youtube", "type": "public", "selfDeclaredMadeForKids": "no",
                    "title": "Five facts about owls",
                    "tags": [{"value": "owls", "label": "owls"}]}
INSTAGRAM_SETTINGS = {"__type": "instagram", "post_type": "post"}


@pytest.mark.parametrize(("platform", "settings", "extra"), [
    ("tiktok", TIKTOK_SETTINGS, {}),
    ("youtube", YOUTUBE_SETTINGS, {"tags": ("owls",)}),
    ("instagram", INSTAGRAM_SETTINGS, {}),
])
def test_create_post_sends_the_documented_body(server: PostizServer, client: PostizClient,
                                               video: Path, platform: str,
                                               settings: dict[str, Any],
                                               extra: dict[str, Any]) -> None:
    """Each platform's post reaches Postiz with exactly the body its DTOs accept."""
    media = client.upload(video)
    created = client.create_post(build_request(_plan(platform, media, **extra)))
    [seen] = server.seen("POST", "/posts")
    assert seen.headers["authorization"] == "pk_live_5ecret"
    assert seen.headers["content-type"] == "application/json"
    assert seen.json == {
        "type": "schedule", "date": "2030-03-04T16:30:00Z", "shortLink": False, "tags": [],
        "posts": [{
            "integration": {"id": f"int-{platform}"},
            "value": [{"content": "<p>Five facts about owls</p><p>#owls #facts</p>",
                       "image": [{"id": media.id, "path": media.path}]}],
            "settings": settings,
        }],
    }
    [post] = server.posts
    assert [(c.post_id, c.integration_id) for c in created] == [(post.id, f"int-{platform}")]
    assert post.state == "QUEUE"


@pytest.mark.parametrize(("post_type", "state"), [
    ("draft", "DRAFT"), ("schedule", "QUEUE"), ("now", "QUEUE")])
def test_post_types(server: PostizServer, client: PostizClient, video: Path,
                    post_type: str, state: str) -> None:
    """draft, schedule and now are sent as such; Postiz dates a "now" post itself."""
    media = client.upload(video)
    date = WHEN if post_type != "now" else datetime.now(UTC)
    client.create_post(build_request(_plan("tiktok", media, post_type=post_type, date=date)))
    [seen] = server.seen("POST", "/posts")
    assert seen.json["type"] == post_type
    assert seen.json["date"] == date.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    [post] = server.posts
    assert post.state == state
    if post_type == "schedule":
        assert post.publish_date == WHEN
    if post_type == "now":
        assert abs(post.publish_date - datetime.now(UTC)) < timedelta(minutes=2)


def test_draft_needs_no_media(server: PostizServer, client: PostizClient) -> None:
    """A draft may go without a video; the settings are still complete."""
    plan = PostPlan(platform="youtube", integration_id="int-youtube", post_type="draft",
                    date=WHEN, caption="Idea", title="An idea")
    client.create_post(build_request(plan))
    assert server.posts[0].state == "DRAFT"


def test_caption_text_survives_html() -> None:
    """&, < and blank lines reach the platform as typed, and the marker is the last line."""
    caption = "Tips & tricks: 3 < 4\n\n#owls"
    marker = content_marker("job-1:int-tiktok")
    content = content_html(caption, marker)
    assert content == (f"<p>Tips &amp; tricks: 3 &lt; 4</p><p></p><p>#owls</p>"
                       f"<p>{marker}</p>")
    assert _plain(content) == caption_with_marker(caption, marker) == f"{caption}\n{marker}"


def test_overrides_merge_over_defaults() -> None:
    """A profile's setting replaces the default and the rest stay."""
    media = UploadedMedia(id="m1", path="https://postiz.example/uploads/a.mp4")
    request = build_request(_plan("tiktok", media, settings={"privacy_level": "SELF_ONLY",
                                                             "duet": True}))
    settings = request.body["posts"][0]["settings"]
    assert settings == {**TIKTOK_SETTINGS, "privacy_level": "SELF_ONLY", "duet": True}


@pytest.mark.parametrize(("changes", "named"), [
    ({"settings": {"privacy_level": "PUBLIC"}}, "settings.privacy_level"),
    ({"settings": {"comment": "yes"}}, "settings.comment"),
    ({"post_type": "later"}, "post_type"),
    ({"media": ()}, "media"),
    ({"date": datetime(2030, 1, 1, 9, 0)}, "naive"),
    ({"platform": "myspace"}, "platform"),
])
def test_bad_plans_are_refused_naming_the_field(changes: dict[str, Any], named: str) -> None:
    """A wrong plan fails before any request, and the message names what to fix."""
    media = UploadedMedia(id="m1", path="https://postiz.example/uploads/a.mp4")
    with pytest.raises(ValueError, match=named):
        build_request(_plan("tiktok", media, **changes))


def test_youtube_title_is_checked_and_templated() -> None:
    """Titles outside 2-100 are refused; a template fills in and is cut to 100 at a word."""
    media = UploadedMedia(id="m1", path="https://postiz.example/uploads/a.mp4")
    with pytest.raises(ValueError, match="settings.title: .* 101"):
        build_request(_plan("youtube", media, title="x" * 101))
    assert render_title("{title} | {brand}", {"title": "Owls", "brand": "Nature Now"}) == (
        "Owls | Nature Now")
    long = render_title("{title}", {"title": "word " * 40})
    assert len(long) <= 100 and long.endswith("word…")
    with pytest.raises(ValueError, match=r"\{channel\}"):
        render_title("{channel}", {"title": "Owls"})


# --- errors ------------------------------------------------------------------------------

def test_provider_rejection_keeps_the_message(server: PostizServer, client: PostizClient,
                                              video: Path) -> None:
    """A 400 from a provider rule becomes postiz_rejected with the provider's words."""
    server.rejections["int-tiktok"] = "Video duration is invalid, please check video specs"
    media = client.upload(video)
    with pytest.raises(PostizError) as caught:
        client.create_post(build_request(_plan("tiktok", media)))
    error = caught.value
    assert (error.code, error.status, error.transient) == ("postiz_rejected", 400, False)
    assert error.message == "My tiktok: Video duration is invalid, please check video specs"
    assert server.posts == []


def test_dto_errors_are_joined(server: PostizServer, client: PostizClient) -> None:
    """class-validator's list of messages comes back as one readable message."""
    body = build_request(_plan("tiktok", UploadedMedia("m", "http://x/a.mp4"))).body
    broken = {**body, "posts": [{**body["posts"][0], "settings": {"__type": "tiktok"}}]}
    with pytest.raises(PostizError, match="posts.0.settings.privacy_level must be one of"):
        client.create_post(PostRequest(broken))


def test_unauthorized_never_shows_the_key(server: PostizServer) -> None:
    """A wrong key is postiz_unauthorized, and neither key appears in any message or repr."""
    wrong = "pk_live_WRONG_9f8e7d"
    with PostizClient(server.base_url, wrong, allow_hosts=LOCAL) as postiz:
        with pytest.raises(PostizError) as caught:
            postiz.integrations()
        shown = " ".join([str(caught.value), repr(caught.value), repr(postiz)])
    assert (caught.value.code, caught.value.status) == ("postiz_unauthorized", 401)
    assert "Invalid API key" in caught.value.message
    assert wrong not in shown and server.api_key not in shown
    assert server.requests[0].headers["authorization"] == wrong


def test_rate_limit_carries_retry_after(server: PostizServer, client: PostizClient,
                                        video: Path) -> None:
    """A 429 is postiz_rate_limited with Retry-After in seconds; the next post goes through."""
    server.rate_limited_posts, server.retry_after = 1, 42
    request = build_request(_plan("tiktok", client.upload(video)))
    with pytest.raises(PostizError) as caught:
        client.create_post(request)
    assert (caught.value.code, caught.value.retry_after, caught.value.transient) == (
        "postiz_rate_limited", 42.0, True)
    assert len(client.create_post(request)) == 1


def test_posts_an_hour_limit(server: PostizServer, client: PostizClient, video: Path) -> None:
    """Past the organisation's posts-an-hour limit Postiz answers 429 until the hour is up."""
    server.per_hour = 2
    request = build_request(_plan("instagram", client.upload(video)))
    client.create_post(request)
    client.create_post(request)
    with pytest.raises(PostizError) as caught:
        client.create_post(request)
    assert caught.value.code == "postiz_rate_limited"
    assert caught.value.retry_after is not None and 3500 < caught.value.retry_after <= 3600


def test_unreachable_is_unavailable() -> None:
    """A refused connection is postiz_unavailable, which callers retry."""
    with postiz_server() as fake:
        url, key = fake.base_url, fake.api_key
    with PostizClient(url, key, allow_hosts=LOCAL, timeout=5) as postiz:
        with pytest.raises(PostizError) as caught:
            postiz.integrations()
    assert (caught.value.code, caught.value.transient) == ("postiz_unavailable", True)


def test_connects_to_the_checked_address(server: PostizServer) -> None:
    """A host name is resolved and checked once, dialled by address, and named in Host."""
    url = server.base_url.replace("127.0.0.1", "localhost")
    with PostizClient(url, server.api_key, allow_hosts=frozenset({"localhost"})) as postiz:
        assert len(postiz.integrations()) == 3
    assert server.requests[0].headers["host"] == f"localhost:{server.port}"


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/public/v1", "http://169.254.169.254/",
                                 "ftp://postiz.example/public/v1",
                                 "http://user:pw@postiz.example/"])
def test_private_or_odd_urls_are_refused(url: str) -> None:
    """A Postiz URL at a private address (not allow-listed) or of an odd shape never
    connects."""
    with PostizClient(url, "k") as postiz:
        with pytest.raises(PostizError) as caught:
            postiz.integrations()
    assert caught.value.code == "postiz_bad_url"


# --- exactly once: finding a post after a crash ------------------------------------------

def test_find_post_after_a_crash(server: PostizServer, client: PostizClient,
                                 video: Path) -> None:
    """Postiz stored the post but the answer never came: find_post finds it by marker."""
    marker = content_marker("job-7:int-youtube")
    plan = _plan("youtube", client.upload(video), marker=marker)
    server.crash_after_store = 1
    with pytest.raises(PostizError) as caught:
        client.create_post(build_request(plan))
    assert caught.value.code == "postiz_unavailable"
    window = (WHEN - timedelta(days=1), WHEN + timedelta(days=1))
    found = client.find_post("int-youtube", marker, *window)
    [stored] = server.posts
    assert found is not None and (found.id, found.state) == (stored.id, "QUEUE")
    assert found.publish_date == WHEN and found.provider == "youtube"
    assert client.find_post("int-tiktok", marker, *window) is None
    assert client.find_post("int-youtube", content_marker("job-8:int-youtube"), *window) is None
    server.publish(stored.id, "https://youtube.com/shorts/abc")
    published = client.find_post("int-youtube", marker, *window)
    assert published is not None and published.state == "PUBLISHED"
    assert published.release_url == "https://youtube.com/shorts/abc"
    [listing] = server.seen("GET", "/posts")[:1]
    assert listing.query == {"startDate": "2030-03-03T16:30:00Z",
                             "endDate": "2030-03-05T16:30:00Z"}


def test_marker_is_invisible_and_stable() -> None:
    """The marker is only format characters, the same for the same key, different otherwise."""
    marker = content_marker("job-1:int-tiktok")
    assert marker == content_marker("job-1:int-tiktok") != content_marker("job-2:int-tiktok")
    assert all(unicodedata.category(char) == "Cf" for char in marker)
    assert len(marker) == 33


# --- pre-publish checks ------------------------------------------------------------------

def test_a_fitting_video_passes_everywhere() -> None:
    """A 42 s 1080x1920 H.264/AAC video with a short caption has no problems anywhere."""
    for platform in ("tiktok", "youtube", "instagram"):
        assert check_for_platform(platform, _vertical(), "Owls #owls", "Owls") == []


def test_landscape_clip_is_refused_for_tiktok(tmp_path: Path) -> None:
    """A real 16:9 clip, probed with ffprobe, is refused for TikTok saying what was found."""
    clip = tmp_path / "wide.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc=size=320x180:rate=25:duration=4", "-f", "lavfi", "-i",
                    "sine=duration=4", "-c:v", "libx264", "-c:a", "aac", "-shortest",
                    str(clip)], check=True, timeout=60)
    info = VideoInfo.from_probe(clip)
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (
        320, 180, "h264", "aac")
    problems = check_for_platform("tiktok", info, "Owls", None)
    assert problems == ["aspect: 16:9 (320x180); TikTok needs vertical 9:16, e.g. 1080x1920"]


@pytest.mark.parametrize(("platform", "changes", "expected"), [
    ("youtube", {"duration": 181.0}, "duration: 181.0 s; YouTube Shorts allows at most 180 s"),
    ("tiktok", {"duration": 2.0}, "duration: 2.0 s; TikTok needs at least 3 s"),
    ("instagram", {"size_bytes": 400_000_000}, "size: 400000000 bytes is over"),
    ("tiktok", {"video_codec": "hevc"}, "video codec: hevc; publish H.264"),
    ("instagram", {"audio_codec": None}, "audio: no audio track"),
    ("youtube", {"width": 1080, "height": 1350}, "aspect: 4:5 (1080x1350)"),
])
def test_video_problems(platform: str, changes: dict[str, Any], expected: str) -> None:
    """Each video limit is named with the value found."""
    problems = check_for_platform(platform, _vertical(**changes), "Owls", "Owls")
    assert len(problems) == 1 and problems[0].startswith(expected)


def test_title_and_caption_limits() -> None:
    """A 101-character YouTube title and a 2,201-character caption are refused."""
    assert check_for_platform("youtube", _vertical(), "Owls", "t" * 101) == [
        "title: 101 characters; YouTube Shorts titles are 2-100 characters"]
    caption = "c" * 2201
    assert check_for_platform("tiktok", _vertical(), caption, None) == [
        "caption: 2201 characters; TikTok through Postiz allows 2000"]
    assert check_for_platform("instagram", _vertical(), caption, None) == [
        "caption: 2201 characters; Instagram Reels through Postiz allows 2200"]
    assert check_for_platform("youtube", _vertical(), caption, "Owls") == []
    # Postiz counts as JavaScript does: an emoji is two.
    assert check_for_platform("tiktok", _vertical(), "🦉" * 1000, None) == []
    assert check_for_platform("tiktok", _vertical(), "🦉" * 1001, None) != []
    assert check_for_platform("instagram", _vertical(), " ".join(["#owl"] * 31), None) == [
        "caption: 31 hashtags; Instagram Reels allows 30"]
    assert check_for_platform("youtube", _vertical(), "a <b>", "Owls") == [
        "caption: contains < or >, which YouTube Shorts refuses"]


# --- posting windows ---------------------------------------------------------------------

def test_two_hundred_videos_over_ten_days() -> None:
    """200 slots at 20 a day in 09:00-21:00 fill ten days, 36 minutes apart."""
    now = datetime(2030, 3, 4, 8, 0, tzinfo=ZoneInfo(BERLIN))
    slots = next_slots(now, 200, parse_windows(ALL_DAY), BERLIN, daily_limit=20)
    per_day = Counter(slot.date() for slot in slots)
    assert len(per_day) == 10 and set(per_day.values()) == {20}
    first_day = [slot for slot in slots if slot.date() == now.date()]
    assert first_day[0].strftime("%H:%M") == "09:00"
    assert first_day[-1].strftime("%H:%M") == "20:24"
    assert {b - a for a, b in zip(first_day, first_day[1:], strict=False)} == {
        timedelta(minutes=36)}
    assert all(str(slot.tzinfo) == BERLIN for slot in slots)
    assert slots == sorted(slots) and slots[0] >= now


def test_dst_days_in_berlin() -> None:
    """On the spring-forward day 00:00-06:00 has five real hours, on fall-back day seven."""
    night = parse_windows([{"days": "sun", "from": "00:00", "to": "06:00"}])
    spring = next_slots(datetime(2026, 3, 28, 12, tzinfo=UTC), 5, night, BERLIN,
                        daily_limit=5)
    assert [s.strftime("%H:%M%z") for s in spring] == [
        "00:00+0100", "01:00+0100", "03:00+0200", "04:00+0200", "05:00+0200"]
    autumn = next_slots(datetime(2026, 10, 24, 12, tzinfo=UTC), 7, night, BERLIN,
                        daily_limit=7)
    assert [s.strftime("%H:%M%z") for s in autumn] == [
        "00:00+0200", "01:00+0200", "02:00+0200", "02:00+0100", "03:00+0100",
        "04:00+0100", "05:00+0100"]
    day = next_slots(datetime(2026, 3, 28, 12, tzinfo=UTC), 4, parse_windows(ALL_DAY), BERLIN,
                     daily_limit=2)
    assert [s.strftime("%m-%d %H:%M%z") for s in day] == [
        "03-28 15:00+0100", "03-29 09:00+0200", "03-29 15:00+0200", "03-30 09:00+0200"]


def test_per_hour_is_respected() -> None:
    """No 60-minute span holds more than per_hour slots, taken ones included."""
    now = datetime(2030, 3, 4, 8, 0, tzinfo=ZoneInfo(BERLIN))
    windows = parse_windows([{"days": "mon-fri", "from": "09:00", "to": "12:00"}])
    taken = [datetime(2030, 3, 4, 9, 10, tzinfo=ZoneInfo(BERLIN))]
    slots = next_slots(now, 12, windows, BERLIN, per_hour=2, taken=taken)
    everything = sorted([*slots, *taken])
    for start in everything:
        assert sum(1 for s in everything if start <= s < start + timedelta(hours=1)) <= 2
    assert [s.strftime("%a %H:%M") for s in slots[:4]] == [
        "Mon 09:30", "Mon 10:30", "Mon 11:00", "Mon 11:30"]
    assert {s.strftime("%a") for s in slots} <= {"Mon", "Tue", "Wed", "Thu", "Fri"}


def test_taken_slots_are_skipped_and_counted() -> None:
    """Slots already scheduled are not doubled and count towards the daily limit."""
    now = datetime(2030, 3, 4, 8, 0, tzinfo=ZoneInfo(BERLIN))
    windows = parse_windows(ALL_DAY)
    earlier = next_slots(now, 30, windows, BERLIN, daily_limit=20)
    later = next_slots(now, 30, windows, BERLIN, daily_limit=20, taken=earlier)
    assert not set(earlier) & set(later)
    per_day = Counter(slot.date() for slot in [*earlier, *later])
    assert list(per_day.values()) == [20, 20, 20]
    assert later[0] == earlier[-1] + timedelta(minutes=36)


@pytest.mark.parametrize(("raw", "message"), [
    ([], "windows: give a list"),
    ([{"days": "mun-fri", "from": "09:00", "to": "21:00"}],
     r"windows\[0\]\.days: unknown day 'mun' in 'mun-fri'"),
    ([{"days": "mon--fri", "from": "09:00", "to": "21:00"}], r"windows\[0\]\.days: 'mon--fri'"),
    ([ALL_DAY[0], {"days": "sat", "from": "9am", "to": "21:00"}],
     r"windows\[1\]\.from: '9am' is not HH:MM"),
    ([{"days": "sat", "from": "09:00", "to": "24:30"}], r"windows\[0\]\.to: '24:30'"),
    ([{"days": "sat", "from": "22:00", "to": "02:00"}], r"windows\[0\]\.to: 02:00 is not after"),
    ([{"days": "sat", "from": "09:00"}], r"windows\[0\]\.to: missing"),
    ([{"days": "sat", "from": "09:00", "to": "10:00", "tz": "UTC"}],
     r"windows\[0\]\.tz: unknown key"),
])
def test_bad_windows_are_rejected(raw: list[dict[str, str]], message: str) -> None:
    """Each bad window names the window and the part that is wrong."""
    with pytest.raises(ValueError, match=message):
        parse_windows(raw)


def test_window_days_and_bad_schedule_arguments() -> None:
    """Lists, ranges and wrapping ranges read as days; a bad zone or no limit is refused."""
    [window] = parse_windows([{"days": "fri-mon,wed", "from": "09:00", "to": "24:00"}])
    assert window.days == {4, 5, 6, 0, 2} and window.end_minute == 1440
    now = datetime(2030, 3, 4, 8, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone: 'Mars/Olympus'"):
        next_slots(now, 1, [window], "Mars/Olympus", daily_limit=1)
    with pytest.raises(ValueError, match="daily_limit, per_hour"):
        next_slots(now, 1, [window], BERLIN)
    with pytest.raises(ValueError, match="now: a time zone"):
        next_slots(now.replace(tzinfo=None), 1, [window], BERLIN, daily_limit=1)
