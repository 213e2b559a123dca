"""Model-written titles: after a conversation's first answer, a model names it.

It runs in the background, after the answer is saved and shown; the title
replaces the first message's words in every open view. A failure leaves the
first-message title, and a title the owner chose is never replaced.
"""

from __future__ import annotations

import logging

from django.conf import settings

from conversations import engine, services
from conversations.background_requests import background_request_text, background_task_start
from conversations.database import database_call
from conversations.models import Message

logger = logging.getLogger("parley.titles")

TITLE_MAX_TOKENS = 24
TITLE_TIMEOUT_SECONDS = 60.0


def reply_finished(outcome: engine.ReplyOutcome) -> None:
    """Name the conversation after its first complete answer (an engine listener)."""
    if outcome.status == Message.Status.COMPLETE and outcome.first_answer:
        title_schedule(message_id=outcome.message_id, group=outcome.group)


def title_schedule(*, message_id: int, group: str) -> None:
    """Name the conversation in the background if `message_id` was its first answer."""
    if not settings.PARLEY_TITLES:
        return
    background_task_start(
        title_write(message_id=message_id, group=group), name=f"title-{message_id}"
    )


async def title_write(*, message_id: int, group: str) -> bool:
    """Ask the title model for a title and save it; tell the views of `group` if it changed."""
    request = await database_call(services.title_request)(message_id=message_id)
    if request is None:
        return False
    title = await background_request_text(
        request=request,
        max_tokens=TITLE_MAX_TOKENS,
        timeout_seconds=TITLE_TIMEOUT_SECONDS,
        logger=logger,
        description=f"title for answer {message_id}",
    )
    if title is None:
        return False
    changed = await database_call(services.conversation_title_from_model)(
        conversation_id=request.conversation_id, title=title
    )
    if changed:
        await engine.conversation_publish(group, {"type": "conversation.retitled"})
    return changed
