"""Starting and stopping turns: what every front door calls."""

from __future__ import annotations

from conversations import selectors, services
from conversations.database import database_call
from conversations.engine.control import reply_cancel
from conversations.engine.delivery import conversation_group, conversation_publish
from conversations.engine.runner import reply_start
from conversations.engine.state import running
from conversations.models import Conversation


async def reply_to_question(*, conversation: Conversation, content: str) -> services.Turn:
    """Save the user's question and start its reply in the background.

    Raises what `services.turn_start` raises; then nothing was saved.
    """
    turn = await database_call(services.turn_start)(conversation=conversation, content=content)
    await reply_start(conversation=conversation, turn=turn)
    return turn


async def reply_to_turn(*, conversation: Conversation, turn: services.Turn) -> services.Turn:
    """Start the reply of a turn a front door saved through its own service (the API's)."""
    await reply_start(conversation=conversation, turn=turn)
    return turn


async def reply_again(*, conversation: Conversation, message_id: int) -> services.Turn:
    """Write an answer again in the background (see `services.turn_regenerate`)."""
    turn = await database_call(services.turn_regenerate)(
        conversation=conversation, message_id=message_id
    )
    await reply_start(conversation=conversation, turn=turn, redraw=True)
    return turn


async def reply_to_edit(
    *, conversation: Conversation, message_id: int, content: str
) -> services.Turn:
    """Send an edited question and answer it in the background (see `services.turn_edit`)."""
    turn = await database_call(services.turn_edit)(
        conversation=conversation, message_id=message_id, content=content
    )
    await reply_start(conversation=conversation, turn=turn, redraw=True)
    return turn


async def reply_continue(*, conversation: Conversation, message_id: int) -> services.Turn:
    """Write on an answer cut at the length limit (see `services.turn_continue`)."""
    turn = await database_call(services.turn_continue)(
        conversation=conversation, message_id=message_id
    )
    await reply_start(conversation=conversation, turn=turn, redraw=True)
    return turn


async def version_show(*, conversation: Conversation, message_id: int, step: int) -> None:
    """Show another version of a message in every view of the conversation."""
    await database_call(services.branch_switch)(
        conversation=conversation, message_id=message_id, step=step
    )
    await conversation_publish(
        conversation_group(conversation.public_id), {"type": "branch.switched"}
    )


async def reply_stop(*, conversation: Conversation, message_id: int) -> bool:
    """Stop a reply of this conversation that is being written; say if one was.

    Only a reply of `conversation` is stopped: the caller checked its owner.
    """
    reply = running.get(message_id)
    if reply is None or reply.group != conversation_group(conversation.public_id):
        ids = await database_call(selectors.message_streaming_ids)(conversation=conversation)
        if message_id not in ids:
            return False
    await reply_cancel(message_id=message_id)
    return True
