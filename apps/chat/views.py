"""The citizen chat page: works without JavaScript (form posts, page shows the log); with
JavaScript the widget streams answers over SSE instead."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from apps.chat import services
from apps.chat.models import Conversation
from apps.core.net import client_ip
from apps.core.ratelimit import hit

SESSION_KEY = "chat_session_id"


@require_http_methods(["GET", "POST"])
def assistant_page(request: HttpRequest) -> HttpResponse:
    principal = services.principal_for(request)
    conversation, _ = services.conversation_get_or_create(
        principal=principal, session_id=request.session.get(SESSION_KEY)
    )
    request.session[SESSION_KEY] = conversation.pk
    error = ""
    if request.method == "POST":
        text = (request.POST.get("message") or "").strip()
        budget = hit(f"anonymous:ip:{client_ip(request)}", settings.RATE_LIMITS_PER_MINUTE["anonymous"])
        if not text:
            error = "Please type a message."
        elif len(text) > settings.CHAT_MAX_MESSAGE_LENGTH:
            error = f"Messages can be at most {settings.CHAT_MAX_MESSAGE_LENGTH} characters."
        elif budget.exceeded and not request.user.is_authenticated:
            error = "You are sending messages too quickly; please wait a minute."
        else:
            services.exchange_run(conversation=conversation, user=request.user, text=text)
            return redirect("chat:assistant")
    messages = Conversation.objects.get(pk=conversation.pk).messages.order_by("created_at", "id")
    return render(
        request,
        "chat/assistant.html",
        {
            "conversation": conversation,
            "chat_messages": messages,
            "error": error,
            "max_length": settings.CHAT_MAX_MESSAGE_LENGTH,
        },
        status=400 if error else 200,
    )
