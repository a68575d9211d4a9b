"""Logging: one configuration for every process; job and stage ride along in context."""

from __future__ import annotations

import contextvars
import json
import logging
import logging.config
import time
from collections.abc import Iterator
from contextlib import contextmanager

_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
_stage: contextvars.ContextVar[str | None] = contextvars.ContextVar("stage", default=None)


@contextmanager
def job_context(job_id: str, stage: str | None = None) -> Iterator[None]:
    """Every log line inside carries job_id and stage."""
    job_token = _job_id.set(job_id)
    stage_token = _stage.set(stage)
    try:
        yield
    finally:
        _stage.reset(stage_token)
        _job_id.reset(job_token)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = _job_id.get()
        record.stage = _stage.get()
        record.context = (f" [{record.job_id}{'/' + record.stage if record.stage else ''}]"
                          if record.job_id else "")
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with job, stage and any `extra` fields."""

    _SKIP = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"context",
                                                                             "message"}

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update({k: v for k, v in record.__dict__.items()
                     if k not in self._SKIP and v is not None})
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", json_lines: bool = False) -> None:
    """Log to stderr, as text or JSON lines."""
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": _ContextFilter}},
        "formatters": {
            "text": {"format": "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"},
            "json": {"()": JsonFormatter},
        },
        "handlers": {"stderr": {"class": "logging.StreamHandler", "filters": ["context"],
                                "formatter": "json" if json_lines else "text"}},
        "root": {"level": level, "handlers": ["stderr"]},
    })
