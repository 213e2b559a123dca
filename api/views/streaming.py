"""Following a reply for a /v1 response: its new text as it comes, then the reply as saved.

Replies run on the engine like the page's: a streamed answer is the engine's
reply observed (`engine.reply_observe`), and a client that goes away stops it
(`engine.reply_stop`), its text kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from django.http import StreamingHttpResponse

from conversations import engine, services
from conversations.database import database_call
from conversations.models import Message


async def reply_follow(
    turn: services.Turn,
) -> AsyncIterator[engine.ReplyText | engine.ReplyQueued | Message]:
    """The reply's text as it comes (only what is new each time), then the reply as saved.

    A client that goes away (Django cancels the response's task on a
    disconnect) stops the reply; what was written is saved as stopped.
    """
    conversation = turn.assistant_message.conversation
    message_id = turn.assistant_message.id
    sent = 0
    ended = None
    try:
        async for event in engine.reply_observe(conversation=conversation, message_id=message_id):
            if isinstance(event, engine.ReplyEnded):
                ended = event
                break
            if isinstance(event, engine.ReplyText):
                text = event.text[sent:] if event.replace else event.text
                sent = len(event.text) if event.replace else sent + len(event.text)
                if text:
                    yield engine.ReplyText(message_id, text)
            else:
                yield event
    except (asyncio.CancelledError, GeneratorExit):
        await engine.reply_stop(conversation=conversation, message_id=message_id)
        raise
    reply = ended.message if ended is not None and ended.message is not None else None
    if reply is None:
        reply = await database_call(Message.objects.get)(pk=message_id)
    # A reply that ended before it could be followed (or whose last chunk came
    # with its end) is streamed from what was saved: the client gets all of it.
    if rest := reply.content[sent:]:
        yield engine.ReplyText(message_id, rest)
    yield reply


def sse_response(body: AsyncIterator[bytes]) -> StreamingHttpResponse:
    """Send `body` as server-sent events, each passed on at once."""
    response = StreamingHttpResponse(body, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response
