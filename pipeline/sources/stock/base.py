"""The HTTP side both stock providers share: one GET, and its failures sorted into codes.

A provider's key goes in this one request to its own base URL and nowhere else: redirects
are not followed, the environment's proxies are not used (by the client built here), and
every text that could reach a message has the key taken out first.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, quote_plus, urlsplit

import httpx

from pipeline.sources.stock.types import StockError

_SNIPPET = 200


def open_api_client(timeout: float) -> httpx.Client:
    """A client for one provider's searches; its owner closes it."""
    # trust_env=False: a proxy from the environment would see a key sent in the query
    # string (Pixabay's). A deployment that needs a proxy passes its own client.
    return httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)


class HttpProvider:
    """What both providers share: their HTTP client, closed by them when they made it."""

    def __init__(self, client: httpx.Client | None, timeout: float) -> None:
        self._owns_client = client is None
        self._client = client if client is not None else open_api_client(timeout)
        self._timeout = timeout

    def close(self) -> None:
        """Close the HTTP client if this provider made it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def get_json(client: httpx.Client, url: str, *, params: dict[str, str], headers: dict[str, str],
             label: str, secret: str, timeout: float) -> dict[str, Any]:
    """GET `url` and return its JSON object, or raise StockError naming what went wrong."""
    host = urlsplit(url).netloc
    try:
        response = client.get(url, params=params, headers=headers, timeout=timeout,
                              follow_redirects=False)
    except httpx.TimeoutException:
        raise StockError("stock_unavailable",
                         f"{label} did not answer within {timeout:g} s ({host})") from None
    except httpx.HTTPError as error:
        # The exception's text may quote the request URL, and with it a key in the query.
        detail = redact(str(error) or type(error).__name__, secret)
        raise StockError("stock_unavailable",
                         f"{label} could not be reached at {host} ({detail})") from None
    status = response.status_code
    if status == 200:
        return _json_object(response, label)
    text = redact(" ".join(response.text.split())[:_SNIPPET], secret)
    if status in (401, 403) or (status == 400 and "api key" in text.lower()):
        # Pixabay answers a bad key with 400 "[ERROR 400] Invalid or missing API key".
        raise StockError("stock_unauthorized",
                         f"{label} refused the API key (HTTP {status}): check the {label} key")
    if status == 429:
        raise StockError("stock_rate_limited",
                         f"{label} is rate-limiting this key (HTTP 429): try again later")
    if status >= 500:
        raise StockError("stock_unavailable", f"{label} answered HTTP {status} ({host})")
    if 300 <= status < 400:
        raise StockError("stock_bad_response",
                         f"{label} answered a redirect (HTTP {status}), which is not followed")
    raise StockError("stock_rejected", f"{label} rejected the search (HTTP {status}): {text}")


def redact(text: str, secret: str) -> str:
    """`text` with every spelling of `secret` a URL could carry replaced by [key]."""
    if not secret:
        return text
    for spelling in {secret, quote(secret, safe=""), quote_plus(secret)}:
        text = text.replace(spelling, "[key]")
    return text


def _json_object(response: httpx.Response, label: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise StockError("stock_bad_response", f"{label} answered something that is not JSON"
                         ) from None
    if not isinstance(data, dict):
        raise StockError("stock_bad_response", f"{label} answered JSON that is not an object")
    return data


def fit_within(width: int, height: int, box_width: int, box_height: int) -> tuple[int, int]:
    """The size of a width × height picture scaled down (never up) to fit the box."""
    if width <= 0 or height <= 0:
        return (0, 0)
    scale = min(box_width / width, box_height / height, 1.0)
    return (round(width * scale), round(height * scale))


def as_int(value: object) -> int:
    """An API number as an int; 0 for anything else (null, text, a bool)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return 0


def as_str(value: object) -> str:
    """An API string, or "" for null and non-strings (ids come as numbers: str() them)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def as_dict(value: object) -> dict[str, Any]:
    """An API object, or {} when the field is missing or of another type."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """An API array, or [] when the field is missing or of another type."""
    return value if isinstance(value, list) else []
