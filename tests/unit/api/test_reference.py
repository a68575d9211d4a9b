"""The OpenAPI document reshaped for /docs: refs resolved, nulls folded, limits in words."""

from __future__ import annotations

from typing import Any

import pytest

from api.openapi import openapi_document
from api.reference import Operation, Reference, Schema, anchor, build_reference


def _document(paths: dict[str, Any], schemas: dict[str, Any] | None = None,
              **extra: Any) -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": "t", "version": "2"}, "paths": paths,
            "components": {"schemas": schemas or {}}, **extra}


def _only_operation(reference: Reference) -> Operation:
    (group,) = reference.groups
    (operation,) = group.operations
    return operation


def _body_schema(operation: Operation) -> Schema:
    assert operation.body is not None
    schema = operation.body.content[0].schema
    assert schema is not None
    return schema


def _field(schema: Schema, name: str) -> Schema:
    return next(field.schema for field in schema.properties if field.name == name)


def _json_body(ref: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def test_optional_fields_read_as_their_type_or_null_with_limits_in_words() -> None:
    """Pydantic's anyOf [X, null] is shown as X or null, keeping X's limits and the default."""
    schemas = {"Body": {"type": "object", "required": ["name"], "additionalProperties": False,
                        "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 40},
        "limit": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 100},
                            {"type": "null"}], "default": None, "description": "page size"},
        "stage": {"enum": ["script", "voice", None]},
        "kind": {"const": "idea"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3,
                 "uniqueItems": True}}}}
    paths = {"/v1/things": {"post": {"requestBody": _json_body("Body"), "responses": {}}}}
    body = _body_schema(_only_operation(build_reference(_document(paths, schemas))))
    assert body.ref == "Body" and "no other fields" in body.facts
    assert [(field.name, field.required) for field in body.properties] == [
        ("name", True), ("limit", False), ("stage", False), ("kind", False), ("tags", False)]
    assert _field(body, "name").facts == ("1–40 characters",)
    limit = _field(body, "limit")
    assert (limit.label, limit.nullable, limit.description) == ("integer", True, "page size")
    assert limit.facts == ("≥ 1", "≤ 100", "default: null")
    stage = _field(body, "stage")
    assert (stage.label, stage.nullable, stage.enum) == ("string", True, ('"script"', '"voice"'))
    assert _field(body, "kind").enum == ('"idea"',)
    tags = _field(body, "tags")
    assert tags.label == "array of string" and tags.facts == ("at most 3 items", "no duplicates")


def test_request_bodies_expand_refs_to_the_last_field_but_stop_at_a_cycle() -> None:
    """A body's nested $refs are copied in, and a schema that contains itself becomes a link."""
    schemas = {
        "Tree": {"type": "object", "properties": {
            "leaf": {"$ref": "#/components/schemas/Leaf"},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}}}},
        "Leaf": {"type": "object", "properties": {"colour": {"enum": ["red", "green"]}}},
    }
    paths = {"/v1/trees": {"post": {"requestBody": _json_body("Tree"), "responses": {}}}}
    body = _body_schema(_only_operation(build_reference(_document(paths, schemas))))
    leaf = _field(body, "leaf")
    assert leaf.ref == "Leaf" and leaf.expanded and _field(leaf, "colour").enum
    children = _field(body, "children")
    assert children.label == "array of Tree"
    assert children.items is not None
    assert children.items.ref == "Tree" and not children.items.expanded


def test_responses_show_their_schema_once_per_operation_and_link_what_is_inside() -> None:
    """A response's own $ref is expanded the first time, its nested $refs and repeats link."""
    schemas = {
        "Job": {"type": "object", "properties": {"stage": {"$ref": "#/components/schemas/Stage"}}},
        "Stage": {"type": "object", "properties": {"status": {"type": "string"}}},
        "Error": {"type": "object", "properties": {"code": {"type": "string"}}},
    }
    responses = {"404": _json_body("Error"), "200": _json_body("Job"), "409": _json_body("Error"),
                 "default": _json_body("Error")}
    paths = {"/v1/jobs/{job_id}": {"get": {"responses": responses}},
             "/v1/jobs": {"get": {"responses": {"400": _json_body("Error")}}}}
    reference = build_reference(_document(paths, schemas))
    by_path = {op.path: op for group in reference.groups for op in group.operations}
    read = by_path["/v1/jobs/{job_id}"].responses
    assert [response.status for response in read] == ["200", "404", "409", "default"]
    schemas_read = [response.content[0].schema for response in read]
    assert all(schema is not None for schema in schemas_read)
    job, first_error, second_error, third_error = schemas_read
    assert job is not None and job.expanded
    stage = _field(job, "stage")
    assert stage.ref == "Stage" and not stage.expanded
    assert first_error is not None and first_error.expanded
    assert second_error is not None and not second_error.expanded
    assert third_error is not None and not third_error.expanded
    other = by_path["/v1/jobs"].responses[0].content[0].schema
    assert other is not None and other.expanded  # once per operation, not once per page


def test_operations_are_grouped_by_tag_or_resource_and_know_whether_a_key_is_needed() -> None:
    """Groups come from the first tag, else the path segment after the version; security []
    marks a public operation; path-item parameters apply to each of its operations."""
    job_id = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
    paths = {
        "/v1/jobs/{job_id}": {"parameters": [job_id],
                              "get": {"summary": "one job", "responses": {}},
                              "delete": {"responses": {}, "parameters": [
                                  {**job_id, "description": "the job to cancel"}]}},
        "/v1/health": {"get": {"security": [], "responses": {}}},
        "/v1/x": {"get": {"tags": ["admin"], "responses": {}}},
    }
    document = _document(paths, security=[{"key": []}], components={
        "schemas": {}, "securitySchemes": {"key": {"type": "http", "scheme": "bearer"}}})
    reference = build_reference(document)
    assert [group.name for group in reference.groups] == ["jobs", "health", "admin"]
    jobs, health, _admin = reference.groups
    get, delete = jobs.operations
    assert (get.method, get.anchor, get.public) == ("GET", "op-get-v1-jobs-job_id", False)
    assert [(p.name, p.location, p.required, p.description) for p in get.parameters] == [
        ("job_id", "path", True, "")]
    assert [p.description for p in delete.parameters] == ["the job to cancel"]
    assert health.operations[0].public
    assert reference.security[0].how == "Authorization: Bearer <API key>"


@pytest.mark.parametrize(("parts", "expected"), [
    (("op", "get", "/v1/jobs/{job_id}"), "op-get-v1-jobs-job_id"),
    (("schema", "JobCreate"), "schema-JobCreate"),
    (("op-get-v1-jobs", "param", "query", "limit"), "op-get-v1-jobs-param-query-limit"),
])
def test_anchors_are_plain_html_ids(parts: tuple[str, ...], expected: str) -> None:
    """Anchors keep letters, digits and underscores, joined by single dashes."""
    assert anchor(*parts) == expected


def test_the_real_document_is_read_whole() -> None:
    """Every operation and component schema of openapi_document() is in the reference."""
    document = openapi_document()
    reference = build_reference(document)
    read = {(op.path, op.method.lower()) for group in reference.groups
            for op in group.operations}
    assert read == {(path, method) for path, item in document["paths"].items()
                    for method in item}
    assert [name for name, _schema in reference.schemas] == sorted(
        document["components"]["schemas"])
