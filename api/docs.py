"""GET /docs: the OpenAPI document as a reference page, rendered on the server.

The page works without JavaScript: everything is in the HTML, built from the same
`openapi_document()` that /v1/openapi.json serves, so the two cannot disagree. Its stylesheet
and its one script (a filter box) come from `api/docs_static/`, never from a CDN, and the
Content-Security-Policy below keeps it that way: no inline script or style, nothing from
another origin.
"""

from __future__ import annotations

import re
from functools import lru_cache

from flask import Blueprint, Response, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from api.openapi import openapi_document
from api.reference import Reference, anchor, build_reference

# Not api/static: Flask(__name__) would then serve the same files at /static without the
# headers below.
bp = Blueprint("docs", __name__, url_prefix="/docs", template_folder="templates",
               static_folder="docs_static", static_url_path="/static")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@lru_cache(maxsize=1)
def _reference() -> Reference:
    return build_reference(openapi_document())


def prose(text: str) -> Markup:
    """Escape a description, showing its `backticked` parts as code (as pydantic writes them)."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


@bp.get("")
def reference() -> ResponseReturnValue:
    """The API reference page (no key needed)."""
    return render_template("docs/reference.html", reference=_reference(),
                           anchor=anchor, prose=prose)


@bp.get("/")
def reference_slash() -> ResponseReturnValue:
    """Send /docs/ to the page's one address."""
    return redirect(url_for("docs.reference"), 308)


@bp.after_request
def _security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
