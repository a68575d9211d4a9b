"""bench/storage.py hands the render stage W1 itself: the timeline the stage builds from the
stored inputs is bench/render_w1.py's, file for file; and its media timer counts calls."""

from __future__ import annotations

import dataclasses
import filecmp
from pathlib import Path

import pytest

from bench.render_w1 import W1Parts, w1_parts
from bench.storage import TimedMedia, settings_for, store_inputs
from pipeline.render.timeline import MediaItem, build_timeline
from store.media import LocalMediaStorage
from worker.stages import StageContext, job_timeline

SECONDS = 8  # the shortest W1 with a scene and an end card; quick to make


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> W1Parts:
    return w1_parts(tmp_path_factory.mktemp("w1"), SECONDS)


def test_the_render_stage_builds_w1s_timeline_from_the_stored_inputs(
        parts: W1Parts, tmp_path: Path) -> None:
    media = TimedMedia(LocalMediaStorage(tmp_path / "media"))
    job = store_inputs(media, parts, "standard")
    ctx = StageContext(settings_for(tmp_path), media, tmp_path / "scratch",  # type: ignore[arg-type]
                       on_progress=lambda fraction: None)
    staged = job_timeline(ctx, job)
    expected = build_timeline(parts.script, parts.voiceover, parts.voice_wav, parts.preset,
                              media=[MediaItem(path, "still") for path in parts.stills],
                              captions=parts.captions_ass, music=parts.music, price=parts.price)

    def without_files(timeline: object) -> object:
        return dataclasses.replace(
            timeline, voice=Path(), captions=None, music=None,  # type: ignore[type-var]
            visuals=tuple(dataclasses.replace(v, source=None) for v in timeline.visuals))  # type: ignore[attr-defined]

    assert without_files(staged) == without_files(expected)
    for ours, theirs in [(staged.voice, expected.voice), (staged.captions, expected.captions),
                         (staged.music, expected.music),
                         *((a.source, b.source) for a, b in zip(staged.visuals, expected.visuals,
                                                               strict=True) if b.source)]:
        assert ours is not None and theirs is not None
        assert filecmp.cmp(ours, theirs, shallow=False)
    assert media.seconds["download"] > 0
    assert media.bytes["download"] >= sum(p.stat().st_size for p in parts.stills)


def test_timed_media_counts_uploads_and_leaves_other_attributes_alone(tmp_path: Path) -> None:
    store = LocalMediaStorage(tmp_path / "media")
    media = TimedMedia(store)
    source = tmp_path / "a.bin"
    source.write_bytes(b"x" * 1000)
    media.put_file("job/render/a.bin", source)
    assert media.bytes["upload"] == 1000 and media.seconds["upload"] >= 0
    assert media.root == store.root
    media.reset()
    assert not media.seconds and not media.bytes


def test_the_profiles_music_volume_reaches_the_mix(parts: W1Parts, tmp_path: Path) -> None:
    media = LocalMediaStorage(tmp_path / "media")
    job = store_inputs(media, parts, "standard")
    ctx = StageContext(settings_for(tmp_path), media, tmp_path / "scratch",  # type: ignore[arg-type]
                       on_progress=lambda fraction: None)
    assert job_timeline(ctx, job).music_gain_db == -12.0
    quieter = dataclasses.replace(job, options={**job.options, "music_volume_db": -24.0})
    assert job_timeline(ctx, quieter).music_gain_db == -24.0
