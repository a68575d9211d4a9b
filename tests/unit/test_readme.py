"""The README stays true to the code: its configuration and command tables."""

from __future__ import annotations

import re
from pathlib import Path

import click
from click.testing import CliRunner

from store.settings import ENV_VARS
from videofactory.cli import cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _table_rows(first_header: str) -> list[list[str]]:
    lines = README.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def test_configuration_table_matches_settings() -> None:
    """Every variable the settings read is documented with its real default, and no other."""
    documented = {row[0].strip("`"): row[1] for row in _table_rows("variable")}
    assert set(documented) == {var.name for var in ENV_VARS}
    for var in ENV_VARS:
        expected = f"`{var.default}`" if var.default else "(unset)"
        assert documented[var.name] == expected, var.name


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            names += _commands(command, f"{prefix}{name} ")
        else:
            names.append(f"{prefix}{name}")
    return names


def test_command_table_lists_every_command() -> None:
    """Each CLI command appears in the README's command table, and each listed one exists."""
    listed = {re.match(r"`videofactory ([a-z ]+?)(?: \[| --|`| [A-Z])", row[0]).group(1).strip()
              for row in _table_rows("command")}
    assert listed == set(_commands(cli))
    for name in listed:
        result = CliRunner().invoke(cli, [*name.split(), "--help"])
        assert result.exit_code == 0, result.output
