"""Writing conversation history directly, for tests that need a given past."""

from __future__ import annotations

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
