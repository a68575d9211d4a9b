"""The Flask application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask

from store.services import Services, build_services
from store.settings import Settings


def _default_dispatcher(services: Services) -> Any:
    if services.settings.embedded:
        from worker.runner import InProcessDispatcher

        return InProcessDispatcher(services)
    from worker.celery_app import create_celery
    from worker.chains import CeleryDispatcher

    return CeleryDispatcher(create_celery(services.settings), services.marks)


def create_app(settings: Settings | None = None, *, services: Services | None = None,
               dispatcher: Any | None = None) -> Flask:
    """Create and configure an instance of the Flask application."""
    settings = settings or (services.settings if services else Settings.from_env())
    services = services or build_services(settings)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["videofactory"] = {
        "services": services,
        "dispatcher": dispatcher or _default_dispatcher(services),
    }
    from api import (
        batches,
        context,
        costs,
        docs,
        errors,
        events,
        health,
        inputs,
        job_files,
        jobs,
        openapi,
        profiles,
        review,
        uploads,
        voices,
        webhooks,
    )

    context.init_app(app)
    errors.init_app(app)
    inputs.init_app(app)
    app.register_blueprint(jobs.bp)
    app.register_blueprint(review.bp)
    app.register_blueprint(job_files.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(batches.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(profiles.bp)
    app.register_blueprint(voices.bp)
    app.register_blueprint(uploads.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(costs.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(docs.bp)
    from api.web import bp as web_page  # the web page for people, at /

    app.register_blueprint(web_page)
    return app
