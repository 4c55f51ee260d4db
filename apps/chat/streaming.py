"""One exchange's answer as a stream reaches a client, shared by Server-Sent Events
(apps.chat.api.views.stream_events) and the WebSocket (apps.realtime.consumers): the pieces
come from services.answer_chunks in a worker thread, and once the question is stored its
answer is stored too, even when the client leaves halfway or something fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from asgiref.sync import sync_to_async

from apps.chat import services
from apps.chat.models import Message
from apps.core.exceptions import log_unhandled


class AnswerStream:
    """``shown``: each piece reaches the client as it comes (see services.answer_chunks).
    ``database`` runs a database function from async code: asgiref's sync_to_async for a
    request, channels' database_sync_to_async for a consumer (which also closes stale
    connections)."""

    def __init__(
        self, prepared: services.Prepared, *, shown: bool = True, database: Callable[..., Any] = sync_to_async
    ) -> None:
        self.prepared, self.shown, self.database = prepared, shown, database
        self.sent: list[str] = []
        self.answer: Message | None = None

    async def pieces(self) -> AsyncIterator[str]:
        """The answer's pieces; a piece counts as sent once the caller asks for the next."""
        chunks = services.answer_chunks(self.prepared, shown=self.shown)
        next_chunk = sync_to_async(lambda: next(chunks, None), thread_sensitive=False)
        while (piece := await next_chunk()) is not None:
            yield piece
            if self.shown:
                self.sent.append(piece)

    async def finish(self) -> Message:
        self.answer = await self.database(services.exchange_finish)(prepared=self.prepared)
        return self.answer

    async def settle(self) -> None:
        """For a ``finally``: stores the answer if finish() did not (the client left, or
        something failed). Shielded, because a client that left cancels the task running it."""
        if self.answer is not None:
            return
        abandoned = self.database(services.exchange_finish_abandoned)
        try:
            await asyncio.shield(abandoned(prepared=self.prepared, sent="".join(self.sent)))
        except Exception as exc:
            log_unhandled(exc)
