"""From domain events to sockets.

``on_event`` is subscribed to ``apps.core.events`` in ``RealtimeConfig.ready`` and is called
inside the publisher's transaction. It only schedules: the frame goes to the channel layer
after the transaction commits (``transaction.on_commit``), so a rolled-back change is never
announced. Delivery is best effort: a channel layer that is down or slow (bounded by
REALTIME_PUBLISH_TIMEOUT) is logged and the publisher carries on. With channels_redis the
groups span every server process.

Routing (groups of the notifications socket):

* ``concern.*``      → ``notifications.staff`` and ``notifications.user.<submitted_by>``
* ``chat.escalated`` → ``notifications.staff``
* anything else      → ``notifications.admin`` (administrators receive every event)
* ``investigation.*`` with an ``investigation_id`` → also ``investigation.<id>`` as an
  ``investigation_update`` frame on the seed 002 chat socket.

Staff and administrators hold ``concerns.view_all`` and sit in ``notifications.staff``;
administrators also sit in ``notifications.admin``. Every socket also sits in its user
group; the event id lets a socket drop the second copy of an event it got twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import Future
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import transaction

from apps.realtime import frames

logger = logging.getLogger("apps.realtime")

STAFF_EVENTS = frozenset({"concern.created", "concern.updated", "chat.escalated"})

Send = tuple[str, dict[str, Any]]  # (group, channel-layer message)


def routes(event: str, data: dict[str, Any]) -> list[str]:
    """The notification groups an event goes to."""
    if event.startswith("concern."):
        groups = [frames.STAFF_GROUP]
        if data.get("submitted_by"):
            groups.append(frames.user_group(data["submitted_by"]))
        return groups
    if event in STAFF_EVENTS:
        return [frames.STAFF_GROUP]
    return [frames.ADMIN_GROUP]


def event_message(event: str, data: dict[str, Any]) -> dict[str, Any]:
    """The channel-layer message of a notification: the frame serialised once for all
    recipients, and its id for de-duplication."""
    frame = frames.envelope(event, data)
    return {"type": "realtime.event", "id": frame["id"], "event": event, "text": frames.dumps(frame)}


def investigation_message(investigation_id: str, data: dict[str, Any]) -> dict[str, Any]:
    frame = frames.envelope("investigation_update", {"investigation_id": investigation_id, **data})
    return {
        "type": "investigation.update",
        "investigation_id": investigation_id,
        "id": frame["id"],
        "timestamp": frame["timestamp"],
        "data": frame["data"],
    }


def on_event(event: str, data: dict[str, Any]) -> None:
    """Subscriber of apps.core.events: schedule the frames for after the commit."""
    try:
        sends: list[Send] = []
        message = event_message(event, data)  # serialised now: the publisher may reuse `data`
        sends += [(group, message) for group in routes(event, data)]
        investigation_id = data.get("investigation_id")
        if event.startswith("investigation.") and investigation_id is not None:
            progress = {key: value for key, value in data.items() if key != "investigation_id"}
            progress.setdefault("event", event)
            if event == "investigation.completed":
                progress.setdefault("status", "completed")
            sends.append(_investigation_send(str(investigation_id), progress))
    except Exception as exc:  # never break the publisher's transaction
        logger.warning("Real-time frame for %s could not be built: %s", event, type(exc).__name__)
        return
    sends = [send for send in sends if send[0]]
    if sends:
        transaction.on_commit(partial(deliver, event, sends), robust=True)


def investigation_update_send(investigation_id: str, data: dict[str, Any]) -> None:
    """Progress of an investigation for the sockets that subscribed to it (seed 002
    ``investigation_update``), e.g. ``{"status": "processing", "progress": 0.75,
    "current_phase": "analyzing_patterns", "anomalies_detected": 12}``. Sent after the
    current transaction commits (at once outside one)."""
    send = _investigation_send(str(investigation_id), data)
    if send[0]:
        transaction.on_commit(partial(deliver, "investigation_update", [send]), robust=True)


def _investigation_send(investigation_id: str, data: dict[str, Any]) -> Send:
    if not frames.INVESTIGATION_ID.match(investigation_id):
        logger.warning("Investigation update with an unusable id dropped")
        return "", {}
    return frames.investigation_group(investigation_id), investigation_message(investigation_id, data)


def deliver(event: str, sends: list[Send]) -> None:
    """Hand the frames to the channel layer; log (never raise) when it cannot take them."""
    layer = get_channel_layer()
    if layer is None:
        return
    timeout = float(getattr(settings, "REALTIME_PUBLISH_TIMEOUT", 2))

    async def send_all() -> None:
        await asyncio.wait_for(
            asyncio.gather(*(layer.group_send(group, message) for group, message in sends)), timeout=timeout
        )

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:
        # Called on an event loop's own thread (async code publishing directly): no
        # blocking there, the frames go out as a task.
        task = loop.create_task(send_all())
        task.add_done_callback(partial(_log_failure, event))
        return
    try:
        if isinstance(layer, InMemoryChannelLayer):
            # One process, queues bound to the consumers' loop: async_to_sync runs there.
            async_to_sync(send_all)()
        else:
            _publisher_loop().submit(send_all()).result(timeout + 1)
    except Exception as exc:
        _warn(event, exc)


class _PublisherLoop:
    """An event loop on a daemon thread for publishers in sync code (gunicorn workers, Celery
    tasks). async_to_sync there made a new loop per event, and with it a new Redis connection
    of the channel layer (a few ms per chat message); this loop keeps its connections."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="realtime-publisher", daemon=True)
        self.thread.start()

    def submit(self, coroutine: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)


_publisher: _PublisherLoop | None = None
_publisher_lock = threading.Lock()


def _publisher_loop() -> _PublisherLoop:
    global _publisher
    with _publisher_lock:
        # A forked child has no such thread; a thread that died must not take publishing with it.
        if _publisher is None or _publisher.pid != os.getpid() or not _publisher.thread.is_alive():
            _publisher = _PublisherLoop()
        return _publisher


def _log_failure(event: str, task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _warn(event, task.exception())


def _warn(event: str, exc: BaseException | None) -> None:
    logger.warning(
        "Real-time delivery of %s failed (%s); sockets miss this event", event, type(exc).__name__ if exc else "?"
    )
