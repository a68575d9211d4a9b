"""The OpenAPI document reshaped for the /docs page: groups, operations and schema trees.

The template stays free of JSON Schema logic: `$ref`s are resolved here, `anyOf [X, null]`
becomes "X or null", and limits become short phrases, so the page reads like prose and the
tests can check this shaping without parsing HTML.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

_METHODS = ("get", "put", "post", "patch", "delete", "head", "options", "trace")
_REF_PREFIX = "#/components/schemas/"


@dataclass(frozen=True)
class Schema:
    """One JSON Schema, ready to print: a label, its facts and its parts."""

    label: str
    ref: str | None = None
    nullable: bool = False
    description: str = ""
    facts: tuple[str, ...] = ()
    enum: tuple[str, ...] = ()
    properties: tuple[Field, ...] = ()
    items: Schema | None = None
    variant_kind: str = ""
    variants: tuple[Schema, ...] = ()
    values: Schema | None = None  # additionalProperties given as a schema
    expanded: bool = True  # False: a $ref left as a link (a cycle, or deeper than wanted)

    @property
    def has_parts(self) -> bool:
        """Whether there is anything nested to fold away below the label."""
        return bool(self.properties or self.variants or self.values
                    or (self.items is not None and self.items.has_parts))

    @property
    def has_detail(self) -> bool:
        """Whether it says more than its label: worth its own line under an array."""
        return bool(self.ref or self.facts or self.enum or self.description or self.has_parts)

    @property
    def parts_summary(self) -> str:
        """What the nested parts are, e.g. "3 fields" or "one of 5 shapes"."""
        parts = []
        if self.properties:
            parts.append(_count(len(self.properties), "field"))
        if self.variants:
            parts.append(f"{self.variant_kind} {_count(len(self.variants), 'shape')}")
        if self.items is not None and self.items.has_parts:
            parts.append(f"each item: {self.items.parts_summary}")
        if self.values is not None:
            parts.append(f"each value: {self.values.parts_summary or self.values.label}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Field:
    name: str
    required: bool
    schema: Schema


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str
    required: bool
    description: str
    schema: Schema


@dataclass(frozen=True)
class Content:
    media_type: str
    schema: Schema | None


@dataclass(frozen=True)
class Body:
    required: bool
    description: str
    content: tuple[Content, ...]


@dataclass(frozen=True)
class Response:
    status: str
    description: str
    content: tuple[Content, ...]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    anchor: str
    summary: str
    description: str
    public: bool
    parameters: tuple[Parameter, ...]
    body: Body | None
    responses: tuple[Response, ...]


@dataclass(frozen=True)
class Group:
    name: str
    anchor: str
    operations: tuple[Operation, ...]


@dataclass(frozen=True)
class SecurityScheme:
    name: str
    how: str  # what a client sends, e.g. "Authorization: Bearer <token>"
    description: str


@dataclass(frozen=True)
class Reference:
    title: str
    version: str
    description: str
    security: tuple[SecurityScheme, ...]
    groups: tuple[Group, ...]
    schemas: tuple[tuple[str, Schema], ...]


def anchor(*parts: str) -> str:
    """An HTML id made of the parts: letters, digits, `_` and `-` only."""
    return "-".join(re.sub(r"[^A-Za-z0-9_]+", "-", part).strip("-") for part in parts)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _range(low: Any, high: Any, unit: str) -> str | None:
    if low is not None and high is not None:
        return f"{low}–{high} {unit}" if low != high else f"exactly {low} {unit}"
    if low is not None:
        return f"at least {low} {unit}"
    if high is not None:
        return f"at most {high} {unit}"
    return None


def _facts(schema: Mapping[str, Any]) -> list[str]:
    facts = [fact for fact in (
        _range(schema.get("minLength"), schema.get("maxLength"), "characters"),
        _range(schema.get("minItems"), schema.get("maxItems"), "items"),
        _range(schema.get("minProperties"), schema.get("maxProperties"), "keys"),
    ) if fact]
    for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"),
                      ("exclusiveMaximum", "<"), ("multipleOf", "multiple of")):
        if key in schema:
            facts.append(f"{sign} {schema[key]}")
    if schema.get("uniqueItems"):
        facts.append("no duplicates")
    if "pattern" in schema:
        facts.append(f"matches {schema['pattern']}")
    if "format" in schema:
        facts.append(f"format: {schema['format']}")
    if "default" in schema:
        facts.append(f"default: {_value(schema['default'])}")
    if "discriminator" in schema:
        facts.append(f"chosen by its {schema['discriminator']['propertyName']!r} field")
    names = schema.get("propertyNames")
    if isinstance(names, Mapping) and "enum" in names:
        facts.append("keys: " + ", ".join(_value(name) for name in names["enum"]))
    if schema.get("additionalProperties") is False:
        facts.append("no other fields")
    if schema.get("readOnly"):
        facts.append("read-only")
    if schema.get("deprecated"):
        facts.append("deprecated")
    return facts


class _SchemaReader:
    """Turns JSON Schemas into `Schema` trees against one document's components."""

    def __init__(self, components: Mapping[str, Any], *, ref_depth: int | None,
                 once: bool = False) -> None:
        self.components = components
        # How many $refs deep to copy a component in; deeper ones stay links. None: all the
        # way down (a cycle still stops at the first repeat).
        self.ref_depth = ref_depth
        # once: copy each component in the first time only, then link to it.
        self.copied: set[str] | None = set() if once else None

    def read(self, schema: Mapping[str, Any] | bool, seen: tuple[str, ...] = ()) -> Schema:
        if schema is True or schema == {}:
            return Schema(label="any")
        if schema is False:
            return Schema(label="nothing")
        assert isinstance(schema, Mapping)
        if "$ref" in schema:
            return self._ref(schema, seen)
        for kind in ("anyOf", "oneOf", "allOf"):
            if kind in schema:
                return self._combined(schema, kind, seen)
        return self._plain(schema, seen)

    def _ref(self, schema: Mapping[str, Any], seen: tuple[str, ...]) -> Schema:
        name = str(schema["$ref"]).removeprefix(_REF_PREFIX)
        target = self.components.get(name)
        too_deep = self.ref_depth is not None and len(seen) >= self.ref_depth
        copied_before = self.copied is not None and name in self.copied
        if too_deep or copied_before or name in seen or target is None:
            return Schema(label=name, ref=name, description=schema.get("description", ""),
                          facts=tuple(_facts(schema)), expanded=False)
        if self.copied is not None:
            self.copied.add(name)
        read = self.read(target, (*seen, name))
        # A $ref may carry its own description or default (OpenAPI 3.1): those win.
        return replace(read, ref=name, description=schema.get("description", read.description),
                       facts=(*read.facts, *_facts(schema)))

    def _combined(self, schema: Mapping[str, Any], kind: str, seen: tuple[str, ...]) -> Schema:
        members = list(schema[kind])
        nullable = any(isinstance(m, Mapping) and m.get("type") == "null" for m in members)
        members = [m for m in members if not (isinstance(m, Mapping) and m.get("type") == "null")]
        rest = {key: value for key, value in schema.items() if key != kind}
        if len(members) == 1:
            # Pydantic's Optional[X] is anyOf [X, null]; a lone allOf wraps a $ref: both read
            # better as X itself, keeping the outer description, default and limits.
            inner = self.read({**members[0], **rest} if "$ref" not in members[0]
                              else members[0], seen)
            return replace(inner, nullable=nullable or inner.nullable,
                           description=rest.get("description", inner.description),
                           facts=(*inner.facts, *_facts(rest)) if "$ref" in members[0]
                           else inner.facts)
        words = {"anyOf": "any of", "oneOf": "one of", "allOf": "all of"}[kind]
        variants = tuple(self.read(member, seen) for member in members)
        return Schema(label=words, nullable=nullable, description=rest.get("description", ""),
                      facts=tuple(_facts(rest)), variant_kind=words, variants=variants)

    def _plain(self, schema: Mapping[str, Any], seen: tuple[str, ...]) -> Schema:
        types = schema.get("type")
        types = [types] if isinstance(types, str) else list(types or [])
        values = list(schema["enum"]) if "enum" in schema else (
            [schema["const"]] if "const" in schema else [])
        nullable = "null" in types or (None in values)
        types = [kind for kind in types if kind != "null"]
        values = [value for value in values if value is not None]
        if not types and values:
            types = sorted({_json_type(value) for value in values})
        if not types and ("properties" in schema or "additionalProperties" in schema):
            types = ["object"]
        properties = tuple(
            Field(name, name in schema.get("required", ()), self.read(sub, seen))
            for name, sub in schema.get("properties", {}).items())
        required_only = [name for name in schema.get("required", ())
                         if name not in schema.get("properties", {})]
        facts = _facts(schema)
        if required_only:
            facts.append("required keys: " + ", ".join(required_only))
        extra = schema.get("additionalProperties")
        items = schema.get("items")
        item_schema = self.read(items, seen) if isinstance(items, Mapping | bool) else None
        label = " or ".join(types) if types else "any"
        if types == ["array"] and item_schema is not None:
            label = f"array of {item_schema.ref or item_schema.label}"
        return Schema(
            label=label, nullable=nullable, description=schema.get("description", ""),
            facts=tuple(facts), enum=tuple(_value(value) for value in values),
            properties=properties, items=item_schema,
            values=self.read(extra, seen) if isinstance(extra, Mapping) else None)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "any")


def _content(content: Mapping[str, Any], reader: _SchemaReader) -> tuple[Content, ...]:
    return tuple(Content(media_type, reader.read(media["schema"]) if "schema" in media else None)
                 for media_type, media in content.items())


def _status_order(status: str) -> tuple[int, str]:
    return (int(status), "") if status.isdigit() else (1000, status)


def _group_name(path: str, operation: Mapping[str, Any]) -> str:
    if operation.get("tags"):
        return str(operation["tags"][0])
    parts = [part for part in path.split("/") if part]
    # /v1/jobs/{job_id} belongs to "jobs": skip a version segment, keep the resource.
    if len(parts) > 1 and re.fullmatch(r"v\d+", parts[0]):
        parts = parts[1:]
    return parts[0] if parts else "/"


def _security(document: Mapping[str, Any]) -> tuple[SecurityScheme, ...]:
    schemes = document.get("components", {}).get("securitySchemes", {})
    found = []
    for name, scheme in schemes.items():
        kind = scheme.get("type")
        if kind == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
            how = "Authorization: Bearer <API key>"
        elif kind == "http":
            how = f"Authorization: {str(scheme.get('scheme', '')).capitalize()} <credentials>"
        elif kind == "apiKey":
            how = f"{scheme.get('name')} ({scheme.get('in')}): <API key>"
        else:
            how = str(kind)
        found.append(SecurityScheme(name, how, scheme.get("description", "")))
    return tuple(found)


def _operation(path: str, method: str, item: Mapping[str, Any],
               components: Mapping[str, Any], *, needs_key_by_default: bool) -> Operation:
    operation = item[method]
    # A request body is what a client must build, so it is spelt out to the last field. A
    # response shows its own fields, once per operation, and links the schemas inside it: a
    # page of 30 operations that mostly answer Error or Job stays readable.
    inline = _SchemaReader(components, ref_depth=None)
    outline = _SchemaReader(components, ref_depth=1, once=True)
    # Operation parameters override path-item ones of the same name and location.
    parameters = {(p["name"], p["in"]): p
                  for p in (*item.get("parameters", []), *operation.get("parameters", []))}
    body = operation.get("requestBody")
    security = operation.get("security")
    responses = sorted(operation.get("responses", {}).items(),
                       key=lambda pair: _status_order(pair[0]))
    return Operation(
        method=method.upper(), path=path, anchor=anchor("op", method, path),
        summary=operation.get("summary", item.get("summary", "")),
        description=operation.get("description", item.get("description", "")),
        public=not security if security is not None else not needs_key_by_default,
        parameters=tuple(
            Parameter(p["name"], p["in"], bool(p.get("required")), p.get("description", ""),
                      inline.read(p.get("schema", {})))
            for p in parameters.values()),
        body=Body(bool(body.get("required")), body.get("description", ""),
                  _content(body.get("content", {}), inline)) if body else None,
        responses=tuple(Response(status, response.get("description", ""),
                                 _content(response.get("content", {}), outline))
                        for status, response in responses),
    )


def build_reference(document: Mapping[str, Any]) -> Reference:
    """Reshape an OpenAPI 3.1 document for the reference page."""
    components = document.get("components", {}).get("schemas", {})
    needs_key_by_default = bool(document.get("security"))
    groups: dict[str, list[Operation]] = {}
    for path, item in document.get("paths", {}).items():
        for method in (key for key in item if key in _METHODS):
            groups.setdefault(_group_name(path, item[method]), []).append(
                _operation(path, method, item, components,
                           needs_key_by_default=needs_key_by_default))
    listed = _SchemaReader(components, ref_depth=0)
    info = document.get("info", {})
    return Reference(
        title=info.get("title", "API"), version=str(info.get("version", "")),
        description=info.get("description", ""), security=_security(document),
        groups=tuple(Group(name, anchor("group", name), tuple(operations))
                     for name, operations in groups.items()),
        schemas=tuple((name, listed.read(schema)) for name, schema in sorted(components.items())),
    )
