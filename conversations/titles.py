"""Model-written titles: after a conversation's first answer, a model names it.

It runs in the background, after the answer is saved and shown; the title
replaces the first message's words in every open view. A failure leaves the
first-message title, and a title the owner chose is never replaced.
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings

from conversations import engine, services
from conversations.backends import BackendError, Usage, get_backend
from conversations.database import database_call
from conversations.models import Message

logger = logging.getLogger("parley.titles")

TITLE_MAX_TOKENS = 24
TITLE_TIMEOUT_SECONDS = 60.0

# Running title tasks, kept referenced until they end.
_running: set[asyncio.Task] = set()


def reply_finished(outcome: engine.ReplyOutcome) -> None:
    """Name the conversation after its first complete answer (an engine listener)."""
    if outcome.status == Message.Status.COMPLETE and outcome.first_answer:
        title_schedule(message_id=outcome.message_id, group=outcome.group)


def title_schedule(*, message_id: int, group: str) -> None:
    """Name the conversation in the background if `message_id` was its first answer."""
    if not settings.PARLEY_TITLES:
        return
    task = asyncio.create_task(
        title_write(message_id=message_id, group=group),
        name=f"title-{message_id}",
    )
    _running.add(task)
    task.add_done_callback(_running.discard)


async def title_write(*, message_id: int, group: str) -> bool:
    """Ask the title model for a title and save it; tell the views of `group` if it changed."""
    request = await database_call(services.title_request)(message_id=message_id)
    if request is None:
        return False
    parts: list[str] = []
    usage: Usage | None = None
    try:
        async with asyncio.timeout(TITLE_TIMEOUT_SECONDS):
            async for event in get_backend(request.model).stream(
                messages=request.messages, max_tokens=TITLE_MAX_TOKENS
            ):
                if isinstance(event, Usage):
                    usage = event
                elif isinstance(event, str):
                    parts.append(event)
    except (BackendError, TimeoutError) as exc:
        logger.warning("title for answer %s not written: %s", message_id, exc)
        return False
    except Exception:
        logger.exception("title for answer %s failed", message_id)
        return False
    finally:
        await database_call(services.title_request_close)(
            request=request, usage=usage, reply="".join(parts)
        )
    changed = await database_call(services.conversation_title_from_model)(
        conversation_id=request.conversation_id, title="".join(parts)
    )
    if changed:
        await engine.conversation_publish(group, {"type": "conversation.retitled"})
    return changed
