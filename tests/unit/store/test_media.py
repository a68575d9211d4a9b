"""Media storage: keys stay inside the root, files appear atomically, scratch folders vanish."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from store.media import InvalidKey, LocalMediaStorage, artifact_key


@pytest.fixture
def media(tmp_path: Path) -> LocalMediaStorage:
    """Storage rooted in the test's folder."""
    return LocalMediaStorage(tmp_path / "media")


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A small file to store."""
    path = tmp_path / "source.bin"
    path.write_bytes(b"\x00\x01video bytes\xff" * 100)
    return path


def _part_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".part")]


def test_artifact_key_layout() -> None:
    """Keys are `<job_id>/<stage>/<file>`."""
    assert artifact_key("job_1", "render", "video.mp4") == "job_1/render/video.mp4"


def test_key_maps_under_the_root(media: LocalMediaStorage) -> None:
    """A relative key is a path below the media root."""
    path = media.path("job_1/render/video.mp4")
    assert path == media.root / "job_1" / "render" / "video.mp4"


@pytest.mark.parametrize(
    "key",
    [
        "../outside.mp4",
        "job_1/../../outside.mp4",
        "job_1/render/../../../etc/passwd",
        "..",
        "/etc/passwd",
        "/tmp/job_1/render/video.mp4",
        "",
        ".",
    ],
)
def test_escaping_or_empty_keys_are_rejected(media: LocalMediaStorage, key: str) -> None:
    """Keys with '..', absolute keys and empty keys raise InvalidKey everywhere."""
    with pytest.raises(InvalidKey):
        media.path(key)
    with pytest.raises(InvalidKey):
        media.exists(key)


def test_put_file_rejects_a_bad_key(media: LocalMediaStorage, source: Path,
                                    tmp_path: Path) -> None:
    """put_file refuses a key that escapes the root and writes nothing."""
    with pytest.raises(InvalidKey):
        media.put_file("../escaped.bin", source)
    assert not (tmp_path / "escaped.bin").exists()


def test_put_file_stores_the_bytes(media: LocalMediaStorage, source: Path) -> None:
    """put_file copies the file under its key, returns the key, and leaves no temp file."""
    key = artifact_key("job_1", "voice", "voice.wav")
    assert media.exists(key) is False
    assert media.put_file(key, source) == key
    assert media.exists(key) is True
    assert media.path(key).read_bytes() == source.read_bytes()
    assert source.exists()  # copied, not moved
    assert _part_files(media.root) == []


def test_put_file_replaces_an_existing_artifact(media: LocalMediaStorage, source: Path,
                                                tmp_path: Path) -> None:
    """Storing again under the same key replaces the content whole."""
    key = "job_1/script/script.json"
    media.put_file(key, source)
    newer = tmp_path / "newer.json"
    newer.write_text('{"v": 2}')
    media.put_file(key, newer)
    assert media.path(key).read_text() == '{"v": 2}'
    assert _part_files(media.root) == []


def test_failed_copy_leaves_no_file(media: LocalMediaStorage, source: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy that dies half way leaves neither the artifact nor a .part file."""
    def half_copy(src: Path, dst: Path) -> None:
        Path(dst).write_bytes(Path(src).read_bytes()[:10])
        raise OSError("disk full")

    monkeypatch.setattr(shutil, "copyfile", half_copy)
    key = "job_1/render/video.mp4"
    with pytest.raises(OSError, match="disk full"):
        media.put_file(key, source)
    assert media.exists(key) is False
    assert _part_files(media.root) == []


def test_failed_replace_keeps_the_old_artifact(media: LocalMediaStorage, source: Path,
                                               tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """When a re-store fails, the earlier finished artifact is still there, intact."""
    key = "job_1/render/video.mp4"
    media.put_file(key, source)

    def half_copy(src: Path, dst: Path) -> None:
        Path(dst).write_bytes(b"partial")
        raise OSError("killed")

    monkeypatch.setattr(shutil, "copyfile", half_copy)
    with pytest.raises(OSError):
        media.put_file(key, tmp_path / "whatever")
    assert media.path(key).read_bytes() == source.read_bytes()
    assert _part_files(media.root) == []


def test_missing_source_raises(media: LocalMediaStorage, tmp_path: Path) -> None:
    """Storing a file that does not exist raises FileNotFoundError and stores nothing."""
    with pytest.raises(FileNotFoundError):
        media.put_file("job_1/voice/voice.wav", tmp_path / "nope.wav")
    assert media.exists("job_1/voice/voice.wav") is False
    assert _part_files(media.root) == []


def test_exists_is_false_for_folders(media: LocalMediaStorage, source: Path) -> None:
    """A key naming a folder is not a finished artifact."""
    media.put_file("job_1/voice/voice.wav", source)
    assert media.exists("job_1/voice") is False


def test_scratch_dirs_are_fresh_and_discardable(media: LocalMediaStorage) -> None:
    """Each scratch_dir call gives a new empty folder under the root; discard removes it."""
    first = media.scratch_dir("job_1", "render")
    second = media.scratch_dir("job_1", "render")
    assert first != second
    assert first.is_dir() and second.is_dir()
    assert list(first.iterdir()) == []
    assert media.root in first.parents
    assert first.name.startswith("render-")
    (first / "frame.png").write_bytes(b"x")
    (first / "sub").mkdir()
    (first / "sub" / "deep.txt").write_text("y")
    media.discard_scratch(first)
    assert not first.exists()
    assert second.is_dir()


def test_discarding_twice_is_harmless(media: LocalMediaStorage) -> None:
    """Discarding a folder that is already gone raises nothing."""
    folder = media.scratch_dir("job_1", "voice")
    media.discard_scratch(folder)
    media.discard_scratch(folder)
    assert not folder.exists()


def test_scratch_is_not_an_artifact_key_space(media: LocalMediaStorage) -> None:
    """Scratch folders live apart from job artifacts, so a job's keys never collide with them."""
    folder = media.scratch_dir("job_1", "render")
    assert not str(folder).startswith(str(media.path("job_1")))
