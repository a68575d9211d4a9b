"""One error shape for every answer that is not a success."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from store.db import DatabaseUnavailable

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An answer to give the client: status, stable code, a message that says what to fix."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


def error_body(code: str, message: str, field: str | None = None) -> dict[str, object]:
    """The JSON envelope of an error."""
    error: dict[str, object] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error}


_HTTP_CODES = {
    400: ("bad_request", "the request is malformed"),
    401: ("unauthorized", "send `Authorization: Bearer <api key>`"),
    404: ("not_found", "no such resource"),
    405: ("method_not_allowed", "this route does not accept that method"),
    413: ("payload_too_large", "the request body is too large"),
    415: ("unsupported_media_type", "send a JSON body with Content-Type: application/json"),
    416: ("range_not_satisfiable", "the requested byte range is outside the file"),
}


def _handle_api_error(error: ApiError) -> ResponseReturnValue:
    return (jsonify(error_body(error.code, error.message, error.field)), error.status,
            error.headers)


def _handle_http_exception(error: HTTPException) -> ResponseReturnValue:
    status = error.code or 500
    code, message = _HTTP_CODES.get(status, ("http_error", error.description or "error"))
    if status == 413:
        message = "the request body is larger than this server accepts"
    response = jsonify(error_body(code, message))
    response.status_code = status
    # Keep the headers the status needs: Allow on 405, Content-Range on 416.
    for header in ("Allow", "Content-Range"):
        value = error.get_response().headers.get(header)
        if value:
            response.headers[header] = value
    return response


def _handle_database_unavailable(error: DatabaseUnavailable) -> ResponseReturnValue:
    log.warning("database unavailable: %s", error)
    return jsonify(error_body("database_unavailable",
                              "the database is unreachable; retry in a moment")), 503


def _handle_sqlalchemy_operational(error: OperationalError) -> ResponseReturnValue:
    return _handle_database_unavailable(DatabaseUnavailable(str(error.orig or error)))


def _handle_redis_unavailable(error: RedisError) -> ResponseReturnValue:
    log.warning("redis unavailable: %s", error)
    return jsonify(error_body("broker_unavailable",
                              "the job queue is unreachable; retry in a moment")), 503


def _handle_unexpected(error: Exception) -> ResponseReturnValue:
    log.exception("unhandled error")
    return jsonify(error_body("internal", "something went wrong on our side")), 500


def init_app(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(DatabaseUnavailable, _handle_database_unavailable)
    app.register_error_handler(OperationalError, _handle_sqlalchemy_operational)
    app.register_error_handler(RedisConnectionError, _handle_redis_unavailable)
    app.register_error_handler(RedisTimeoutError, _handle_redis_unavailable)
    app.register_error_handler(Exception, _handle_unexpected)
