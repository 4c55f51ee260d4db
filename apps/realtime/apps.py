from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "apps.realtime"
    label = "realtime"
    verbose_name = "Real time"

    def ready(self) -> None:
        from apps.core.events import event_subscribe
        from apps.realtime.bridge import on_event

        # Concern and escalation events go to the sockets after their transaction commits.
        event_subscribe(on_event)
