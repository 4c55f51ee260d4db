from celery import shared_task

from apps.accounts.services import credentials_purge_expired


@shared_task
def purge_expired() -> int:
    return credentials_purge_expired()
