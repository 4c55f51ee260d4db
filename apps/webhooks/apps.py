from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "apps.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from apps.core.events import event_subscribe
        from apps.webhooks.services import event_record

        # Every published event lands in the outbox inside the publisher's transaction.
        event_subscribe(event_record)
