"""`videofactory batch` embedded: a feed file made into videos here, with a report; a re-run
makes nothing new; a dry run makes nothing at all; an unsafe feed exits 2 saying why."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.support.feeds import merchant_item, merchant_rss
from videofactory.cli import cli

pytestmark = pytest.mark.usefixtures("restore_logging")


def _feed(tmp_path: Path, *items: str, prolog: str = "") -> Path:
    path = tmp_path / "feed.xml"
    path.write_bytes(merchant_rss(*items, prolog=prolog))
    return path


def _batch(*args: str) -> Result:
    return CliRunner().invoke(cli, ["batch", *args], catch_exceptions=False)


def _jobs(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "videofactory.db") as db:
        return int(db.execute("SELECT count(*) FROM jobs").fetchone()[0])


MUG = merchant_item(id="mug-1", title="Acme Thermal Mug", price="20.00 USD",
                    description="The Acme Thermal Mug keeps coffee hot for six hours. "
                                "Double-walled steel stays cool to the touch.",
                    link="https://shop.example.com/mug")


def test_a_dry_run_reports_what_would_be_made_and_makes_nothing(data_dir: Path,
                                                                tmp_path: Path) -> None:
    """Planned, skipped and broken rows are reported with reasons; no job is written."""
    feed = _feed(tmp_path, MUG,
                 merchant_item(id="sock", title="Wool Socks", availability="out of stock"),
                 merchant_item(id="x", price="3.00 USD"))
    result = _batch(str(feed), "--dry-run")
    assert result.exit_code == 1, result.output  # the broken row counts as failed
    assert "planned" in result.output and "out of stock" in result.output
    assert "no title" in result.output
    assert _jobs(data_dir) == 0


def test_a_feed_file_becomes_a_video_and_the_rerun_makes_none(data_dir: Path,
                                                              tmp_path: Path) -> None:
    """One product rendered here at draft quality; the same file again is 'unchanged'."""
    feed = _feed(tmp_path, MUG)
    first = _batch(str(feed), "--quality", "draft")
    assert first.exit_code == 0, first.output
    assert "1/1 videos done" in first.output and "succeeded" in first.output
    assert _jobs(data_dir) == 1
    exported = list((data_dir / "exports").glob("*.mp4"))
    assert len(exported) == 1 and exported[0].stat().st_size > 10_000
    assert f"videos are in {data_dir / 'exports'}" in " ".join(first.output.split())
    again = _batch(str(feed), "--quality", "draft")
    assert again.exit_code == 0, again.output
    assert "unchanged" in again.output and _jobs(data_dir) == 1


def test_an_unsafe_or_missing_feed_exits_2(data_dir: Path, tmp_path: Path) -> None:
    """A feed with a DTD is refused as unsafe_xml; a missing file is named."""
    bomb = _feed(tmp_path, MUG, prolog='<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">]>')
    result = _batch(str(bomb))
    assert result.exit_code == 2, result.output
    assert "unsafe_xml" in result.output
    missing = _batch(str(tmp_path / "nope.xml"))
    assert missing.exit_code == 2 and "no such file" in missing.output
