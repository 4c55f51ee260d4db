"""JSON log lines, each carrying the id of the request that produced it."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from itertools import islice

import orjson

from apps.core.clock import utc_timestamp
from apps.core.context import current_request_id

_STANDARD = tuple(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)
_STANDARD_ATTRS = frozenset(_STANDARD) | {"message", "asctime", "request_id"}
# For what orjson refuses (a key that is not a string, an integer over 64 bits).
_encode_stdlib = json.JSONEncoder(default=str).encode


# What Unicode and str.splitlines() count as line breaks besides \n and \r (which JSON
# escapes anyway): escaped, so that a request path cannot split a line for such a reader.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _encode(entry: dict[str, object]) -> str:
    """One line of JSON, UTF-8 as it is (not \\u-escaped) but for line breaks; values JSON
    has no form for written as text. By orjson: the access log writes a line for every
    request, and the standard encoder took about half of the formatting's time."""
    try:
        line = orjson.dumps(entry, default=str).decode()
    except orjson.JSONEncodeError:
        return _encode_stdlib(entry)
    return line if line.isascii() else line.translate(_LINE_BREAKS)


# Neither format shows where a call was made: without this, logging walks the caller's stack
# for every record (the "Optimization" section of the logging HOWTO), about a fifth of the cost
# of the access-log line each request writes at INFO.
logging._srcfile = None
# (logging.logProcesses and logThreads stay on: they are global, and gunicorn's own lines
# are formatted with %(process)d.)

# Per thread, what LogRecord's constructor finds out about the caller each time (thread and
# process, names, the empty source location): see access_record. A thread's own, so a new
# thread that reuses a finished one's ident does not take its name; made anew in a child
# process, whose pid differs.
_record_base = threading.local()


def _forget_record_bases() -> None:
    global _record_base
    _record_base = threading.local()


os.register_at_fork(after_in_child=_forget_record_bases)


def access_record(logger: logging.Logger, message: str, fields: dict[str, object]) -> logging.LogRecord:
    """The INFO record ``logger.info(message, extra=fields)`` makes, for ``logger.handle()``.

    The access log writes one for every request, and LogRecord's constructor (thread and
    process lookups, file name and module of an unknown caller) was about a third of the
    line's cost. Here those come from a record made once per thread, and only the time,
    the message and the fields are new. (A record factory set with setLogRecordFactory is
    not asked, and a thread renamed after its first line keeps its first name; nothing here
    does either.)"""
    base = getattr(_record_base, "entries", None)
    if base is None:
        # As Logger._log makes it when it does not look for the caller (_srcfile is None).
        made = logging.LogRecord(logger.name, logging.INFO, "(unknown file)", 0, "", (), None, "(unknown function)")
        base = _record_base.entries = dict(made.__dict__)
    record = logging.LogRecord.__new__(logging.LogRecord)
    entries = record.__dict__
    entries.update(base)  # LogRecord's own attributes first, in its order, as JsonFormatter expects
    entries["name"], entries["msg"] = logger.name, message
    start = logging._startTime  # type: ignore[attr-defined]
    if isinstance(start, int):  # Python 3.13 and later count in nanoseconds
        created_ns = time.time_ns()
        entries["created"] = created_ns / 1e9
        entries["msecs"] = (created_ns % 1_000_000_000) // 1_000_000 + 0.0
        entries["relativeCreated"] = (created_ns - start) / 1e6
    else:
        created = entries["created"] = time.time()
        entries["msecs"] = int((created - int(created)) * 1000) + 0.0
        entries["relativeCreated"] = (created - start) * 1000
    entries.update(fields)
    return record


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
