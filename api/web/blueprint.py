"""The web page's blueprint and the headers every answer of it carries.

Pages are served at `/` (the API stays under `/v1`), their assets at `/assets/` from this
package, never from a CDN. The Content-Security-Policy allows scripts and styles only from
those files: no inline `<script>`, no `on…=` handlers and no `style=` attributes run, so an
injected fragment of HTML can do nothing.
"""

from __future__ import annotations

from flask import Blueprint, Response

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/assets")

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",  # voice samples are played from a fetched blob
    "connect-src 'self'",  # fetch() and EventSource to our own /v1 API
    "font-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
))


@bp.after_request
def _security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if response.mimetype == "text/html":
        # Pages carry the session's CSRF token and the account's data: never cache them.
        response.headers["Cache-Control"] = "no-store"
    return response
