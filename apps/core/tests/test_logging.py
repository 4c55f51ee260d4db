"""JSON log lines (apps/core/logging.py): what ``extra`` carries, in order, and nothing else."""

from __future__ import annotations

import json
import logging
import os
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from apps.core.clock import utc_timestamp
from apps.core.logging import JsonFormatter, RequestIdFilter, access_record


def _line(record: logging.LogRecord) -> dict[str, object]:
    RequestIdFilter().filter(record)
    return json.loads(JsonFormatter().format(record))


def test_extra_fields_follow_the_standard_ones_in_the_order_given() -> None:
    logger = logging.getLogger("apps.test")
    extra = {"method": "GET", "path": "/api/v1/x", "status": 200, "duration_ms": 1.5, "user_id": None}
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 7, "GET %s", ("/api/v1/x",), None, extra=extra)
    line = _line(record)
    assert list(line) == ["timestamp", "level", "logger", "message", "request_id", *extra]
    assert {key: line[key] for key in extra} == extra
    assert line["message"] == "GET /api/v1/x"
    assert str(line["timestamp"]).endswith("Z")


def test_no_attribute_of_the_record_itself_is_written() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "plain", (), None)
    assert set(_line(record)) == {"timestamp", "level", "logger", "message", "request_id"}


def test_an_attribute_added_outside_extra_is_written_too() -> None:
    """A record whose attributes are not in LogRecord's own order (set by hand, or by a
    record factory) is read whole."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    fields = dict(record.__dict__)
    record.__dict__.clear()
    record.__dict__.update({"custom": "first", **fields})
    record._private = "hidden"
    line = _line(record)
    assert line["custom"] == "first"
    assert "_private" not in line


def test_values_json_cannot_encode_are_written_as_text() -> None:
    key = uuid.uuid4()
    logger = logging.getLogger("apps.test")
    record = logger.makeRecord(
        logger.name, logging.INFO, __file__, 1, "m", (), None, extra={"id": key, "n": Decimal("1.5")}
    )
    line = _line(record)
    assert (line["id"], line["n"]) == (str(key), "1.5")


def test_timestamps_are_written_as_datetime_writes_them() -> None:
    """Microseconds always, rounded as datetime rounds them, across second boundaries and
    when the rounding carries into the next second."""
    moments = [1_764_812_345 + i / 7 for i in range(50)] + [1_764_812_345.9999996, 1_764_812_346.0, 0.5]
    for created in moments:
        moment = datetime.fromtimestamp(created, UTC)
        for timespec in ("microseconds", "milliseconds"):
            expected = moment.isoformat(timespec=timespec).replace("+00:00", "Z")
            assert utc_timestamp(created, milliseconds=timespec == "milliseconds") == expected, created


def test_records_still_carry_the_process_and_thread_other_formats_show() -> None:
    """gunicorn formats its own lines with %(process)d: this module must not switch the
    lookups off for everyone."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    assert logging.Formatter("[%(process)d] %(threadName)s %(message)s").format(record).startswith(f"[{os.getpid()}] ")


def test_what_orjson_refuses_is_written_by_the_standard_encoder() -> None:
    logger = logging.getLogger("apps.test")
    record = logger.makeRecord(
        logger.name, logging.INFO, __file__, 1, "m", (), None, extra={"counts": {1: "a"}, "big": 2**70}
    )
    line = _line(record)
    assert (line["counts"], line["big"]) == ({"1": "a"}, 2**70)


def test_text_outside_ascii_is_written_as_it_is() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "Straße %s", ("é",), None)
    RequestIdFilter().filter(record)
    assert '"message":"Straße é"' in JsonFormatter().format(record)


def _record_info_makes(logger: logging.Logger, message: str, fields: dict[str, object]) -> logging.LogRecord:
    caught: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            caught.append(record)

    handler, propagate, level = Catch(), logger.propagate, logger.level
    logger.addHandler(handler)
    logger.propagate, logger.level = False, logging.INFO
    try:
        logger.info(message, extra=fields)
    finally:
        logger.removeHandler(handler)
        logger.propagate, logger.level = propagate, level
    return caught[0]


def test_an_access_record_is_the_record_info_makes() -> None:
    """The same line, and the same fields for any other format, as logger.info(extra=...)."""
    logger = logging.getLogger("apps.access")
    fields = {"method": "GET", "path": "/api/v1/x%s", "status": 200, "duration_ms": 1.5, "user_id": None}
    made = _record_info_makes(logger, "GET /api/v1/x%s 200", fields)
    ours = access_record(logger, "GET /api/v1/x%s 200", fields)
    assert ours.created - made.created < 1
    ours.created = made.created  # made a moment apart
    assert ours.__dict__.keys() == made.__dict__.keys()
    everything = " ".join(f"%({key})s" for key in made.__dict__ if key not in ("relativeCreated", "msecs"))
    assert logging.Formatter(everything).format(ours) == logging.Formatter(everything).format(made)
    assert ours.funcName == "(unknown function)"
    assert _line(ours) == _line(made)


def test_an_access_record_counts_time_as_the_running_python_does(monkeypatch) -> None:
    """Python 3.13 keeps logging's start time in nanoseconds."""
    import time

    monkeypatch.setattr(logging, "_startTime", time.time_ns() - 5_000_000_000)
    record = access_record(logging.getLogger("a"), "m", {})
    assert 4_900 < record.relativeCreated < 60_000
    assert 0 <= record.msecs < 1000


def test_line_breaks_outside_ascii_are_escaped() -> None:
    """A request path may carry U+2028, U+2029 or NEL: str.splitlines() must not split the line."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "GET /a\u2028b\u2029c\x85d é", (), None)
    RequestIdFilter().filter(record)
    line = JsonFormatter().format(record)
    assert len(line.splitlines()) == 1
    assert json.loads(line)["message"] == "GET /a\u2028b\u2029c\x85d é"


def test_an_access_record_names_the_thread_that_made_it() -> None:
    import threading

    names: list[str] = []
    worker = threading.Thread(target=lambda: names.append(access_record(logging.getLogger("a"), "m", {}).threadName))
    worker.name = "request-thread"
    worker.start()
    worker.join()
    assert names == ["request-thread"]
    assert access_record(logging.getLogger("a"), "m", {}).threadName == threading.current_thread().name


def test_an_access_record_made_after_a_fork_carries_the_childs_pid() -> None:
    access_record(logging.getLogger("a"), "m", {})  # this thread's template, with this pid
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, str(access_record(logging.getLogger("a"), "m", {}).process).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    assert int(os.read(read, 64)) == child
    os.close(read)
