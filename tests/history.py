"""Writing conversation history directly, for tests that need a given past."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal

from django.utils import timezone

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


def at(day, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """A moment of that day in the current time zone (the one the usage report counts days in)."""
    return timezone.make_aware(datetime.combine(day, time(hour, minute, second)))


def message(conversation, role: str, content: str = "", *, when: datetime | None = None,
            **fields) -> Message:
    """Save a message as add_message does, dated `when` if given."""
    saved = add_message(conversation=conversation, role=role, content=content, **fields)
    if when is not None:
        # created_at is auto_now_add: only an update can move it.
        Message.objects.filter(pk=saved.pk).update(created_at=when)
        saved.refresh_from_db()
    return saved


def answer(conversation, *, when, input_tokens, output_tokens, cost, model_id=None,
           status="complete") -> Message:
    """Save an answer dated `when` with its usage and its row of the usage ledger."""
    saved = message(conversation, "assistant", "An answer.", when=when,
                    model_id=model_id or conversation.model_id, status=status,
                    input_tokens=input_tokens, output_tokens=output_tokens, cost=Decimal(cost))
    add_request(answer=saved)
    return saved
