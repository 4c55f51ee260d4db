from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "apps.chat"
    label = "chat"
    verbose_name = "Chat assistant"

    def ready(self) -> None:
        from apps.chat.health import check_ai_engine
        from apps.core import health

        # Required: without it no chat message can be answered, whatever the LLM provider does.
        health.register("ai_engine", check_ai_engine, required=True)
