"""The Alembic migrations, run for real on SQLite and on Postgres."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, delete, event, inspect, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bench.fleet import fresh_database
from store.accounts import create_account
from store.db import make_engine
from store.jobs import create_job, create_project
from store.migrate import alembic_config, current_revision, downgrade, upgrade
from store.models import (
    Account,
    ApiCost,
    Base,
    GenerationProgress,
    Job,
    JobStage,
    Profile,
    Project,
    new_id,
)
from tests.conftest import POSTGRES_ADMIN_URL
from worker.routing import STAGE_QUEUES

TABLES = {"accounts", "profiles", "projects", "jobs", "job_stages", "api_costs", "publications",
          "uploads", "generation_progress", "batches", "batch_items", "webhook_deliveries",
          "api_keys", "web_sessions"}
HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """A private, empty Postgres database, dropped afterwards.

    The session's shared postgres_url must stay at head for other tests, so the tests that
    start empty or downgrade work on a database of their own.
    """
    with fresh_database(POSTGRES_ADMIN_URL, f"vf_test_mig_{secrets.token_hex(4)}") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrate.db'}"
    return request.getfixturevalue("fresh_postgres_url")


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose accounts (and everything under them) are deleted afterwards."""
    created: dict[type, list[str]] = {Account: [], GenerationProgress: []}

    def remember(_session: Session, obj: object) -> None:
        if type(obj) in created:
            created[type(obj)].append(obj.id)  # type: ignore[attr-defined]

    with Session(engine) as sess:
        event.listen(sess, "after_attach", remember)
        yield sess
        sess.rollback()
        sess.execute(delete(ApiCost).where(ApiCost.provider == "test-provider"))
        # generation_progress has no foreign key, so nothing cascades to it.
        sess.execute(delete(GenerationProgress)
                     .where(GenerationProgress.id.in_(created[GenerationProgress])))
        sess.execute(delete(Account).where(Account.id.in_(created[Account])))
        sess.commit()


def test_upgrade_head_creates_every_table(empty_url: str) -> None:
    """upgrade head on an empty database creates all seven tables and records the revision."""
    assert current_revision(empty_url) is None
    upgrade(empty_url)
    assert _tables(empty_url) == TABLES | {"alembic_version"}
    assert current_revision(empty_url) == HEAD


def test_downgrade_base_then_upgrade_head(empty_url: str) -> None:
    """The migrations go down to base, leaving no table of ours, and up to head again."""
    upgrade(empty_url)
    downgrade(empty_url, "base")
    assert _tables(empty_url) & TABLES == set()
    assert current_revision(empty_url) is None
    upgrade(empty_url)
    assert _tables(empty_url) == TABLES | {"alembic_version"}
    assert current_revision(empty_url) == HEAD


def test_second_upgrade_is_a_no_op(empty_url: str) -> None:
    """Running upgrade head again changes nothing and keeps the data."""
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with Session(engine) as sess:
            account = create_account(sess, "kept")
            sess.commit()
        upgrade(empty_url)
        assert current_revision(empty_url) == HEAD
        assert _tables(empty_url) == TABLES | {"alembic_version"}
        with Session(engine) as sess:
            assert sess.get(Account, account.account_id) is not None
    finally:
        engine.dispose()


def test_percent_in_the_url_survives_the_ini_parser(tmp_path: Path) -> None:
    """A database path containing '%' migrates (Alembic's INI config would choke on it)."""
    folder = tmp_path / "100%data"
    folder.mkdir()
    url = URL.create("sqlite", database=str(folder / "vf.db")).render_as_string()
    assert "%25" in url  # the literal % travels escaped, as SQLAlchemy URLs require
    upgrade(url)
    assert current_revision(url) == HEAD
    assert (folder / "vf.db").is_file()


def test_offline_mode_is_refused(tmp_path: Path) -> None:
    """Generating SQL offline is refused: migrations only run against a live database."""
    with pytest.raises(SystemExit, match="offline"):
        command.upgrade(alembic_config(f"sqlite:///{tmp_path / 'x.db'}"), "head", sql=True)


# The number env.py takes as its advisory lock; any two migrators must agree on it.
MIGRATION_LOCK_ID = 0x76666D6967726174


def test_postgres_migrations_wait_for_the_advisory_lock(fresh_postgres_url: str) -> None:
    """A Postgres migration waits while another migrator holds the advisory lock."""
    url = make_url(fresh_postgres_url)
    holder = psycopg.connect(host=url.host, port=url.port or 5432, user=url.username,
                             password=url.password, dbname=url.database, autocommit=True,
                             connect_timeout=5)
    holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
    migrator = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from store.migrate import upgrade; upgrade(sys.argv[1])",
         fresh_postgres_url])
    try:
        deadline = time.monotonic() + 30
        while not holder.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = %s)",
                (url.database,)).fetchone()[0]:
            assert migrator.poll() is None, "the migration ran without waiting for the lock"
            assert time.monotonic() < deadline, "the migrator never asked for the lock"
            time.sleep(0.05)
        assert _tables(fresh_postgres_url) == set()
        holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
        assert migrator.wait(timeout=60) == 0
    finally:
        if migrator.poll() is None:
            migrator.kill()
            migrator.wait()
        holder.close()
    assert _tables(fresh_postgres_url) == TABLES | {"alembic_version"}


def test_migrations_match_the_models(engine: Engine) -> None:
    """Autogenerate finds no difference between head and the models: nothing is unmigrated."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_shared_postgres_is_at_head(postgres_url: str) -> None:
    """The session's Postgres database was migrated to head by Alembic."""
    assert current_revision(postgres_url) == HEAD
    assert TABLES <= _tables(postgres_url)


def test_second_default_profile_is_refused(session: Session) -> None:
    """The partial unique index allows exactly one default profile per account."""
    account = create_account(session, "brand")
    session.commit()
    session.add(Profile(id=new_id("prof"), account_id=account.account_id, name="Another",
                        is_default=True, settings={}))
    with pytest.raises(IntegrityError):
        session.flush()


def test_non_default_profiles_are_unlimited(session: Session) -> None:
    """Many non-default profiles, and one default in each of two accounts, are fine."""
    first = create_account(session, "first")
    second = create_account(session, "second")
    for n in range(3):
        session.add(Profile(id=new_id("prof"), account_id=first.account_id, name=f"p{n}",
                            is_default=False, settings={"n": n}))
    session.commit()
    defaults = session.scalars(select(Profile.account_id).where(
        Profile.is_default.is_(True),
        Profile.account_id.in_([first.account_id, second.account_id]))).all()
    assert sorted(defaults) == sorted([first.account_id, second.account_id])


def _account_with_job(session: Session) -> tuple[str, str, str, str]:
    account = create_account(session, "cascade")
    project = create_project(session, account.profile_id, "Project")
    job = create_job(session, account_id=account.account_id, profile_id=account.profile_id,
                     project_id=project.id, source={"type": "idea", "idea": "x"},
                     preset="tiktok", queues=STAGE_QUEUES)
    session.commit()
    return account.account_id, account.profile_id, project.id, job.id


def test_deleting_a_profile_removes_its_projects_and_keeps_its_jobs(session: Session) -> None:
    """Deleting a profile removes its projects; its jobs and their stages stay, with the
    profile and project set to null, so the account keeps its records."""
    _, profile_id, project_id, job_id = _account_with_job(session)
    session.execute(delete(Profile).where(Profile.id == profile_id))
    session.commit()
    session.expire_all()
    assert session.get(Project, project_id) is None
    job = session.get(Job, job_id)
    assert job is not None
    assert (job.profile_id, job.project_id) == (None, None)
    assert session.scalars(select(JobStage).where(JobStage.job_id == job_id)).all() != []


def test_deleting_a_profile_keeps_its_costs(session: Session) -> None:
    """Deleting a profile keeps its api_costs rows, with profile_id set to NULL and the job
    they belong to."""
    _, profile_id, _, job_id = _account_with_job(session)
    cost_id = new_id("cost")
    session.add(ApiCost(id=cost_id, profile_id=profile_id, job_id=job_id,
                        provider="test-provider", operation="tts", units=12.5,
                        cost_usd=Decimal("0.012345")))
    session.commit()
    session.execute(delete(Profile).where(Profile.id == profile_id))
    session.commit()
    session.expire_all()
    cost = session.get(ApiCost, cost_id)
    assert cost is not None
    assert cost.profile_id is None
    assert cost.job_id == job_id
    assert cost.cost_usd == Decimal("0.012345")


def test_deleting_an_account_removes_everything_under_it(session: Session) -> None:
    """Deleting an account removes its profiles, projects and jobs."""
    account_id, profile_id, project_id, job_id = _account_with_job(session)
    session.execute(delete(Account).where(Account.id == account_id))
    session.commit()
    session.expire_all()
    assert session.get(Profile, profile_id) is None
    assert session.get(Project, project_id) is None
    assert session.get(Job, job_id) is None


def test_generation_progress_has_a_text_primary_key(session: Session, engine: Engine) -> None:
    """generation_progress.id is a TEXT primary key: long ids fit, duplicates do not."""
    columns = {c["name"]: c for c in inspect(engine).get_columns("generation_progress")}
    assert isinstance(columns["id"]["type"], sa.Text)
    assert inspect(engine).get_pk_constraint("generation_progress")["constrained_columns"] == [
        "id"]
    account_id, *_ = _account_with_job(session)
    long_id = "gen_" + "x" * 300 + secrets.token_hex(4)
    session.add(GenerationProgress(id=long_id, stage="render", percent=50, message="m"))
    session.commit()
    session.expire_all()
    assert session.get(GenerationProgress, long_id).percent == 50
    session.add(GenerationProgress(id=long_id, percent=1))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    session.execute(delete(GenerationProgress).where(GenerationProgress.id == long_id))
    session.commit()
