"""Thin Celery wrappers around the webhook services."""

import uuid

from celery import shared_task

from apps.webhooks import services


@shared_task(acks_late=True, ignore_result=True)
def deliver_webhook(delivery_id: str) -> str:
    return services.delivery_attempt(delivery_id=uuid.UUID(delivery_id))


@shared_task(ignore_result=True)
def sweep_webhooks() -> int:
    return services.deliveries_sweep()


@shared_task(ignore_result=True)
def purge_webhook_events() -> int:
    return services.events_purge()
