"""The MediaStorage contract, run on the local folder and on S3 (a real moto server)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from s3transfer.utils import OSUtils

from store.media import (
    InvalidKey,
    LocalMediaStorage,
    MediaMissing,
    S3MediaStorage,
    build_media,
)
from store.media.factory import s3_client
from store.settings import Settings, SettingsError
from tests.support.s3 import ACCESS_KEY, SECRET_KEY, S3Server

MiB = 1 << 20
PREFIX = "tenant/media"  # S3 keys live below a prefix, so the mapping is exercised too


class _FailingFile:
    """A file opened for reading that raises once a read would pass byte `after`."""

    def __init__(self, handle: Any, after: int) -> None:
        self._handle, self._after = handle, after

    def read(self, size: int = -1) -> bytes:
        end = self._handle.tell() + (size if size is not None and size >= 0 else 1 << 62)
        if end > self._after:
            raise OSError("source read failed (test)")
        data: bytes = self._handle.read(size)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> _FailingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


@dataclasses.dataclass
class Harness:
    """One storage under test plus what the tests need to look behind it."""

    kind: str
    media: Any  # LocalMediaStorage or S3MediaStorage
    gets: list[str] = dataclasses.field(default_factory=list)  # S3 GetObject calls

    def leftovers(self) -> list[str]:
        """Temporaries or unfinished uploads that must never outlive a put or fetch."""
        if isinstance(self.media, LocalMediaStorage):
            return [str(p) for p in self.media.root.rglob("*.part")]
        uploads = self.media.client.list_multipart_uploads(Bucket=self.media.bucket)
        cached = self.media.cache_dir.glob(".*") if self.media.cache_dir.exists() else []
        return [u["Key"] for u in uploads.get("Uploads", ())] + [str(p) for p in cached]

    def break_source_reads(self, monkeypatch: pytest.MonkeyPatch, after: int) -> None:
        """Make reading any source file fail once `after` bytes of it have been read."""
        if isinstance(self.media, LocalMediaStorage):
            def half_copy(src: Path, dst: Path) -> None:
                Path(dst).write_bytes(Path(src).read_bytes()[:after])
                raise OSError("source read failed (test)")

            monkeypatch.setattr("shutil.copyfile", half_copy)
            return
        plain_open = OSUtils.open

        def failing_open(osutil: OSUtils, filename: str, mode: str) -> Any:
            handle = plain_open(osutil, filename, mode)
            return _FailingFile(handle, after) if "r" in mode else handle

        monkeypatch.setattr(OSUtils, "open", failing_open)


def _s3_settings(tmp_path: Path, server: S3Server, bucket: str, **extra: str) -> Settings:
    return Settings.from_env({"DATA_DIR": str(tmp_path / "data"),
                              "MEDIA_URL": f"s3://{bucket}/{PREFIX}",
                              "S3_ENDPOINT_URL": server.endpoint_url,
                              "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                              "AWS_SECRET_ACCESS_KEY": SECRET_KEY, **extra})


@pytest.fixture(scope="module")
def media_client(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One client made by the factory's s3_client for the module (making one takes ~0.2 s)."""
    client = s3_client(_s3_settings(tmp_path_factory.mktemp("s3"), s3_server, "unused"))
    yield client
    client.close()


@contextmanager
def _s3_harness(client: Any, bucket: str, tmp_path: Path) -> Iterator[Harness]:
    harness = Harness("s3", S3MediaStorage(
        bucket, PREFIX, client=client, cache_dir=tmp_path / "cache", cache_bytes=64 * MiB,
        scratch_root=tmp_path / "scratch", multipart_threshold=5 * MiB))

    def count_get(params: dict[str, Any], **_: Any) -> None:
        harness.gets.append(params["url_path"])

    client.meta.events.register("before-call.s3.GetObject", count_get)
    try:
        yield harness
    finally:
        client.meta.events.unregister("before-call.s3.GetObject", count_get)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """Each implementation in turn: a folder, then a moto bucket with a 5 MiB part size."""
    if request.param == "local":
        yield Harness("local", LocalMediaStorage(tmp_path / "media"))
        return
    with _s3_harness(request.getfixturevalue("media_client"),
                     request.getfixturevalue("s3_bucket"), tmp_path) as harness:
        yield harness


@pytest.fixture
def s3_store(media_client: Any, s3_bucket: str, tmp_path: Path) -> Iterator[Harness]:
    """Only the S3 implementation (the local folder has no cache and no URLs)."""
    with _s3_harness(media_client, s3_bucket, tmp_path) as harness:
        yield harness


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- the contract: both implementations ---------------------------------------------------


def test_put_file_then_fetch_round_trips(store: Harness, tmp_path: Path) -> None:
    """A stored file comes back byte for byte from fetch and read_bytes; the source stays."""
    data = b"\x00\x01video bytes\xff" * 1000
    source = _file(tmp_path, "source.mp4", data)
    key = "job_1/render/video.mp4"
    assert store.media.put_file(key, source) == key
    fetched = store.media.fetch(key)
    assert fetched.read_bytes() == data
    assert fetched.suffix == ".mp4"  # tools that go by extension still see it
    assert store.media.read_bytes(key) == data
    assert source.read_bytes() == data
    assert store.leftovers() == []


def test_put_bytes_exists_and_stat(store: Harness) -> None:
    """exists and stat see a stored object with its size; a missing one is False and None."""
    assert store.media.exists("job_1/script/script.json") is False
    assert store.media.stat("job_1/script/script.json") is None
    assert store.media.put_bytes("job_1/script/script.json", b'{"v": 1}') == \
        "job_1/script/script.json"
    assert store.media.exists("job_1/script/script.json") is True
    info = store.media.stat("job_1/script/script.json")
    assert info is not None
    assert (info.key, info.size) == ("job_1/script/script.json", 8)
    assert info.etag and '"' not in info.etag
    assert store.media.exists("job_1/script") is False  # a "folder" is no object


def test_new_content_changes_the_etag_and_fetch_follows(store: Harness) -> None:
    """Replacing an object changes its ETag, and fetch then returns the new content."""
    key = "job_1/captions/captions.ass"
    store.media.put_bytes(key, b"first version")
    first = store.media.stat(key)
    assert store.media.fetch(key).read_bytes() == b"first version"
    # Different lengths: the local ETag is size+mtime, and two writes can share an mtime tick.
    store.media.put_bytes(key, b"second, longer version")
    second = store.media.stat(key)
    assert first is not None and second is not None
    assert second.etag != first.etag
    assert store.media.fetch(key).read_bytes() == b"second, longer version"


def test_second_fetch_is_served_without_a_download(store: Harness) -> None:
    """Fetching an unchanged object again gives the same file and no second GET."""
    store.media.put_bytes("job_1/voice/voice.wav", b"RIFF" + b"\x00" * 4000)
    first = store.media.fetch("job_1/voice/voice.wav")
    downloads = len(store.gets)
    inode = first.stat().st_ino
    second = store.media.fetch("job_1/voice/voice.wav")
    assert second == first
    assert second.stat().st_ino == inode
    assert len(store.gets) == downloads
    assert downloads == (1 if store.kind == "s3" else 0)


def test_concurrent_fetches_agree(store: Harness) -> None:
    """Eight threads fetching one key all get the full content and leave no temporaries."""
    data = os.urandom(300_000)
    store.media.put_bytes("job_1/render/video.mp4", data)
    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(lambda _: store.media.fetch("job_1/render/video.mp4"), range(8)))
    assert len(set(paths)) == 1
    assert paths[0].read_bytes() == data
    assert store.leftovers() == []


def test_list_finds_keys_below_a_prefix(store: Harness) -> None:
    """list returns the sorted keys below `prefix/` at any depth, and not a sibling prefix."""
    for key in ("a/b/2.txt", "a/b/1.txt", "a/b/deep/3.txt", "a/bc/4.txt", "a/5.txt", "b/6"):
        store.media.put_bytes(key, key.encode())
    assert store.media.list("a/b") == ["a/b/1.txt", "a/b/2.txt", "a/b/deep/3.txt"]
    assert store.media.list("a/b/") == ["a/b/1.txt", "a/b/2.txt", "a/b/deep/3.txt"]
    assert store.media.list("a") == ["a/5.txt", "a/b/1.txt", "a/b/2.txt", "a/b/deep/3.txt",
                                     "a/bc/4.txt"]
    assert store.media.list("nothing") == []


def test_delete_removes_and_tolerates_missing(store: Harness) -> None:
    """delete removes the object; deleting a missing key is no error."""
    store.media.put_bytes("job_1/voice/voice.wav", b"x")
    store.media.delete("job_1/voice/voice.wav")
    assert store.media.exists("job_1/voice/voice.wav") is False
    store.media.delete("job_1/voice/voice.wav")
    store.media.delete("never/was")


def test_copy_keeps_the_source(store: Harness) -> None:
    """copy makes an identical object under the target key and leaves the source."""
    store.media.put_bytes("job_1/render/video.mp4", b"video")
    assert store.media.copy("job_1/render/video.mp4", "exports/p/video.mp4") == \
        "exports/p/video.mp4"
    assert store.media.read_bytes("exports/p/video.mp4") == b"video"
    assert store.media.read_bytes("job_1/render/video.mp4") == b"video"


def test_move_removes_the_source(store: Harness) -> None:
    """move makes the target and removes the source; moving onto itself keeps the object."""
    store.media.put_bytes("uploads/a/1/clip.mp4", b"clip")
    assert store.media.move("uploads/a/1/clip.mp4", "uploads/a/2/clip.mp4") == \
        "uploads/a/2/clip.mp4"
    assert store.media.exists("uploads/a/1/clip.mp4") is False
    assert store.media.read_bytes("uploads/a/2/clip.mp4") == b"clip"
    store.media.move("uploads/a/2/clip.mp4", "uploads/a/2/clip.mp4")
    assert store.media.read_bytes("uploads/a/2/clip.mp4") == b"clip"


@pytest.mark.parametrize(("start", "end"), [(0, 0), (10, 4095), (5000, 10239), (9000, 20000)])
def test_iter_range_returns_exact_bytes(store: Harness, start: int, end: int) -> None:
    """iter_range yields exactly bytes start..end (clipped at the end) in bounded chunks."""
    data = bytes(range(256)) * 40  # 10240 bytes
    store.media.put_bytes("job_1/render/video.mp4", data)
    chunks = list(store.media.iter_range("job_1/render/video.mp4", start, end,
                                         chunk_size=1000))
    assert b"".join(chunks) == data[start:end + 1]
    assert all(0 < len(chunk) <= 1000 for chunk in chunks)


def test_iter_range_past_the_end_is_empty(store: Harness) -> None:
    """A range that starts after the last byte yields nothing."""
    store.media.put_bytes("k/v", b"short")
    assert list(store.media.iter_range("k/v", 100, 200)) == []


def test_presign_serves_the_bytes_or_is_none(store: Harness) -> None:
    """On S3 the presigned URL serves the object over plain HTTP; a folder has no URL."""
    data = os.urandom(5000)
    store.media.put_bytes("job_1/render/video.mp4", data)
    url = store.media.presign("job_1/render/video.mp4", expires=60)
    if store.kind == "local":
        assert url is None
        return
    assert url is not None
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["Content-Type"] == "video/mp4"


BAD_KEYS = ["../outside.mp4", "job_1/../../x", "/etc/passwd", "", ".", "a\\b"]


@pytest.mark.parametrize("key", BAD_KEYS)
@pytest.mark.parametrize("call", [
    lambda m, k: m.exists(k),
    lambda m, k: m.stat(k),
    lambda m, k: m.put_bytes(k, b"x"),
    lambda m, k: m.fetch(k),
    lambda m, k: m.read_bytes(k),
    lambda m, k: list(m.iter_range(k, 0, 1)),
    lambda m, k: m.list(k),
    lambda m, k: m.delete(k),
    lambda m, k: m.copy(k, "ok/target"),
    lambda m, k: m.copy("ok/source", k),
    lambda m, k: m.move("ok/source", k),
], ids=["exists", "stat", "put_bytes", "fetch", "read_bytes", "iter_range", "list", "delete",
        "copy-from", "copy-to", "move-to"])
def test_invalid_keys_are_refused(store: Harness, key: str,
                                  call: Callable[[Any, str], object]) -> None:
    """Every method refuses absolute, escaping and empty keys with InvalidKey."""
    store.media.put_bytes("ok/source", b"x")
    with pytest.raises(InvalidKey):
        call(store.media, key)
    assert store.media.read_bytes("ok/source") == b"x"


def test_put_file_refuses_an_invalid_key(store: Harness, tmp_path: Path) -> None:
    """put_file checks the key before it reads or uploads anything."""
    with pytest.raises(InvalidKey):
        store.media.put_file("../escaped.bin", _file(tmp_path, "s.bin", b"x"))


@pytest.mark.parametrize("call", [
    lambda m: m.fetch("no/such.mp4"),
    lambda m: m.read_bytes("no/such.mp4"),
    lambda m: list(m.iter_range("no/such.mp4", 0, 10)),
    lambda m: m.copy("no/such.mp4", "other/key"),
    lambda m: m.move("no/such.mp4", "other/key"),
], ids=["fetch", "read_bytes", "iter_range", "copy", "move"])
def test_missing_objects_raise_media_missing(store: Harness,
                                             call: Callable[[Any], object]) -> None:
    """Reading, copying or moving a key with no object raises MediaMissing."""
    with pytest.raises(MediaMissing):
        call(store.media)
    assert store.media.exists("other/key") is False


def test_missing_source_file_raises(store: Harness, tmp_path: Path) -> None:
    """put_file of a file that does not exist raises FileNotFoundError and stores nothing."""
    with pytest.raises(FileNotFoundError):
        store.media.put_file("job_1/voice/voice.wav", tmp_path / "nope.wav")
    assert store.media.exists("job_1/voice/voice.wav") is False


def test_large_file_round_trips(store: Harness, tmp_path: Path) -> None:
    """A file over the multipart threshold (3 parts on S3) round-trips and copies intact."""
    data = os.urandom(12 * MiB + 12345)
    source = _file(tmp_path, "big.mp4", data)
    store.media.put_file("job_1/render/video.mp4", source)
    info = store.media.stat("job_1/render/video.mp4")
    assert info is not None and info.size == len(data)
    if store.kind == "s3":
        assert info.etag.endswith("-3")  # S3's multipart ETag: md5-of-md5s, dash, part count
    digest = hashlib.sha256(data).hexdigest()
    assert hashlib.sha256(store.media.fetch("job_1/render/video.mp4").read_bytes()
                          ).hexdigest() == digest
    store.media.copy("job_1/render/video.mp4", "exports/p/video.mp4")  # parts copied too
    assert hashlib.sha256(store.media.read_bytes("exports/p/video.mp4")).hexdigest() == digest
    assert store.leftovers() == []


@pytest.mark.parametrize("size", [100_000, 12 * MiB], ids=["single-put", "multipart"])
def test_failed_upload_leaves_no_object(store: Harness, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """A source that fails mid-read leaves no object, temporary or unfinished upload."""
    source = _file(tmp_path, "source.mp4", os.urandom(size))
    store.break_source_reads(monkeypatch, after=size * 2 // 3)
    with pytest.raises(OSError, match="source read failed"):
        store.media.put_file("job_1/render/video.mp4", source)
    monkeypatch.undo()
    assert store.media.exists("job_1/render/video.mp4") is False
    assert store.media.list("job_1") == []
    assert store.leftovers() == []


def test_failed_replace_keeps_the_old_object(store: Harness, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """When storing a new version fails, the earlier object is still served intact."""
    store.media.put_bytes("job_1/render/video.mp4", b"the old video")
    source = _file(tmp_path, "new.mp4", os.urandom(200_000))
    store.break_source_reads(monkeypatch, after=100_000)
    with pytest.raises(OSError):
        store.media.put_file("job_1/render/video.mp4", source)
    monkeypatch.undo()
    assert store.media.read_bytes("job_1/render/video.mp4") == b"the old video"
    assert store.media.fetch("job_1/render/video.mp4").read_bytes() == b"the old video"


def test_scratch_dirs_are_local_fresh_and_discardable(store: Harness) -> None:
    """scratch_dir gives a new local folder per call; discard_scratch removes it."""
    first = store.media.scratch_dir("job_1", "render")
    second = store.media.scratch_dir("job_1", "render")
    assert first != second and first.is_dir() and list(first.iterdir()) == []
    (first / "frame.png").write_bytes(b"x")
    store.media.discard_scratch(first)
    store.media.discard_scratch(first)
    assert not first.exists() and second.is_dir()


# --- S3 only: bucket layout, cache, multipart abort, pagination ---------------------------


def test_keys_live_below_the_prefix(s3_store: Harness) -> None:
    """An S3 object is stored at `prefix/key` in the bucket; list strips the prefix again."""
    media = s3_store.media
    media.put_bytes("job_1/script/script.json", b"{}")
    listed = media.client.list_objects_v2(Bucket=media.bucket)
    assert [item["Key"] for item in listed["Contents"]] == [f"{PREFIX}/job_1/script/script.json"]
    assert media.list("job_1") == ["job_1/script/script.json"]


def test_empty_prefix_uses_the_bucket_root(s3_store: Harness, tmp_path: Path) -> None:
    """With no prefix, keys are bucket keys as they are."""
    media = S3MediaStorage(s3_store.media.bucket, "", client=s3_store.media.client,
                           cache_dir=tmp_path / "c2", cache_bytes=MiB,
                           scratch_root=tmp_path / "s2")
    media.put_bytes("job_1/a.txt", b"a")
    listed = media.client.list_objects_v2(Bucket=media.bucket)
    assert [item["Key"] for item in listed["Contents"]] == ["job_1/a.txt"]
    assert media.list("job_1") == ["job_1/a.txt"]
    assert media.fetch("job_1/a.txt").read_bytes() == b"a"


def test_cache_evicts_least_recently_used(s3_store: Harness, tmp_path: Path) -> None:
    """The cache stays within cache_bytes, dropping the least recently used copies first."""
    media = S3MediaStorage(s3_store.media.bucket, PREFIX, client=s3_store.media.client,
                           cache_dir=tmp_path / "small-cache", cache_bytes=3000,
                           scratch_root=tmp_path / "scratch")
    for name in "abcde":
        media.put_bytes(f"c/{name}", name.encode() * 1000)
    first = media.fetch("c/a")
    media.fetch("c/b")
    media.fetch("c/c")
    media.fetch("c/a")  # a is now more recent than b
    media.fetch("c/d")

    def cached_total() -> int:
        return sum(p.stat().st_size for p in media.cache_dir.iterdir())

    assert cached_total() <= 3000
    assert first.exists()  # recently used: kept
    assert len(list(media.cache_dir.iterdir())) == 3
    assert media.fetch("c/d").read_bytes() == b"d" * 1000
    gets = len(s3_store.gets)
    assert media.fetch("c/b").read_bytes() == b"b" * 1000  # evicted: downloaded again
    assert len(s3_store.gets) == gets + 1
    assert cached_total() <= 3000


def test_an_object_bigger_than_the_cache_is_still_served(s3_store: Harness,
                                                         tmp_path: Path) -> None:
    """The file just fetched is never evicted, even when it alone exceeds cache_bytes."""
    media = S3MediaStorage(s3_store.media.bucket, PREFIX, client=s3_store.media.client,
                           cache_dir=tmp_path / "tiny-cache", cache_bytes=10,
                           scratch_root=tmp_path / "scratch")
    media.put_bytes("big/one", b"1" * 100)
    media.put_bytes("big/two", b"2" * 100)
    media.fetch("big/one")
    path = media.fetch("big/two")
    assert path.read_bytes() == b"2" * 100
    assert list(media.cache_dir.iterdir()) == [path]


def test_object_replaced_between_head_and_get(s3_store: Harness,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """An object replaced between fetch's HEAD and GET is fetched anew, never cached as old."""
    media = s3_store.media
    media.put_bytes("race/key", b"old")
    plain_head = media.client.head_object
    replaced = []

    def head_then_replace(**kwargs: Any) -> Any:
        answer = plain_head(**kwargs)
        if not replaced:
            replaced.append(True)
            media.client.put_object(Bucket=media.bucket, Key=kwargs["Key"], Body=b"new!")
        return answer

    monkeypatch.setattr(media.client, "head_object", head_then_replace)
    assert media.fetch("race/key").read_bytes() == b"new!"
    info = media.stat("race/key")
    assert info is not None
    monkeypatch.undo()
    assert media.fetch("race/key").read_bytes() == b"new!"


def test_failed_part_aborts_the_multipart_upload(s3_store: Harness, tmp_path: Path) -> None:
    """A part that fails on the wire makes s3transfer abort the upload: no object, no parts."""
    media = s3_store.media
    source = _file(tmp_path, "big.mp4", os.urandom(11 * MiB))

    def refuse_part(params: dict[str, Any], **_: Any) -> None:
        if params.get("PartNumber") == 2:
            raise RuntimeError("connection dropped (test)")

    media.client.meta.events.register("before-parameter-build.s3.UploadPart", refuse_part)
    try:
        with pytest.raises(RuntimeError, match="connection dropped"):
            media.put_file("job_1/render/video.mp4", source)
    finally:
        media.client.meta.events.unregister("before-parameter-build.s3.UploadPart",
                                            refuse_part)
    assert media.exists("job_1/render/video.mp4") is False
    assert s3_store.leftovers() == []


def test_list_follows_every_page(s3_store: Harness) -> None:
    """list reads all pages of list_objects_v2, not just the first."""
    media = s3_store.media
    for i in range(7):
        media.put_bytes(f"pages/{i}", b"x")
    pages = []

    def small_pages(params: dict[str, Any], **_: Any) -> None:
        params["MaxKeys"] = 2
        pages.append(1)

    media.client.meta.events.register("provide-client-params.s3.ListObjectsV2", small_pages)
    try:
        assert media.list("pages") == [f"pages/{i}" for i in range(7)]
    finally:
        media.client.meta.events.unregister("provide-client-params.s3.ListObjectsV2",
                                            small_pages)
    assert len(pages) == 4


@pytest.mark.parametrize("key", BAD_KEYS)
def test_presign_refuses_invalid_keys(s3_store: Harness, key: str) -> None:
    """presign on S3 checks its key like every other method."""
    with pytest.raises(InvalidKey):
        s3_store.media.presign(key)


# --- build_media ---------------------------------------------------------------------------


def test_build_media_without_media_url_is_the_folder(tmp_path: Path) -> None:
    """No MEDIA_URL: the local folder MEDIA_ROOT."""
    media = build_media(Settings.from_env({"DATA_DIR": str(tmp_path)}))
    assert isinstance(media, LocalMediaStorage)
    assert media.root == tmp_path / "media"


def test_build_media_with_an_s3_url(tmp_path: Path, s3_server: S3Server,
                                    s3_bucket: str) -> None:
    """s3:// gives a working S3MediaStorage with the bucket, prefix, cache and timeouts set."""
    settings = _s3_settings(tmp_path, s3_server, s3_bucket, MEDIA_CACHE_BYTES="12345")
    media = build_media(settings)
    assert isinstance(media, S3MediaStorage)
    try:
        assert (media.bucket, media.prefix) == (s3_bucket, PREFIX)
        assert media.cache_dir == tmp_path / "data" / "cache"
        assert media.cache_bytes == 12345
        assert media.scratch_root == tmp_path / "data" / "scratch"
        config = media.client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (5, 60)
        assert config.retries["mode"] == "standard"
        assert config.s3 == {"addressing_style": "path"}  # self-hosted servers: path-style
        assert media.client.meta.endpoint_url == s3_server.endpoint_url
        assert media.client.meta.region_name == "us-east-1"
        media.put_bytes("job_1/a.json", b"{}")
        assert media.fetch("job_1/a.json").read_bytes() == b"{}"
        assert media.fetch("job_1/a.json").parent == tmp_path / "data" / "cache"
        url = media.presign("job_1/a.json")
        assert url is not None and requests.get(url, timeout=10).content == b"{}"
    finally:
        media.close()


def test_build_media_without_keys_uses_boto3s_chain(tmp_path: Path, s3_server: S3Server,
                                                    s3_bucket: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset AWS_* settings leave credentials to boto3 (here its own environment lookup)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-the-chain")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "chain-secret")
    settings = dataclasses.replace(_s3_settings(tmp_path, s3_server, s3_bucket),
                                   aws_access_key_id=None, aws_secret_access_key=None)
    media = build_media(settings)
    try:
        credentials = media.client._request_signer._credentials
        assert credentials.access_key == "from-the-chain"
        media.put_bytes("k/v", b"ok")
        assert media.read_bytes("k/v") == b"ok"
    finally:
        media.close()


@pytest.mark.parametrize("url", ["gs://bucket/x", "file:///srv/media", "bucket/x"])
def test_build_media_refuses_other_schemes(tmp_path: Path, url: str) -> None:
    """A media_url that is not s3:// raises SettingsError naming MEDIA_URL."""
    settings = dataclasses.replace(Settings.from_env({"DATA_DIR": str(tmp_path)}),
                                   media_url=url)
    with pytest.raises(SettingsError, match="MEDIA_URL"):
        build_media(settings)
