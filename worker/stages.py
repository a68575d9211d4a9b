"""Stage adapters: load a stage's inputs from storage, call the pipeline, store its outputs.

The same adapters run inside Celery tasks and in the in-process runner.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from pipeline.captions.build import build_captions, caption_style
from pipeline.captions.transcribe import align, load_whisper, transcribe
from pipeline.publish.export import ExportFolderPublisher, Publisher, StoreExportPublisher
from pipeline.render.audio_mix import DEFAULT_MUSIC_GAIN_DB, pick_music
from pipeline.render.check import check_output
from pipeline.render.compositor import FfmpegRenderer, Renderer, RenderOptions
from pipeline.render.presets import get_preset
from pipeline.render.timeline import (
    END_CARD_SECONDS,
    Brand,
    MediaItem,
    Price,
    Timeline,
    build_timeline,
)
from pipeline.sources.product import Product, ProductSource
from pipeline.sources.readers import read_source
from pipeline.text.normalize import normalise_tokens
from pipeline.tools import Stopped
from pipeline.types import (
    ProgressCallback,
    Scene,
    Script,
    StageError,
    Voiceover,
    WordTiming,
)
from pipeline.voice.engines import (
    VoiceDefaults,
    VoiceOptions,
    build_engine,
    resolve_voice,
)
from pipeline.voice.synthesis import synthesize_script
from store.costs import Usage
from store.media import MediaMissing, MediaStorage, artifact_key
from store.publications import PublicationState
from store.settings import Settings
from worker.clip_voice import clip_voiceover
from worker.remote_media import RemoteMedia, RemoteRefused
from worker.script_writing import WrittenScript, write_job_script
from worker.stock_visuals import choose_for_script, wants_stock


@dataclass(frozen=True)
class JobInput:
    """What a stage may know about its job."""

    job_id: str
    preset: str
    source: dict[str, Any]
    options: dict[str, Any]
    artifacts: dict[str, str]


class PublicationLedger(Protocol):
    """Publications already made or under way, by idempotency key: a retried publish never
    repeats one, and picks up a delivery where the last run stopped."""

    def find(self, key: str) -> str | None:
        """Where the publication with this key went, if it was made."""

    def record(self, key: str, destination: str, location: str) -> None:
        """Remember a publication that was just made."""

    def get(self, key: str) -> PublicationState | None:
        """How far the publication with this key went, if it was started."""

    def save(self, state: PublicationState) -> None:
        """Write down where a publication stands, before the next step outside."""


class NoLedger:
    """For callers outside the job system (tools, previews): remembered in memory only."""

    def __init__(self) -> None:
        self._states: dict[str, PublicationState] = {}

    def find(self, key: str) -> str | None:
        """Nothing was published before."""
        return None

    def record(self, key: str, destination: str, location: str) -> None:
        """Forget it."""

    def get(self, key: str) -> PublicationState | None:
        """What this process saved."""
        return self._states.get(key)

    def save(self, state: PublicationState) -> None:
        """Kept for this process's life."""
        self._states[state.key] = state


@dataclass(frozen=True)
class StageContext:
    """Where a stage runs: settings, storage, a scratch folder and a progress sink."""

    settings: Settings
    media: MediaStorage
    scratch: Path
    on_progress: ProgressCallback
    publications: PublicationLedger = field(default_factory=NoLedger)
    # Whether this run still holds the stage's lease: asked before any effect outside storage.
    still_current: Callable[[], bool] = lambda: True
    # Where what the stage used goes (api_costs in the job system; nowhere for tools).
    record_usage: Callable[[Usage], None] = lambda usage: None


StageAdapter = Callable[[StageContext, JobInput], dict[str, str]]


def _keys(job_id: str, stage: str, names: dict[str, str]) -> dict[str, str]:
    return {label: artifact_key(job_id, stage, name) for label, name in names.items()}


def outputs_of(stage: str, job_id: str) -> dict[str, str]:
    """The artifact keys a stage writes for a job (deterministic, so re-runs find them)."""
    return _keys(job_id, stage, _OUTPUTS[stage])


def _load_script(ctx: StageContext, job: JobInput) -> Script:
    return Script.from_dict(json.loads(ctx.media.read_bytes(job.artifacts["script"])))


def _load_voiceover(ctx: StageContext, job: JobInput) -> Voiceover:
    data = json.loads(ctx.media.read_bytes(job.artifacts["voiceover"]))
    return Voiceover.from_dict(data)


def _store_json(ctx: StageContext, key: str, data: Any) -> None:
    local = ctx.scratch / Path(key).name
    local.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    ctx.media.put_file(key, local)


def run_script(ctx: StageContext, job: JobInput) -> dict[str, str]:
    """Source → script.json (from the generator the job chooses: the template, an LLM, or
    the user's own words), visuals.json (the pictures the source brought, fetched and
    checked, then stock footage for the scenes when the job wants it; the render shows them
    after the job's own media) and notes.json (who wrote the script, warnings, why each
    scene shows what it does, and the stock credits)."""
    source = read_source(job.source, job.options.get("language"))
    visuals: list[dict[str, Any]] = []
    if isinstance(source, ProductSource):
        products, visuals = resolve_product_images(ctx, job, source.products)
        source = replace(source, products=products, target_seconds=target_seconds(job.preset),
                         call_to_action=str(job.options.get("call_to_action") or ""))
    ctx.on_progress(0.3)
    if _untitled_clip(source):
        written = WrittenScript(_untitled_clip_script(), "user")
    else:
        earlier = _load_script(ctx, job) if "script" in job.artifacts else None
        written = write_job_script(ctx.settings, job.options, source,
                                   target_seconds(job.preset), earlier, ctx.record_usage)
    ctx.on_progress(0.6)
    script = written.script
    notes: dict[str, Any] = {"generator": written.generator, "warnings": list(written.warnings),
                             "visuals": [], "attribution": [], "credit": ""}
    own_media = len(job.options.get("media") or [])
    if wants_stock(job.options, bool(own_media or visuals)) and job.source["type"] != "clip":
        with RemoteMedia.from_settings(ctx.settings, ctx.media, ctx.scratch / "stock") as remote:
            stock = choose_for_script(ctx.settings, job.options, job.preset, script, remote,
                                      own_media + len(visuals), ctx.record_usage)
        if stock is not None:
            script = stock.script
            visuals += [{**visual, "source": "stock"} for visual in stock.visuals]
            notes.update(visuals=stock.reasons, attribution=stock.attribution,
                         credit=stock.credit)
        elif job.options.get("visuals") == "stock":
            notes["warnings"].append("no stock provider key is set: generated backgrounds")
    keys = outputs_of("script", job.job_id)
    _store_json(ctx, keys["script"], script.to_dict())
    _store_json(ctx, keys["visuals"], visuals)
    _store_json(ctx, keys["notes"], notes)
    ctx.on_progress(1.0)
    return keys


def post_caption(script: Script, credit: str) -> str:
    """The text to post with the video: the script's caption (or its title), its hashtags,
    and the stock providers' credit line where footage came from them."""
    tags = " ".join(tag if tag.startswith("#") else f"#{tag}" for tag in script.hashtags)
    lines = [" ".join(part for part in ((script.caption or script.title).strip(), tags) if part)]
    if credit:
        lines.append(credit)
    return "\n".join(line for line in lines if line)


def script_notes(media: MediaStorage, artifacts: dict[str, str]) -> dict[str, Any]:
    """A job's notes.json (empty for jobs made before there were notes)."""
    if "notes" not in artifacts:
        return {}
    try:
        data = json.loads(media.read_bytes(artifacts["notes"]))
    except (MediaMissing, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _untitled_clip(source: object) -> bool:
    return isinstance(source, ProductSource) and not source.products[0].title


def _untitled_clip_script() -> Script:
    """A clip sent without product fields keeps its own speech: there is nothing to say."""
    return Script(title="", scenes=(Scene(narration="", headline=""),), call_to_action="",
                  hashtags=(), kind="product")


def target_seconds(preset_name: str) -> float:
    """How long a generated narration should last on a preset: about 30 s, the sweet spot of
    short-form ads, within what the platform accepts (the end card comes on top)."""
    preset = get_preset(preset_name)
    return max(preset.min_duration, min(30.0, preset.max_duration)) - END_CARD_SECONDS


def resolve_product_images(ctx: StageContext, job: JobInput, products: tuple[Product, ...]
                           ) -> tuple[tuple[Product, ...], list[dict[str, Any]]]:
    """Each product's images as media keys (uploads as the API resolved them, URLs fetched
    through the safe fetcher) and the job's visuals, all products' pictures in order.

    A refused picture is left out; a product whose every picture is refused fails the stage
    with the reasons, since a video of someone else's placeholder would be worse than none.
    """
    known: dict[str, str] = job.options.get("image_keys") or {}
    resolved, visuals = [], []
    with RemoteMedia.from_settings(ctx.settings, ctx.media, ctx.scratch / "remote") as remote:
        for product in products:
            keys, refused = [], []
            for ref in product.images:
                if ref in known:
                    keys.append(known[ref])
                    continue
                try:
                    keys.append(remote.get(ref).key)
                except RemoteRefused as exc:
                    refused.append(exc.message)
            if product.images and not keys:
                raise StageError("script", "image_refused", "no picture of the product could "
                                 "be used: " + "; ".join(refused))
            resolved.append(replace(product, images=tuple(keys)))
            visuals += [{"key": key, "kind": "still", "source": "product"} for key in keys]
    return tuple(resolved), visuals


def voice_defaults(settings: Settings) -> VoiceDefaults:
    """The machine's voice settings."""
    return VoiceDefaults(voices_dir=settings.voices_dir, piper_voice=settings.piper_voice,
                         espeak_voice=settings.espeak_voice, speech_rate=settings.speech_rate,
                         downloads=settings.voice_downloads)


def job_voice_options(settings: Settings, options: dict[str, Any]) -> VoiceOptions:
    """A job's voice options over the machine's default engine."""
    return VoiceOptions.from_dict({"engine": settings.voice_engine,
                                   **(options.get("voice") or {})})


def run_voice(ctx: StageContext, job: JobInput) -> dict[str, str]:
    """script.json → voice.wav + voiceover.json (word timings); a transcribed clip that
    speaks keeps its own speech instead."""
    keys = clip_voiceover(ctx, job)
    if keys is not None:
        return keys
    script = _load_script(ctx, job)
    if not script.narration.strip() and job.source.get("type") == "clip":
        raise StageError("voice", "no_speech",
                         "the clip has no speech to keep and no product fields to write a "
                         "voiceover from; send product fields or transcribe: false")
    started = time.perf_counter()
    options = job_voice_options(ctx.settings, job.options)
    defaults = voice_defaults(ctx.settings)
    choice = resolve_voice(options, script.language, defaults)
    engine = build_engine(choice, options, defaults)
    keys = outputs_of("voice", job.job_id)
    local_wav = ctx.scratch / "voice.wav"
    voiceover = synthesize_script(
        script, engine, local_wav, sentence_pause=options.sentence_pause,
        spoken_forms=lambda tokens: normalise_tokens(tokens, script.language),
        on_progress=ctx.on_progress,
    )
    ctx.media.put_file(keys["voice_wav"], local_wav)
    _store_json(ctx, keys["voiceover"], {**voiceover.to_dict(), "voice": choice.name})
    ctx.record_usage(Usage(provider=choice.engine, operation="voice",
                           units=round(voiceover.duration, 3), unit="speech_seconds",
                           seconds=round(time.perf_counter() - started, 3)))
    return keys


def _whisper_timings(ctx: StageContext, job: JobInput, voiceover: Voiceover) -> list[WordTiming]:
    """Time the script's own words by what Whisper hears in the voiceover."""
    s = ctx.settings
    script = _load_script(ctx, job)
    model = load_whisper(s.whisper_model, s.models_dir, download=s.voice_downloads)
    ctx.on_progress(0.2)
    heard = transcribe(ctx.media.fetch(job.artifacts["voice_wav"]), model=model,
                       language=script.language, ffmpeg=s.ffmpeg_binary)
    ctx.on_progress(0.8)
    return align(script.narration, heard, duration=voiceover.duration)


def run_captions(ctx: StageContext, job: JobInput) -> dict[str, str]:
    """voiceover.json → captions.ass, .srt and .json."""
    voiceover = _load_voiceover(ctx, job)
    options = job.options.get("captions") or {}
    words = voiceover.words
    # A clip's own speech has Whisper's words already, and no script to re-time.
    if options.get("timing") == "whisper" and voiceover.engine != "clip":
        words = tuple(_whisper_timings(ctx, job, voiceover))
    files = build_captions(words, get_preset(job.preset), ctx.scratch, caption_style(options))
    keys = outputs_of("captions", job.job_id)
    for label, path in (("captions_ass", files["ass"]), ("captions_srt", files["srt"]),
                        ("captions_vtt", files["vtt"]), ("captions_json", files["json"])):
        ctx.media.put_file(keys[label], path)
    ctx.on_progress(1.0)
    return keys


def job_timeline(ctx: StageContext, job: JobInput) -> Timeline:
    """The job's timeline, from its artifacts and options (the final render and previews)."""
    options = job.options
    brand_options = options.get("brand") or {}
    brought = (json.loads(ctx.media.read_bytes(job.artifacts["visuals"]))
               if "visuals" in job.artifacts else [])
    voiceover = _load_voiceover(ctx, job)
    # A clip whose own speech is the voiceover must not be heard a second time under it.
    speech_from_clip = voiceover.engine == "clip"
    media = [MediaItem(ctx.media.fetch(item["key"]), item["kind"],
                       bool(item.get("keep_audio")) and not speech_from_clip,
                       item.get("duration"))
             for item in [*(options.get("media") or []), *brought]]
    music_key = brand_options.get("music_dir")
    music = pick_music(ctx.media.list(music_key) if music_key else [], job.job_id)
    logo_key = brand_options.get("logo")
    brand = Brand(
        primary=brand_options.get("primary", Brand.primary).lstrip("#").upper(),
        accent=brand_options.get("accent", Brand.accent).lstrip("#").upper(),
        text=brand_options.get("text", Brand.text).lstrip("#").upper(),
        font=brand_options.get("font", Brand.font),
        logo=_fetch_if_stored(ctx, logo_key) if logo_key else None,
    )
    price = options.get("price")
    return build_timeline(
        _load_script(ctx, job), voiceover,
        ctx.media.fetch(job.artifacts["voice_wav"]), get_preset(job.preset),
        media=media, captions=ctx.media.fetch(job.artifacts["captions_ass"]),
        music=ctx.media.fetch(music) if music else None, brand=brand,
        price=Price(price["price"], price.get("sale_price")) if price else None,
        music_gain_db=float(options.get("music_volume_db", DEFAULT_MUSIC_GAIN_DB)),
    )


def _fetch_if_stored(ctx: StageContext, key: str) -> Path | None:
    """A local copy of the object, or None when it was deleted (one lookup, not two)."""
    try:
        return ctx.media.fetch(key)
    except MediaMissing:
        return None


RENDERER: Renderer = FfmpegRenderer()


def render_options(settings: Settings, quality: str) -> RenderOptions:
    """Encoder settings of this machine for a quality."""
    return RenderOptions(quality=quality, ffmpeg=settings.ffmpeg_binary,
                         ffprobe=settings.ffprobe_binary, threads=settings.encoder_threads)


def run_render(ctx: StageContext, job: JobInput) -> dict[str, str]:
    """Everything so far → video.mp4, checked against the preset before it is passed on."""
    keys = outputs_of("render", job.job_id)
    local_mp4 = ctx.scratch / "video.mp4"
    started, cpu_before = time.perf_counter(), _cpu_seconds()
    timeline = job_timeline(ctx, job)
    quality = job.options.get("quality", "standard")
    used = RENDERER.render(timeline, ctx.scratch / "work", local_mp4,
                           options=render_options(ctx.settings, quality),
                           on_progress=ctx.on_progress)
    if quality != "draft":
        problems = check_output(local_mp4, used, expected_duration=timeline.duration,
                                ffprobe=ctx.settings.ffprobe_binary,
                                ffmpeg=ctx.settings.ffmpeg_binary)
        if problems:
            raise StageError("render", "bad_output",
                             "the rendered video misses the preset: " + "; ".join(problems))
    ctx.media.put_file(keys["video"], local_mp4)
    ctx.record_usage(Usage(provider="ffmpeg", operation="render",
                           units=round(_cpu_seconds() - cpu_before, 3), unit="cpu_seconds",
                           seconds=round(time.perf_counter() - started, 3)))
    return keys


def _cpu_seconds() -> float:
    """CPU time of this process and the tools it ran and waited for (ffmpeg)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    tools = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + tools.ru_utime + tools.ru_stime


def export_publisher(ctx: StageContext) -> Publisher:
    """EXPORT_DIR when set, else `exports/` in media storage."""
    if ctx.settings.export_dir is not None:
        return ExportFolderPublisher(ctx.settings.export_dir)
    return StoreExportPublisher(ctx.media, "exports")


def run_publish(ctx: StageContext, job: JobInput) -> dict[str, str]:
    """video.mp4 → the export folder, with a JSON sidecar (script, captions, durations)."""
    script = _load_script(ctx, job)
    voiceover = _load_voiceover(ctx, job)
    captions = json.loads(ctx.media.read_bytes(job.artifacts["captions_json"]))
    notes = script_notes(ctx.media, job.artifacts)
    sidecar = {
        "job_id": job.job_id,
        "preset": job.preset,
        "script": script.to_dict(),
        "narration": script.narration,
        "captions": captions,
        "durations": {"voice": voiceover.duration,
                      "scenes": [s.end - s.start for s in voiceover.scenes]},
        "post": {"caption": post_caption(script, notes.get("credit") or "")},
        "generator": notes.get("generator", "template"),
        "warnings": notes.get("warnings", []),
        "attribution": notes.get("attribution", []),
    }
    publisher = export_publisher(ctx)
    idempotency_key = f"{job.job_id}:{publisher.name}"
    location = ctx.publications.find(idempotency_key)
    if location is None:  # a retry after a crash finds the first publication and stops here
        if not ctx.still_current():  # a superseded or canceled run publishes nothing
            raise Stopped("the publish run lost its lease before publishing")
        publication = publisher.publish(ctx.media.fetch(job.artifacts["video"]), sidecar,
                                        job.job_id)
        location = publication.location
        ctx.publications.record(idempotency_key, publisher.name, location)
    keys = outputs_of("publish", job.job_id)
    _store_json(ctx, keys["publication"], {"destination": publisher.name,
                                           "location": location})
    ctx.on_progress(1.0)
    return keys


_OUTPUTS: dict[str, dict[str, str]] = {
    "script": {"script": "script.json", "visuals": "visuals.json", "notes": "notes.json"},
    "voice": {"voice_wav": "voice.wav", "voiceover": "voiceover.json"},
    "captions": {"captions_ass": "captions.ass", "captions_srt": "captions.srt",
                 "captions_vtt": "captions.vtt", "captions_json": "captions.json"},
    "render": {"video": "video.mp4"},
    "publish": {"publication": "publication.json"},
}

STAGE_ADAPTERS: dict[str, StageAdapter] = {
    "script": run_script,
    "voice": run_voice,
    "captions": run_captions,
    "render": run_render,
    "publish": run_publish,
}
