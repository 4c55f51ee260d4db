from django.apps import AppConfig


class ConcernsConfig(AppConfig):
    name = "apps.concerns"
    label = "concerns"
    verbose_name = "Concerns"

    def ready(self) -> None:
        from apps.concerns import signals  # noqa: F401 (connects the receivers)
