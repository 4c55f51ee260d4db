from celery import shared_task
from django.conf import settings

from apps.chat.services import conversations_complete_idle


@shared_task(ignore_result=True)
def complete_idle_conversations() -> int:
    return conversations_complete_idle(idle_minutes=settings.CHAT_IDLE_MINUTES)
