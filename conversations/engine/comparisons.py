"""Comparisons on the engine: one question, one reply per model, all run by the runner.

No streaming of its own: each answer is an ordinary reply (runner.py) that
every view follows as it follows any other; one event announces them all.
"""

from __future__ import annotations

from conversations import selectors, services
from conversations.database import database_call
from conversations.engine.delivery import conversation_group, conversation_publish
from conversations.engine.runner import replies_start
from conversations.engine.turns import reply_stop
from conversations.models import Comparison, ComparisonVote, Conversation, Message


async def reply_to_comparison(
    *, conversation: Conversation, content: str, model_ids: list[str], blind: bool = False
) -> services.ComparisonTurn:
    """Save the question and start one reply per model at once, in the background.

    Raises what `services.comparison_start` raises; then nothing was saved.
    """
    started = await database_call(services.comparison_start)(
        conversation=conversation, content=content, model_ids=model_ids, blind=blind
    )
    # The new turn changes the branch drawn (a comparison, not one reply): views
    # draw it again, then follow every reply from its first chunk.
    event = {
        "type": "comparison.started",
        "comparison_id": started.comparison.pk,
        "assistant_message_ids": [turn.assistant_message.id for turn in started.turns],
    }
    await replies_start(conversation=conversation, turns=started.turns, event=event)
    return started


async def comparison_stop(*, conversation: Conversation, comparison_id: int) -> int:
    """Stop every answer of a comparison still being written; say how many were."""
    ids = await database_call(selectors.comparison_streaming_ids)(
        conversation=conversation, comparison_id=comparison_id
    )
    stopped = 0
    for message_id in ids:
        stopped += await reply_stop(conversation=conversation, message_id=message_id)
    return stopped


async def comparison_keep(*, comparison: Comparison, message_id: int) -> Message:
    """Continue on one answer (see `services.comparison_keep`) in every view."""
    kept = await database_call(services.comparison_keep)(
        comparison=comparison, message_id=message_id
    )
    await _redraw(comparison.conversation)
    return kept


async def comparison_vote(*, comparison: Comparison, voter, outcome: str) -> ComparisonVote:
    """Record the vote (see `services.comparison_vote`); every view reveals the names."""
    vote = await database_call(services.comparison_vote)(
        comparison=comparison, voter=voter, outcome=outcome
    )
    await _redraw(comparison.conversation)
    return vote


async def _redraw(conversation: Conversation) -> None:
    await conversation_publish(
        conversation_group(conversation.public_id), {"type": "branch.switched"}
    )
