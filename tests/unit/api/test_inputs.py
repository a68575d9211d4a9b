"""Inputs the fuzz test (tests/e2e/test_api_fuzz.py) found answered with 500: each is now a
documented 4xx in the one error shape, on SQLite here as on Postgres there."""

from __future__ import annotations

import dataclasses
from typing import Any

import jsonschema
import pytest

from api.app import create_app
from api.inputs import nul_field
from api.openapi import openapi_document
from store import batches as batch_store
from store.db import session_scope
from store.services import Services, build_services
from store.settings import Settings
from tests.unit.api.conftest import Api, RecordingDispatcher


def _error(response: Any, status: int, code: str, field: str | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error.get("field") == field


@pytest.mark.parametrize(("value", "field"), [
    ({"name": "ok"}, None),
    ({"name": "a\x00b"}, "name"),
    ({"source": {"scenes": [{"narration": "x"}, {"narration": "\x00"}]}},
     "source.scenes.1.narration"),
    ({"brand": {"bad\x00key": 1}}, "brand.bad\x00key"),
    ([1, "two", None], None),
])
def test_nul_field_names_where_the_nul_is(value: Any, field: str | None) -> None:
    """The first NUL in decoded JSON is named as error.field names fields."""
    assert nul_field(value) == field


def test_nul_in_a_json_body_is_422_naming_the_field(api: Api) -> None:
    """A profile name with a NUL (which Postgres cannot store) is refused before any query."""
    response = api.client.post("/v1/profiles", json={"name": "bad\x00name"},
                               headers=api.headers)
    _error(response, 422, "invalid_field", "name")
    response = api.create_job({"source": {"type": "idea", "idea": "cold brew\x00"}})
    _error(response, 422, "invalid_field", "source.idea")


@pytest.mark.parametrize("path", ["/v1/jobs/job_%00", "/v1/profiles/%00/music",
                                  "/v1/uploads/upl_%00", "/v1/batches/%00"])
def test_nul_in_a_path_is_404(api: Api, path: str) -> None:
    """No id has a NUL in it, so a path with one names nothing."""
    _error(api.get(path), 404, "not_found")


@pytest.mark.parametrize(("query", "field"), [
    ("/v1/jobs?before=job_%00", "before"), ("/v1/jobs?project_id=%00", "project_id"),
    ("/v1/costs?profile_id=%00", "profile_id"), ("/v1/voices?language=d%00e", "language"),
    ("/v1/webhooks/deliveries?before=%00", "before"),
])
def test_nul_in_a_query_is_422_naming_it(api: Api, query: str, field: str) -> None:
    """A query parameter with a NUL is refused with 422 naming it, never sent to a query."""
    response = api.get(query)
    _error(response, 422, "invalid_field", field)
    operation = openapi_document()["paths"][query.split("?")[0]]["get"]
    assert "422" in operation["responses"]


@pytest.mark.parametrize("after", ["2147483648", "-41282136197833", "--5", "²", "-2", "1.5"])
def test_batch_items_after_out_of_range_is_422(api: Api, services: Services,
                                               after: str) -> None:
    """`after` is a position of the 32-bit column from -1 on, in ASCII digits; anything else
    is 422 (it was 500: integer out of range, or int() of a superscript two)."""
    with session_scope(services.sessions) as session:
        batch = batch_store.create_batch(session, account_id=api.account.account_id,
                                         profile_id=api.account.profile_id, preset="tiktok",
                                         source={"type": "collection", "items": []}, options={})
        batch_id = batch.id
    _error(api.get(f"/v1/batches/{batch_id}", query_string={"after": after}), 422,
           "invalid_field", "after")
    assert api.get(f"/v1/batches/{batch_id}?after=2147483647").status_code == 200
    assert api.get(f"/v1/batches/{batch_id}?after=-1").status_code == 200


def test_unhealthy_answer_carries_an_error(embedded_settings: Settings) -> None:
    """Health's 503 is its report plus an Error's `error`, as the document describes it."""
    settings = dataclasses.replace(embedded_settings,
                                   database_url="postgresql+psycopg://postgres@127.0.0.1:1/x")
    services = build_services(settings)
    try:
        client = create_app(services=services, dispatcher=RecordingDispatcher()).test_client()
        response = client.get("/v1/health")
    finally:
        services.close()
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"]["code"] == "unavailable" and "database" in body["error"]["message"]
    document = openapi_document()
    schema = document["paths"]["/v1/health"]["get"]["responses"]["503"]["content"][
        "application/json"]["schema"]
    jsonschema.validate(body, {**schema, "components": document["components"]})


@pytest.mark.parametrize(("body", "status"), [
    (b"I;\xbb4\xe1H<\xa37\r\xd9\xef\x1e\xfe\xfd\xf8", 422),  # the fuzzer's: was csv.Error, 500
    (b"id,title\r1,Mug\r", 201),  # lines ended by a lone CR, as old Mac exports do
])
def test_feed_header_ends_at_a_lone_carriage_return(api: Api, body: bytes, status: int) -> None:
    """A feed's header line ends at "\\r" as well as "\\n", as the csv module reads it."""
    response = api.client.post("/v1/uploads?kind=feed", data=body, headers=api.headers)
    assert response.status_code == status, response.get_json()
    if status == 422:
        assert response.get_json()["error"]["code"] == "invalid_feed"
