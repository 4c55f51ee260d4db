"""JSON log lines, each carrying the id of the request that produced it."""

from __future__ import annotations

import json
import logging
import time
from itertools import islice

from apps.core.context import current_request_id

_STANDARD = tuple(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)
_STANDARD_ATTRS = frozenset(_STANDARD) | {"message", "asctime", "request_id"}
# One encoder for every line: json.dumps(default=...) builds a new one per call.
_encode = json.JSONEncoder(default=str).encode

# Neither format shows where a call was made: without this, logging walks the caller's stack
# for every record (the "Optimization" section of the logging HOWTO), about a fifth of the cost
# of the access-log line each request writes at INFO.
logging._srcfile = None
# (logging.logProcesses and logThreads stay on: they are global, and gunicorn's own lines
# are formatted with %(process)d.)

_second: tuple[int, str] = (-1, "")


def utc_timestamp(created: float) -> str:
    """ISO 8601 UTC, always with microseconds (as isoformat(timespec="microseconds") writes
    it), the date and time of day made once per second."""
    global _second
    whole = int(created)
    micros = round((created - whole) * 1_000_000)
    if micros == 1_000_000:
        whole, micros = whole + 1, 0
    second = _second  # read once: another thread may move it on meanwhile
    if second[0] != whole:
        second = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{second[1]}.{micros:06d}Z"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "timestamp": utc_timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", current_request_id()),
        }
        fields = record.__dict__
        # A record's own attributes come first, in the order LogRecord sets them; what the
        # call passed in ``extra`` follows, so the loop can start after them.
        start = len(_STANDARD) if tuple(islice(fields, len(_STANDARD))) == _STANDARD else 0
        for key, value in islice(fields.items(), start, None):
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encode(entry)
