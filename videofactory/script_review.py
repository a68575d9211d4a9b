"""`videofactory make --review`: show the script on the terminal, then approve, edit or refuse.

An edit is validated by the same model as PUT /v1/jobs/<id>/script and stored by the same
function, so a script edited here is what the API would have stored.
"""

from __future__ import annotations

import json

import click

from api.errors import ApiError
from api.schemas import ScriptEdit, parse_body
from pipeline.types import Script
from store import review
from store.db import session_scope
from store.models import Job
from store.services import Services

PROMPT = "Approve? [y]es / [e]dit / [n]o"


def review_in_terminal(services: Services, job_id: str) -> bool:
    """Show the job's script and ask until the person approves it (True) or refuses (False)."""
    draft: str | None = None  # an edit that did not validate, reopened as the person left it
    while True:
        script = _current_script(services, job_id)
        click.echo(format_script(script), err=True)
        answer = click.prompt(PROMPT, type=click.Choice(["y", "e", "n"], case_sensitive=False),
                              show_choices=False, err=True).lower()
        if answer == "y":
            return True
        if answer == "n":
            return False
        draft = _edit(services, job_id, script, draft)


def format_script(script: Script) -> str:
    """The script as a person reads it: title, numbered scenes, call to action, hashtags."""
    lines = ["", f"Title: {script.title}"]
    for number, scene in enumerate(script.scenes, start=1):
        lines.append(f"{number:2}. {scene.headline}" if scene.headline else f"{number:2}.")
        lines.append(f"    {scene.narration}")
    lines.append(f"Call to action: {script.call_to_action}")
    lines.append(f"Hashtags: {' '.join(script.hashtags)}")
    return "\n".join(lines)


def _current_script(services: Services, job_id: str) -> Script:
    with session_scope(services.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None
        return review.load_script(services.media, job)


def _edit(services: Services, job_id: str, script: Script, draft: str | None) -> str | None:
    """Open the script as JSON in $EDITOR and store it; the text back when it is not valid."""
    text = draft or json.dumps(script.to_dict(), ensure_ascii=False, indent=2)
    edited = click.edit(text, extension=".json")
    if edited is None:
        click.echo("no changes", err=True)
        return None
    try:
        body = parse_body(json.loads(edited), ScriptEdit)
    except ValueError as exc:
        click.echo(f"not saved: the script is not valid JSON: {exc}", err=True)
        return edited
    except ApiError as exc:  # its message starts with the field, as scenes.2.narration
        click.echo(f"not saved: {exc.message}", err=True)
        return edited
    with session_scope(services.sessions) as session:
        account_id = session.get(Job, job_id).account_id  # type: ignore[union-attr]
        review.store_edit(session, services.media, job_id, body.changes(),
                          {"account_id": account_id, "via": "cli"})
    click.echo("saved", err=True)
    return None
