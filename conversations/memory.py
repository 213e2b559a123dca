"""Memory beyond the window, in the background: after an answer, the summary is brought
up to date (services.memory decides whether one is due and saves it); every open
view of the conversation then shows it."""

from __future__ import annotations

import logging

from conversations import engine, services
from conversations.background_requests import background_request_text, background_task_start
from conversations.database import database_call
from conversations.models import Message

logger = logging.getLogger("parley.memory")

SUMMARY_TIMEOUT_SECONDS = 120.0


def reply_finished(outcome: engine.ReplyOutcome) -> None:
    """Bring the summary up to date after an answer that joins the history (a listener)."""
    if outcome.memory and outcome.status in (Message.Status.COMPLETE, Message.Status.CUT):
        background_task_start(
            summary_update(message_id=outcome.message_id, group=outcome.group),
            name=f"summary-{outcome.message_id}",
        )


async def summary_update(*, message_id: int, group: str) -> bool:
    """Ask the summary model and save its summary if one is due; say if it changed."""
    request = await database_call(services.summary_request)(message_id=message_id)
    if request is None:
        return False
    summary = await background_request_text(
        request=request,
        max_tokens=services.SUMMARY_MAX_TOKENS,
        timeout_seconds=SUMMARY_TIMEOUT_SECONDS,
        logger=logger,
        description=f"summary after answer {message_id}",
    )
    if summary is None:
        return False
    changed = await database_call(services.conversation_summary_from_model)(
        request=request, summary=summary
    )
    if changed:
        await engine.conversation_publish(group, {"type": "conversation.settings_changed"})
    return changed
