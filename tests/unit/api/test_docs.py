"""GET /docs: a public, self-contained HTML reference that covers the whole OpenAPI document."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient

from api.docs import prose
from api.openapi import openapi_document
from api.reference import anchor

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}
_EXTERNAL = re.compile(r"(?:https?|wss?|ftp):|(?:^|[\"'(=\s])//[a-z0-9]", re.IGNORECASE)
_JS_TYPES = {"text/javascript", "application/javascript"}


class Page(HTMLParser):
    """The parts of an HTML page these tests look at: tags, scripts and each id's text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.text_by_id: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []
        self._in_script = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        element_id = attributes.get("id")
        if element_id is not None:
            assert element_id not in self.text_by_id, f"duplicate id {element_id}"
            self.text_by_id[element_id] = ""
        if tag == "script":
            self._in_script = True
            self.scripts.append("")
        if tag not in _VOID:
            self._open.append((tag, element_id))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data
        for _tag, element_id in self._open:
            if element_id is not None:
                self.text_by_id[element_id] += data

    def text(self, element_id: str) -> str:
        """The whitespace-normalised text inside the element with this id."""
        return " ".join(self.text_by_id[element_id].split())

    def attribute_values(self, *names: str) -> list[str]:
        return [value for _tag, attrs in self.tags for name, value in attrs.items()
                if name in names and value is not None]


def _as_read(description: str) -> str:
    """A description as the page's text shows it: `code` marks gone, whitespace collapsed."""
    return " ".join(description.replace("`", "").split())


@pytest.fixture
def page(client: FlaskClient) -> Page:
    """The reference page as fetched without any credentials."""
    response = client.get("/docs")
    assert response.status_code == 200
    return Page(response.get_data(as_text=True))


def _assets(client: FlaskClient, page: Page) -> dict[str, tuple[str, str]]:
    """Each script and stylesheet the page loads: path -> (content type, text)."""
    paths = [attrs["src"] for tag, attrs in page.tags if tag == "script" and attrs.get("src")]
    paths += [attrs["href"] for tag, attrs in page.tags
              if tag == "link" and "stylesheet" in (attrs.get("rel") or "")]
    assets = {}
    for path in paths:
        with client.get(path) as response:  # a static file: close it
            assert response.status_code == 200, path
            assets[path] = (response.mimetype, response.get_data(as_text=True))
    return assets


def test_page_is_public_html_with_a_strict_content_security_policy(client: FlaskClient) -> None:
    """/docs answers 200 text/html without a key, with a CSP that allows only our own files."""
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    policy = {directive.split()[0]: directive.split()[1:]
              for directive in response.headers["Content-Security-Policy"].split(";")}
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_trailing_slash_redirects_to_the_page(client: FlaskClient) -> None:
    """/docs/ sends the browser to /docs, which then answers the page."""
    response = client.get("/docs/")
    assert response.status_code == 308
    assert response.headers["Location"] == "/docs"
    assert client.get("/docs/", follow_redirects=True).status_code == 200


def test_page_is_structured_for_reading_and_assistive_technology(page: Page) -> None:
    """The page has a language, a phone-width viewport, one h1, a <main>, labelled filter box
    that stays hidden until its script shows it."""
    tags = [tag for tag, _attrs in page.tags]
    html_attrs = next(attrs for tag, attrs in page.tags if tag == "html")
    assert html_attrs.get("lang") == "en"
    assert tags.count("h1") == 1 and tags.count("main") == 1 and "nav" in tags
    viewport = next(attrs for tag, attrs in page.tags
                    if tag == "meta" and attrs.get("name") == "viewport")
    assert "width=device-width" in (viewport["content"] or "")
    box = next(attrs for tag, attrs in page.tags if attrs.get("id") == "filter-box")
    assert "hidden" in box
    labels = {attrs.get("for") for tag, attrs in page.tags if tag == "label"}
    assert "filter" in labels


def test_every_script_and_stylesheet_is_served_by_the_app(client: FlaskClient,
                                                          page: Page) -> None:
    """The page's script and stylesheet come from the app with their content types and the
    same CSP, and every other same-site link it makes answers 200."""
    types = [kind for kind, _text in _assets(client, page).values()]
    assert len(types) == 2 and "text/css" in types and set(types) & _JS_TYPES
    for path in page.attribute_values("href", "src"):
        if path.startswith("/"):
            with client.get(path) as response:
                assert response.status_code == 200, path
                if path.startswith("/docs/"):
                    assert "Content-Security-Policy" in response.headers, path


def test_nothing_is_loaded_from_another_origin(client: FlaskClient, page: Page) -> None:
    """No URL of another site appears in the page or its assets; every link is on this app."""
    response = client.get("/docs")
    texts = {"/docs": response.get_data(as_text=True),
             **{path: text for path, (_kind, text) in _assets(client, page).items()}}
    for path, text in texts.items():
        assert not _EXTERNAL.search(text), (path, _EXTERNAL.search(text))
    for value in page.attribute_values("href", "src", "action", "srcset", "poster", "data"):
        assert value.startswith("#") or (value.startswith("/") and not value.startswith("//")), \
            value
    css = next(text for kind, text in _assets(client, page).values() if kind == "text/css")
    assert "@import" not in css and "url(" not in css


def test_no_inline_script_or_style(page: Page) -> None:
    """Every script is an external file, and no element carries a style or event attribute."""
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert scripts and all(attrs.get("src") for attrs in scripts)
    assert all(not text.strip() for text in page.scripts)
    assert "style" not in {tag for tag, _attrs in page.tags}
    for tag, attrs in page.tags:
        assert "style" not in attrs, tag
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
    assert not any(value.lower().startswith("javascript:")
                   for value in page.attribute_values("href", "src"))


def test_every_operation_with_its_parameters_body_and_responses_is_on_the_page(
        page: Page) -> None:
    """Each path and method of openapi_document() has its section, naming the method and
    path, with each parameter, the request body's content types and every response status."""
    paths = openapi_document()["paths"]
    assert paths
    for path, item in paths.items():
        for method, operation in item.items():
            op = anchor("op", method, path)
            heading = page.text(f"{op}-title")
            assert heading == f"{method.upper()} {path}"
            assert _as_read(operation["summary"]) in page.text(op)
            for parameter in operation.get("parameters", []):
                param = anchor(op, "param", parameter["in"], parameter["name"])
                assert parameter["name"] in page.text(param)
            if "requestBody" in operation:
                for media_type in operation["requestBody"]["content"]:
                    assert media_type in page.text(anchor(op, "body"))
            for status, response in operation["responses"].items():
                text = page.text(anchor(op, status))
                assert text.startswith(f"{status} {_as_read(response['description'])}")


def test_request_body_spells_out_nested_fields_with_enums_and_limits(page: Page) -> None:
    """POST /v1/jobs's body lists the source shapes' fields, an enum's values and a limit."""
    body = page.text(anchor("op", "post", "/v1/jobs", "body"))
    assert "one of 5 shapes" in body
    for shape in ("IdeaSourceIn", "ScriptSourceIn", "ProductSourceIn", "ClipSourceIn"):
        assert shape in body
    assert "upload_id" in body  # source.media[].upload_id: two $refs down
    assert '"draft", "standard", "high"' in body  # quality's enum
    assert "1–40 characters" in body  # profile_id's length


def test_every_component_schema_is_listed_with_its_fields(page: Page) -> None:
    """Each component schema has its own section naming each of its properties."""
    schemas = openapi_document()["components"]["schemas"]
    for name, schema in schemas.items():
        text = page.text(anchor("schema", name))
        assert text.startswith(name)
        for field in schema.get("properties", {}):
            assert field in text, (name, field)


def test_authentication_and_public_operations_are_explained(page: Page) -> None:
    """The page says how to send the key, and marks the operations that need none."""
    assert "Authorization: Bearer <API key>" in page.text("authentication")
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            text = page.text(anchor("op", method, path))
            if operation.get("security") == []:
                assert "no key needed" in text, path
            else:
                assert "API key" in text and "no key needed" not in text, path


def test_prose_escapes_markup_and_shows_backticks_as_code() -> None:
    """Descriptions cannot inject HTML, and `code` in them is shown as code."""
    assert str(prose("<b>bold</b> `x < y`")) == "&lt;b&gt;bold&lt;/b&gt; <code>x &lt; y</code>"
