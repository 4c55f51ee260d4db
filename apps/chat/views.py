"""The citizen chat page: works without JavaScript (form posts, page shows the log); with
JavaScript the widget streams answers over SSE instead."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.exceptions import NotFound

from apps.chat import selectors, services
from apps.chat.models import Conversation
from apps.core.net import client_ip
from apps.core.ratelimit import hit

SESSION_KEY = "chat_session_id"


def adopt_anonymous_conversation(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """user_logged_in: the conversation this browser had before signing in becomes the
    user's, so "ask first, sign in later" goes on where it was. Sign-in keeps the session's
    data (under a new key), and only this browser's session names the conversation."""
    session = getattr(request, "session", None)
    conversation_id = session.get(SESSION_KEY) if session is not None else None
    if not conversation_id:
        return
    adopted = services.conversation_adopt(session_id=conversation_id, user=user)
    if not adopted:
        session.pop(SESSION_KEY, None)


def _page_conversation(request: HttpRequest) -> Conversation:
    """The browser's conversation (created on first use), remembered in its session."""
    principal = services.principal_for(request)
    try:
        conversation, _ = services.conversation_get_or_create(
            principal=principal, session_id=request.session.get(SESSION_KEY)
        )
    except NotFound:  # the session names a conversation someone else holds: start anew
        conversation, _ = services.conversation_get_or_create(principal=principal, session_id=None)
    request.session[SESSION_KEY] = conversation.pk
    return conversation


@require_http_methods(["GET", "POST"])
def assistant_page(request: HttpRequest) -> HttpResponse:
    conversation = _page_conversation(request)
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
        },
        status=400 if error else 200,
    )


# The floating widget of the other citizen pages shows at most this many earlier messages.
PANEL_HISTORY = 20


@require_POST
def assistant_session(request: HttpRequest) -> JsonResponse:
    """The chat panel on the other citizen pages opens its conversation here, when first used
    (the page itself writes nothing): the browser's conversation, as the assistant page sees
    it, with its last messages."""
    conversation = _page_conversation(request)
    recent = selectors.conversation_last_messages(conversation=conversation, count=PANEL_HISTORY)
    return JsonResponse({"session_id": conversation.pk, "messages": recent})
