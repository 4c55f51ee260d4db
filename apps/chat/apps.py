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

        from django.contrib.auth.signals import user_logged_in

        from apps.chat.views import adopt_anonymous_conversation

        user_logged_in.connect(adopt_anonymous_conversation, dispatch_uid="chat-adopt-anonymous-conversation")
