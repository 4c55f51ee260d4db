from celery import shared_task

from apps.analytics.services import rollups_refresh, thresholds_check


@shared_task(ignore_result=True)
def check_thresholds() -> int:
    """Celery beat runs this every 300 s (CELERY_BEAT_SCHEDULE)."""
    return len(thresholds_check())


@shared_task(ignore_result=True)
def refresh_rollups() -> int:
    """Celery beat runs this every 300 s (CELERY_BEAT_SCHEDULE)."""
    return rollups_refresh()
