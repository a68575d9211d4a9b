"""The web page for people: sign in, make videos, watch them, review, download, manage
brands. Served by the API itself at `/`; its pages act through the /v1 API."""

from __future__ import annotations

from api.web import brands, pages, session  # noqa: F401 - each registers its views on bp
from api.web.blueprint import bp

__all__ = ["bp"]
