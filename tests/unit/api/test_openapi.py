"""GET /v1/openapi.json: a valid OpenAPI 3.1 document that describes every route truly."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
from flask import Flask
from openapi_spec_validator import validate

from api import docs
from api.openapi import openapi_document
from api.web import bp as web_page
from tests.unit.api.conftest import Api

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    """A component schema that resolves its $refs inside the document."""
    return {**document["components"]["schemas"][name],
            "components": document["components"]}


def _check(document: dict[str, Any], name: str, instance: Any) -> None:
    jsonschema.validate(instance, _schema(document, name))


def test_document_is_valid_openapi_and_served_without_a_key(client) -> None:
    """The served document passes the OpenAPI 3.1 validator and needs no API key."""
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    assert document == openapi_document()


def test_every_route_is_described(app: Flask) -> None:
    """Each route and method of the app is a path operation, and nothing else is; only the
    HTML reference (/docs and its assets) and the web page (/ and its pages), both outside
    /v1, are left out."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        if rule.endpoint.startswith((f"{docs.bp.name}.", f"{web_page.name}.")):
            assert not rule.rule.startswith("/v1"), rule.rule
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        routes |= {(path, method.lower()) for method in rule.methods - IGNORED_METHODS}
    described = {(path, method) for path, item in openapi_document()["paths"].items()
                 for method in item}
    assert routes == described


def test_job_responses_match_the_described_shapes(api: Api) -> None:
    """A created job, the job read back and the job list validate against their schemas."""
    document = openapi_document()
    created = api.create_job()
    assert created.status_code == 202
    _check(document, "JobAccepted", created.get_json())
    job_id = created.get_json()["id"]
    _check(document, "Job", api.get(f"/v1/jobs/{job_id}").get_json())
    _check(document, "JobList", api.get("/v1/jobs?limit=1").get_json())


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "/v1/jobs", {"source": {"type": "idea", "idea": ""}}),
    ("post", "/v1/jobs", {"source": {"type": "feed"}}),
    ("get", "/v1/jobs/job_missing", None),
    ("get", "/v1/jobs?limit=0", None),
    ("patch", "/v1/profiles/prof_missing", {"name": "x"}),
])
def test_error_bodies_match_the_error_schema(api: Api, method: str, path: str,
                                             body: Any) -> None:
    """Every 4xx body is the documented Error, and its status is one the operation lists."""
    document = openapi_document()
    response = getattr(api.client, method)(path, json=body, headers=api.headers)
    assert 400 <= response.status_code < 500
    _check(document, "Error", response.get_json())
    operation = document["paths"][path.split("?")[0].replace("job_missing", "{job_id}")
                                  .replace("prof_missing", "{profile_id}")][method]
    assert str(response.status_code) in operation["responses"]


def test_request_schema_is_the_validating_model(api: Api) -> None:
    """A body the document's JobCreate schema refuses is refused by the API too, and the
    README's example body is accepted by both."""
    document = openapi_document()
    example = {"source": {"type": "idea", "idea": "Why cold brew tastes smoother"},
               "preset": "tiktok", "quality": "draft"}
    _check(document, "JobCreate", example)
    assert api.create_job(example).status_code == 202
    unknown = {**example, "colour": "red"}
    with pytest.raises(jsonschema.ValidationError):
        _check(document, "JobCreate", unknown)
    assert api.create_job(unknown).status_code == 422
