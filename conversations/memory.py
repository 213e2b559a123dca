"""Memory beyond the window, in the background: after an answer, the summary is brought
up to date (services.memory decides whether one is due and saves it); every open
view of the conversation then shows it."""

from __future__ import annotations

import asyncio
import logging

from conversations import engine, services
from conversations.backends import BackendError, Usage, get_backend
from conversations.database import database_call
from conversations.models import Message

logger = logging.getLogger("parley.memory")

SUMMARY_TIMEOUT_SECONDS = 120.0

# Running summary tasks, kept referenced until they end.
_running: set[asyncio.Task] = set()


def reply_finished(outcome: engine.ReplyOutcome) -> None:
    """Bring the summary up to date after an answer that joins the history (a listener)."""
    if outcome.memory and outcome.status in (Message.Status.COMPLETE, Message.Status.CUT):
        task = asyncio.create_task(
            summary_update(message_id=outcome.message_id, group=outcome.group),
            name=f"summary-{outcome.message_id}",
        )
        _running.add(task)
        task.add_done_callback(_running.discard)


async def summary_update(*, message_id: int, group: str) -> bool:
    """Ask the summary model and save its summary if one is due; say if it changed."""
    request = await database_call(services.summary_request)(message_id=message_id)
    if request is None:
        return False
    parts: list[str] = []
    usage: Usage | None = None
    try:
        async with asyncio.timeout(SUMMARY_TIMEOUT_SECONDS):
            async for event in get_backend(request.model).stream(
                messages=request.messages, max_tokens=services.SUMMARY_MAX_TOKENS
            ):
                if isinstance(event, Usage):
                    usage = event
                elif isinstance(event, str):
                    parts.append(event)
    except (BackendError, TimeoutError) as exc:
        logger.warning("summary after answer %s not written: %s", message_id, exc)
        return False
    except Exception:
        logger.exception("summary after answer %s failed", message_id)
        return False
    finally:
        await database_call(services.summary_request_close)(
            request=request, usage=usage, reply="".join(parts)
        )
    changed = await database_call(services.conversation_summary_from_model)(
        request=request, summary="".join(parts)
    )
    if changed:
        await engine.conversation_publish(group, {"type": "conversation.settings_changed"})
    return changed
