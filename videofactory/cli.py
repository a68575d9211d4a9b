"""`videofactory`: make a video here, or run the API and workers of the distributed system."""

from __future__ import annotations

import errno
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from pipeline.render.presets import PRESETS
from store.settings import Settings, SettingsError

log = logging.getLogger("videofactory")


class LazySettings:
    """Settings read on first use, so `--help` touches neither the environment nor imports."""

    def __init__(self) -> None:
        self._settings: Settings | None = None

    def get(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = Settings.from_env()
            except SettingsError as exc:
                click.echo(f"error: {exc}", err=True)
                raise SystemExit(errno.EINVAL) from None
        return self._settings


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_object(LazySettings).get()  # type: ignore[union-attr]


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging and full tracebacks.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """videofactory: ideas in, social-media-ready short videos out."""
    ctx.obj = LazySettings()
    ctx.meta["verbose"] = verbose


def _configure_logging(ctx: click.Context, settings: Settings, quiet: bool = False) -> None:
    from store.logs import configure_logging

    level = "DEBUG" if ctx.meta.get("verbose") else ("WARNING" if quiet else settings.log_level)
    configure_logging(level, settings.log_json)


@cli.command()
@click.option("--idea", required=True, help="What the video is about, in one line.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Where to write the MP4 (default: ./<job id>.mp4).")
@click.option("--preset", type=click.Choice(list(PRESETS)), default="tiktok", show_default=True,
              help="Platform format.")
@click.option("--point", "points", multiple=True,
              help="A statement the video makes, one scene each (repeat it, in order).")
@click.option("--review", is_flag=True,
              help="Stop after the script: show it, then approve, edit ($EDITOR) or refuse it.")
@click.pass_context
def make(ctx: click.Context, idea: str, output: Path | None, preset: str,
         points: tuple[str, ...], review: bool) -> None:
    """Make one video right here: no services needed (SQLite, in-process, local files)."""
    from videofactory.make import make_video
    from videofactory.script_review import review_in_terminal

    settings = _settings(ctx)
    _configure_logging(ctx, settings, quiet=True)
    # `make` always runs the stages in this process, whatever REDIS_URL says.
    result = make_video(replace(settings, redis_url=None), idea, preset, output,
                        review=review_in_terminal if review else None, points=points)
    if result is None:
        raise SystemExit(1)
    click.echo(str(result))


@cli.command()
@click.argument("job_id")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Where to write the preview (default: ./<job id>-preview.mp4).")
@click.pass_context
def preview(ctx: click.Context, job_id: str, output: Path | None) -> None:
    """A fast, half-size draft of a job's video from the same timeline as the final render."""
    from videofactory.make import preview_job

    settings = _settings(ctx)
    _configure_logging(ctx, settings, quiet=True)
    result = preview_job(settings, job_id, output)
    if result is None:
        raise SystemExit(1)
    click.echo(str(result))


@cli.command()
@click.option("--host", help="Bind address (default: API_HOST).")
@click.option("--port", type=int, help="Port (default: API_PORT).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the HTTP API (waitress). Without REDIS_URL, jobs run inside this process."""
    import waitress

    from api.app import create_app

    settings = _settings(ctx)
    _configure_logging(ctx, settings)
    if settings.embedded:
        _upgrade_embedded(settings)
    app = create_app(settings)
    host = host or settings.api_host
    port = port or settings.api_port
    log.info("API listening on http://%s:%d (%s mode)", host, port,
             "embedded" if settings.embedded else "distributed")
    waitress.serve(app, host=host, port=port, threads=settings.api_threads, ident="videofactory")


@cli.command()
@click.option("--pool", type=click.Choice(["cpu", "gpu"]), required=True,
              help="Which queue this worker consumes.")
@click.option("--concurrency", type=int, help="Worker processes (default: WORKER_CONCURRENCY).")
@click.option("--name", help="Node name; the hostname is appended (default: the pool name).")
@click.option("--reconcile/--no-reconcile", default=True, show_default=True,
              help="Also run a reconciler process (one acts per fleet at a time).")
@click.pass_context
def worker(ctx: click.Context, pool: str, concurrency: int | None, name: str | None,
           reconcile: bool) -> None:
    """Run a Celery worker of the cpu or gpu pool (needs REDIS_URL and DATABASE_URL)."""
    from worker.celery_app import create_celery
    from worker.devices import describe_accelerators
    from worker.shutdown import ReconcilerProcess, install_shutdown_grace

    settings = _settings(ctx)
    _configure_logging(ctx, settings)
    if settings.embedded:
        click.echo("error: REDIS_URL is not set; workers need a broker "
                   "(for a single machine without services, use `videofactory make`)", err=True)
        raise SystemExit(errno.EINVAL)
    if pool == "gpu":
        log.info("gpu pool: %s", describe_accelerators())
    app = create_celery(settings)
    install_shutdown_grace(settings.worker_shutdown_grace)
    with ReconcilerProcess(enabled=reconcile):
        _run_worker(app, pool, name, concurrency or settings.worker_concurrency,
                    settings.log_level)


def _run_worker(app: Any, pool: str, name: str | None, concurrency: int, level: str) -> None:
    app.worker_main([
        "worker", "--queues", pool, "--hostname", f"{name or pool}@%h",
        "--concurrency", str(concurrency), "--loglevel", level, "--without-mingle",
        "--task-events",
    ])


@cli.command()
@click.option("--once", is_flag=True, help="One pass, then exit.")
@click.pass_context
def reconcile(ctx: click.Context, once: bool) -> None:
    """Re-dispatch stages whose worker died or whose message was lost (Postgres is the truth)."""
    from store.services import build_services
    from worker.celery_app import create_celery
    from worker.chains import CeleryDispatcher
    from worker.reconcile import reconcile_once, run_reconciler

    settings = _settings(ctx)
    _configure_logging(ctx, settings)
    if settings.embedded:
        click.echo("error: REDIS_URL is not set; the reconciler serves the distributed mode",
                   err=True)
        raise SystemExit(errno.EINVAL)
    services = build_services(settings)
    dispatcher = CeleryDispatcher(create_celery(settings), services.marks)
    try:
        if once:
            for action in reconcile_once(services, dispatcher):
                click.echo(f"{action.kind} {action.job_id} {action.stage}: {action.reason}")
        else:
            run_reconciler(services, dispatcher)
    except KeyboardInterrupt:
        pass
    finally:
        services.close()


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Queue depths, workers per pool, running and stalled jobs (exit 1 if a part is down)."""
    import json

    from videofactory.status import format_status, gather_status

    settings = _settings(ctx)
    _configure_logging(ctx, settings, quiet=True)
    report = gather_status(settings)
    click.echo(json.dumps(report.to_json(), indent=1) if as_json else format_status(report))
    if report.problems:
        raise SystemExit(1)


@cli.command()
@click.argument("feed")
@click.option("--dry-run", is_flag=True, help="Read the feed and report what would be made.")
@click.option("--limit", type=click.IntRange(min=1), help="Make at most this many videos.")
@click.option("--preset", type=click.Choice(list(PRESETS)), default="tiktok", show_default=True,
              help="Platform format.")
@click.option("--format", "feed_format", default="auto", show_default=True,
              type=click.Choice(["auto", "merchant_xml", "merchant_tsv", "merchant_csv",
                                 "shopify", "woocommerce"]),
              help="The feed's format (auto: detected from its content).")
@click.option("--include-out-of-stock", is_flag=True, help="Make videos of those too.")
@click.option("--quality", type=click.Choice(["draft", "standard", "high"]),
              help="Encoder quality (default: the profile's, else standard).")
@click.option("--timeout", type=float, help="Stop watching after this many seconds (exit 3).")
@click.pass_context
def batch(ctx: click.Context, feed: str, dry_run: bool, limit: int | None, preset: str,
          feed_format: str, include_out_of_stock: bool, quality: str | None,
          timeout: float | None) -> None:
    """One video per product of a feed (a URL or a file); re-runs make only what changed.
    Exit 0 all done, 1 some failed, 2 the feed could not be read, 3 timed out."""
    from videofactory.batch import run_batch

    settings = _settings(ctx)
    _configure_logging(ctx, settings, quiet=True)
    try:
        code = run_batch(settings, feed, preset=preset, dry_run=dry_run, limit=limit,
                         feed_format=feed_format, include_out_of_stock=include_out_of_stock,
                         quality=quality, timeout=timeout)
    except FileNotFoundError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(2) from None
    raise SystemExit(code)


@cli.command()
@click.argument("job_id")
@click.option("--interval", type=float, default=1.0, show_default=True,
              help="Seconds between looks.")
@click.option("--timeout", type=float, help="Give up watching after this many seconds (exit 3).")
@click.pass_context
def watch(ctx: click.Context, job_id: str, interval: float, timeout: float | None) -> None:
    """Follow a job until it ends: exit 0 succeeded, 1 failed, 2 no such job, 3 still running,
    4 canceled."""
    from store.services import build_services
    from videofactory.watch import watch_job

    settings = _settings(ctx)
    _configure_logging(ctx, settings, quiet=True)
    services = build_services(settings)
    try:
        code = watch_job(services, job_id, interval=interval, timeout=timeout)
    finally:
        services.close()
    raise SystemExit(code)


@cli.command()
@click.argument("job_id")
@click.pass_context
def cancel(ctx: click.Context, job_id: str) -> None:
    """Cancel a queued or running job (exit 1 if it already ended, 2 if there is no such job)."""
    from store import jobs as job_store
    from store.db import session_scope
    from store.services import build_services
    from worker.execution import release_project_lock

    settings = _settings(ctx)
    _configure_logging(ctx, settings, quiet=True)
    services = build_services(settings)
    try:
        with session_scope(services.sessions) as session:
            job = job_store.cancel_job(session, job_id)
            project_id, stage = job.project_id, job.current_stage
        release_project_lock(services, job_id, project_id)
    except LookupError:
        click.echo(f"no job {job_id} in this database (check DATABASE_URL)", err=True)
        raise SystemExit(2) from None
    except job_store.JobFinished as exc:
        click.echo(f"job {job_id} already ended ({exc.status}); nothing to cancel", err=True)
        raise SystemExit(1) from None
    finally:
        services.close()
    click.echo(f"canceled {job_id} in the {stage or 'queue'} stage; a running stage stops "
               "within seconds")


@cli.group()
def db() -> None:
    """Database schema (Alembic)."""


@db.command()
@click.option("--revision", default="head", show_default=True)
@click.pass_context
def upgrade(ctx: click.Context, revision: str) -> None:
    """Migrate the database to the latest schema (safe to run again)."""
    from store.migrate import current_revision
    from store.migrate import upgrade as run_upgrade

    settings = _settings(ctx)
    _configure_logging(ctx, settings)
    run_upgrade(settings.database_url, revision)
    click.echo(f"database at revision {current_revision(settings.database_url)}")


@cli.group()
def accounts() -> None:
    """Accounts and API keys."""


@accounts.command("create")
@click.argument("name")
@click.pass_context
def create_account_command(ctx: click.Context, name: str) -> None:
    """Create an account and its default profile; print its API key (shown only once)."""
    from store.accounts import create_account
    from store.db import make_engine, make_session_factory, session_scope

    settings = _settings(ctx)
    _configure_logging(ctx, settings, quiet=True)
    if settings.embedded:
        _upgrade_embedded(settings)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            created = create_account(session, name)
    except Exception as exc:
        _fail(ctx, f"could not create the account ({exc.__class__.__name__}); "
                   "is the database migrated (`videofactory db upgrade`)?", exc)
    finally:
        engine.dispose()
    click.echo(f"account {created.account_id} with default profile {created.profile_id}",
               err=True)
    click.echo(created.api_key)


def _with_session(ctx: click.Context, work: Any) -> Any:
    """Run `work(session)` in one committed transaction on the settings' database."""
    from store.db import make_engine, make_session_factory, session_scope

    settings = _settings(ctx)
    _configure_logging(ctx, settings, quiet=True)
    if settings.embedded:
        _upgrade_embedded(settings)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return work(session)
    finally:
        engine.dispose()


def _account_or_fail(session: Any, name_or_id: str) -> Any:
    from store.accounts import find_account

    account = find_account(session, name_or_id)
    if account is None:
        click.echo(f"error: no single account named or with the id {name_or_id!r}; "
                   "`videofactory accounts list` shows them", err=True)
        raise SystemExit(errno.ENOENT)
    return account


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


@accounts.command("list")
@click.pass_context
def list_accounts_command(ctx: click.Context) -> None:
    """Every account: id, name, state and created."""
    from store.accounts import list_accounts

    def show(session: Any) -> None:
        for account in list_accounts(session):
            state = "disabled" if account.disabled_at else "enabled"
            click.echo(f"{account.id}  {state:<8}  {_when(account.created_at)}  {account.name}")

    _with_session(ctx, show)


def _set_enabled(ctx: click.Context, name_or_id: str, enabled: bool) -> None:
    from store.accounts import set_account_enabled

    def change(session: Any) -> None:
        account = _account_or_fail(session, name_or_id)
        set_account_enabled(session, account, enabled)
        click.echo(f"account {account.id} {'enabled' if enabled else 'disabled'}", err=True)

    _with_session(ctx, change)


@accounts.command("disable")
@click.argument("name_or_id")
@click.pass_context
def disable_account_command(ctx: click.Context, name_or_id: str) -> None:
    """Refuse every key of the account from its next request on."""
    _set_enabled(ctx, name_or_id, False)


@accounts.command("enable")
@click.argument("name_or_id")
@click.pass_context
def enable_account_command(ctx: click.Context, name_or_id: str) -> None:
    """Accept the account's unrevoked keys again."""
    _set_enabled(ctx, name_or_id, True)


@accounts.command("quota")
@click.argument("name_or_id")
@click.option("--video-seconds", type=click.IntRange(min=0), default=None,
              help="Longest video, in seconds (0: no limit).")
@click.option("--batch-items", type=click.IntRange(min=0), default=None,
              help="Most items of one batch (0: the server's MAX_BATCH_ITEMS).")
@click.option("--running-jobs", type=click.IntRange(min=0), default=None,
              help="Jobs queued or running at once (0: no limit).")
@click.option("--reset", "reset", multiple=True,
              type=click.Choice(["video_seconds", "batch_items", "running_jobs"]),
              help="Go back to the QUOTA_* setting for this quota (repeatable).")
@click.pass_context
def quota_command(ctx: click.Context, name_or_id: str, video_seconds: int | None,
                  batch_items: int | None, running_jobs: int | None,
                  reset: tuple[str, ...]) -> None:
    """Show the account's quotas, or set some of them (the rest keep their values)."""
    from store.quotas import account_quotas, set_account_quotas

    changes: dict[str, int | None] = {name: None for name in reset}
    for name, value in (("video_seconds", video_seconds), ("batch_items", batch_items),
                        ("running_jobs", running_jobs)):
        if value is not None:
            changes[name] = value
    settings = _settings(ctx)

    def change(session: Any) -> None:
        account = _account_or_fail(session, name_or_id)
        if changes:
            set_account_quotas(account, changes)
        own = account.quotas or {}
        for name, value in vars(account_quotas(account, settings)).items():
            source = "account" if name in own else "default"
            click.echo(f"{name:<14} {value or 'no limit'!s:<10} {source}")

    _with_session(ctx, change)


@cli.group()
def keys() -> None:
    """An account's API keys: several each, shown once, revocable."""


@keys.command("create")
@click.argument("account")
@click.option("--name", default="", help="What the key is for (shown by `keys list`).")
@click.pass_context
def create_key_command(ctx: click.Context, account: str, name: str) -> None:
    """Make a key for ACCOUNT (name or id); print it (shown only this once)."""
    from store.accounts import create_key

    def make(session: Any) -> None:
        owner = _account_or_fail(session, account)
        made = create_key(session, owner.id, name)
        click.echo(f"key {made.key_id} for account {owner.id}", err=True)
        click.echo(made.api_key)

    _with_session(ctx, make)


@keys.command("list")
@click.argument("account")
@click.pass_context
def list_keys_command(ctx: click.Context, account: str) -> None:
    """ACCOUNT's keys: id, the key's first characters, state, created, last used, name."""
    from store.accounts import account_keys

    def show(session: Any) -> None:
        owner = _account_or_fail(session, account)
        for key in account_keys(session, owner.id):
            state = "revoked" if key.revoked_at else "active"
            click.echo(f"{key.id}  {key.hint}…  {state:<7}  created {_when(key.created_at)}  "
                       f"used {_when(key.last_used_at)}  {key.name}")

    _with_session(ctx, show)


@keys.command("revoke")
@click.argument("key_id")
@click.pass_context
def revoke_key_command(ctx: click.Context, key_id: str) -> None:
    """Refuse the key from its next request on."""
    from store.accounts import revoke_key

    def revoke(session: Any) -> None:
        key = revoke_key(session, key_id)
        if key is None:
            click.echo(f"error: no key {key_id!r}; `videofactory keys list ACCOUNT` shows them",
                       err=True)
            raise SystemExit(errno.ENOENT)
        click.echo(f"key {key.id} revoked", err=True)

    _with_session(ctx, revoke)


@cli.command()
@click.option("--account", "account_name", help="Only this account (name or id).")
@click.option("--profile", "profile_id", help="Only this profile's rows.")
@click.option("--from", "start", help="From this day (2026-12-01) or ISO time on.")
@click.option("--to", "end", help="Up to this day (included) or ISO time.")
@click.option("--by", "group_by", default="provider", show_default=True,
              type=click.Choice(["provider", "day", "job", "profile", "operation"]))
@click.pass_context
def costs(ctx: click.Context, account_name: str | None, profile_id: str | None,
          start: str | None, end: str | None, group_by: str) -> None:
    """What the jobs used and cost (api_costs), summed per group, as a table."""
    from datetime import timedelta

    from api.costs import parse_day
    from api.errors import ApiError
    from store.accounts import list_accounts
    from store.costs import cost_totals

    try:
        since, until = parse_day(start, "--from"), parse_day(end, "--to")
    except ApiError as exc:
        click.echo(f"error: {exc.message}", err=True)
        raise SystemExit(errno.EINVAL) from None
    if until is not None and end is not None and len(end) == 10:
        until += timedelta(days=1)

    def show(session: Any) -> None:
        owners = ([_account_or_fail(session, account_name)] if account_name
                  else list_accounts(session))
        click.echo(f"{'account':<30} {group_by:<36} {'cost_usd':>12} {'rows':>5}  units")
        for owner in owners:
            totals = cost_totals(session, owner.id, group_by=group_by, profile_id=profile_id,
                                 start=since, end=until)
            for group in totals["groups"]:
                units = ", ".join(f"{value:g} {name}" for name, value in group["units"].items())
                click.echo(f"{owner.name[:30]:<30} {str(group['key'])[:36]:<36} "
                           f"{group['cost_usd']:>12} {group['rows']:>5}  {units}")
            if totals["groups"]:
                click.echo(f"{owner.name[:30]:<30} {'total':<36} {totals['total_usd']:>12}")

    _with_session(ctx, show)


@cli.group()
def media() -> None:
    """Media storage: the MEDIA_URL bucket or the MEDIA_ROOT folder."""


@media.command("init")
@click.pass_context
def init_media(ctx: click.Context) -> None:
    """Create the MEDIA_URL bucket, or the MEDIA_ROOT folder, if missing (safe to repeat)."""
    from store.media import build_media
    from store.media.base import StorageNotReady

    settings = _settings(ctx)
    _configure_logging(ctx, settings, quiet=True)
    storage = build_media(settings)
    try:
        done = storage.ensure_ready()
    except StorageNotReady as exc:
        _fail(ctx, " ".join(str(exc).split()), exc)
    finally:
        close = getattr(storage, "close", None)
        if close is not None:
            close()
    click.echo(done)


@cli.group()
def voices() -> None:
    """Voices: list what can speak, install Piper voices."""


@voices.command("list")
@click.option("--language", help="Only voices of this language (ISO 639-1, e.g. de).")
@click.pass_context
def list_voices(ctx: click.Context, language: str | None) -> None:
    """Installed and downloadable voices: engine, name, language, quality, installed."""
    from pipeline.text.language import base_language
    from pipeline.voice.catalogue import catalogue

    settings = _settings(ctx)
    for voice in catalogue(settings.voices_dir):
        if language and voice.language != base_language(language):
            continue
        state = "installed" if voice.installed else "downloadable"
        click.echo(f"{voice.engine:7} {voice.name:32} {voice.language:4} "
                   f"{voice.quality or '-':7} {state}")


@voices.command("install")
@click.argument("name")
@click.pass_context
def install_voice(ctx: click.Context, name: str) -> None:
    """Download a Piper voice (e.g. en_US-lessac-medium) into VOICES_DIR."""
    from pipeline.types import StageError
    from pipeline.voice.catalogue import install_piper_voice

    settings = _settings(ctx)
    try:
        path = install_piper_voice(name, settings.voices_dir)
    except StageError as exc:
        click.echo(f"error: {exc.message}", err=True)
        raise SystemExit(1) from None
    click.echo(str(path))


def _upgrade_embedded(settings: Settings) -> None:
    from store.migrate import upgrade as run_upgrade

    run_upgrade(settings.database_url)


def _fail(ctx: click.Context, message: str, exc: BaseException) -> Any:
    if ctx.meta.get("verbose"):
        raise exc
    click.echo(f"error: {message}", err=True)
    raise SystemExit(1)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="videofactory")


if __name__ == "__main__":  # pragma: no cover
    main()
    sys.exit(0)
