"""Writing conversation history directly, for tests that need a given past."""

from __future__ import annotations

from conversations import services
from conversations.backends import Usage, get_model
from conversations.models import Message, UsageRecord

_LEAF = object()


def add_message(*, conversation, parent=_LEAF, **fields) -> Message:
    """Save a message after the newest one of the branch shown (its parent), as a turn would."""
    if parent is _LEAF:
        parent = conversation.messages.filter(off_branch=False).order_by("-id").first()
    return Message.objects.create(conversation=conversation, parent=parent, **fields)


def add_request(*, answer: Message, kind: str = "question") -> UsageRecord:
    """Write the usage ledger's row of an answer given directly, as its turn would have."""
    record = UsageRecord.objects.create(
        user_id=answer.conversation.owner_id,
        conversation=answer.conversation,
        message=answer,
        model_id=answer.model_id,
        kind=kind,
        input_tokens=answer.input_tokens or 0,
        output_tokens=answer.output_tokens or 0,
        cost=answer.cost,
    )
    # created_at is auto_now_add: only an update can move it.
    UsageRecord.objects.filter(pk=record.pk).update(created_at=answer.created_at)
    return record


def reply_finish(message: Message, content: str = "Done.") -> dict:
    """Finish a streaming reply as its task would, with a small reported usage."""
    return services.message_finish(
        message_id=message.id,
        model=get_model(message.model_id),
        content=content,
        status=Message.Status.COMPLETE,
        usage=Usage(input_tokens=10, output_tokens=2),
        estimated_input_tokens=10,
        time_to_first_token_ms=5,
        duration_ms=20,
    )
