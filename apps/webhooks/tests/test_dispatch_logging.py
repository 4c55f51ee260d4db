"""A broker outage after commit is logged in one line: the error's type, no traceback
(LOG_TRACEBACKS turns tracebacks on)."""

from __future__ import annotations

import logging
import uuid

import pytest

from apps.webhooks import dispatch, tasks


def broken(*args: object, **kwargs: object) -> None:
    raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


@pytest.fixture
def dead_broker(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.WEBHOOK_DISPATCH = "celery"
    monkeypatch.setattr(tasks.deliver_webhook, "delay", broken)
    monkeypatch.setattr(tasks.deliver_webhook, "apply_async", broken)


@pytest.mark.parametrize("send", ["enqueue", "enqueue_later"])
def test_a_dead_broker_is_one_warning_without_a_traceback(dead_broker, caplog, send):
    with caplog.at_level(logging.WARNING, logger="apps.webhooks.dispatch"):
        if send == "enqueue":
            dispatch.enqueue([uuid.uuid4(), uuid.uuid4()])
        else:
            dispatch.enqueue_later([uuid.uuid4()], 5)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "ConnectionError" in record.getMessage()
    assert "left to the sweep" in record.getMessage()
    assert not record.exc_info


def test_tracebacks_when_asked_for(dead_broker, caplog, settings):
    settings.LOG_TRACEBACKS = True
    with caplog.at_level(logging.WARNING, logger="apps.webhooks.dispatch"):
        dispatch.enqueue([uuid.uuid4()])
    [record] = caplog.records
    assert record.exc_info
