"""How deliveries get sent after commit.

* ``celery`` (a broker is configured): one task per delivery; Celery beat runs the sweep
  every WEBHOOK_SWEEP_SECONDS, which sends due retries and re-queues anything a lost task
  or broker outage left behind.
* ``thread`` (the embedded default, no broker): a daemon thread in the web process sends
  queued deliveries and runs the same sweep every WEBHOOK_SWEEP_SECONDS, so retries still
  happen without Celery. The thread starts with the server (asgi.py, wsgi.py) or on first use.
* ``inline``: send in the caller's thread at once (tests); retries need an explicit sweep.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)


def enqueue(ids: Iterable[uuid.UUID]) -> None:
    ids = list(ids)
    mode = settings.WEBHOOK_DISPATCH
    if mode == "celery":
        from apps.webhooks.tasks import deliver_webhook

        for index, delivery_id in enumerate(ids):
            try:
                deliver_webhook.delay(str(delivery_id))
            except Exception as exc:
                # Runs after the publisher's commit: raising would fail a request whose change
                # is already saved. The rows keep their enqueued_at, so the sweep re-queues
                # them once they count as orphaned; don't wait on a dead broker for the rest.
                logger.warning(
                    "Webhook broker unavailable (%s); %d deliveries left to the sweep",
                    type(exc).__name__,
                    len(ids) - index,
                    exc_info=settings.LOG_TRACEBACKS,
                )
                return
    elif mode == "thread":
        LocalWorker.get().submit(ids)
    else:
        from apps.webhooks.services import delivery_attempt

        for delivery_id in ids:
            delivery_attempt(delivery_id=delivery_id)


def enqueue_later(ids: Iterable[uuid.UUID], delay: float) -> None:
    """Short retries go straight back on the queue with a countdown; longer ones are left
    to the sweep, which finds them by next_attempt_at."""
    if settings.WEBHOOK_DISPATCH == "celery":
        from apps.webhooks.tasks import deliver_webhook

        try:
            for delivery_id in ids:
                deliver_webhook.apply_async((str(delivery_id),), countdown=delay)
        except Exception as exc:  # the sweep sends it when due (its enqueued_at is empty)
            logger.warning(
                "Webhook broker unavailable (%s); retry left to the sweep",
                type(exc).__name__,
                exc_info=settings.LOG_TRACEBACKS,
            )


def backlog() -> int:
    """How many delivery tasks wait in the broker for a worker: 0 when none, when it cannot
    be told, or without Celery (the local thread only sweeps when its queue is empty)."""
    if settings.WEBHOOK_DISPATCH != "celery":
        return 0
    from apps.webhooks.tasks import deliver_webhook

    app = deliver_webhook.app
    queue = getattr(deliver_webhook, "queue", None) or app.conf.task_default_queue
    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1)
            return int(connection.default_channel.queue_declare(queue=queue, passive=True).message_count)
    except Exception:  # an empty Redis queue does not exist at all; a broker that is down shows nothing
        return 0


class LocalWorker:
    _instance: LocalWorker | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.queue: queue.Queue[uuid.UUID] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="webhook-deliveries", daemon=True)
        self.thread.start()

    @classmethod
    def get(cls) -> LocalWorker:
        with cls._lock:
            if cls._instance is None or not cls._instance.thread.is_alive():
                cls._instance = LocalWorker()
            return cls._instance

    def submit(self, ids: list[uuid.UUID]) -> None:
        for delivery_id in ids:
            self.queue.put(delivery_id)

    def _run(self) -> None:
        from apps.webhooks.services import deliveries_sweep, delivery_attempt

        while True:
            try:
                delivery_id = self.queue.get(timeout=settings.WEBHOOK_SWEEP_SECONDS)
            except queue.Empty:
                delivery_id = None
            try:
                close_old_connections()
                if delivery_id is None:
                    deliveries_sweep()
                else:
                    delivery_attempt(delivery_id=delivery_id)
            except Exception as exc:  # the thread must outlive any one failure
                logger.error("Webhook delivery thread error (%s)", type(exc).__name__, exc_info=settings.LOG_TRACEBACKS)
            finally:
                close_old_connections()


def start_local_worker_if_needed() -> None:
    if settings.WEBHOOK_DISPATCH == "thread":
        LocalWorker.get()
