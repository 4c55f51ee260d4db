import os
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "citizenai.settings.base")

app = Celery("citizenai")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
def _database_usable(task: Any = None, **kwargs: Any) -> None:
    """Workers keep their PostgreSQL connection between tasks (CELERY_DB_REUSE_MAX); one that
    broke meanwhile (a restarted server, a failed statement) is dropped before the task runs
    instead of failing it."""
    if task is None or getattr(task.request, "is_eager", False):
        return
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and (connection.errors_occurred or not connection.is_usable()):
            connection.close()
