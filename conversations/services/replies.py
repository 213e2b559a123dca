"""Replies as they are written: checkpoints, the final save, interruptions, their cost."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Case, TextField, Value, When
from django.utils import timezone

from conversations.backends import ModelConfig, Usage
from conversations.counters import counter_for
from conversations.models import Conversation, Message, UsageRecord
from conversations.rendering.markdown import rendered_fields
from conversations.services.ledger import cost_compute, usage_record_close

CHECKPOINT_BATCH = 200


def messages_checkpoint(*, message_texts: dict[int, str]) -> None:
    """Save the partial texts of replies still streaming, in one statement per batch.

    A reply that ended meanwhile is left alone: its final text is saved already.
    """
    _streaming_texts_save(message_texts)


def messages_interrupt(*, message_texts: dict[int, str]) -> None:
    """Mark replies as interrupted (server stopping), keeping the text written so far."""
    _streaming_texts_save(message_texts, status=Message.Status.INTERRUPTED)


def _streaming_texts_save(message_texts: dict[int, str], **fields: object) -> None:
    """Save each reply's text (and `fields`) if it is still streaming, a batch per statement."""
    now = timezone.now()
    items = list(message_texts.items())
    for start in range(0, len(items), CHECKPOINT_BATCH):
        batch = items[start : start + CHECKPOINT_BATCH]
        Message.objects.filter(
            pk__in=[pk for pk, _ in batch], status=Message.Status.STREAMING
        ).update(
            content=Case(
                *(When(pk=pk, then=Value(text)) for pk, text in batch),
                output_field=TextField(),
            ),
            updated_at=now,
            **fields,
        )


def messages_interrupt_stale(
    *, older_than: timedelta, conversation: Conversation | None = None
) -> list[int]:
    """Mark replies left `streaming` by a dead process as interrupted; return their ids.

    A live generation saves its message at least every few seconds, so one not
    saved for `older_than` belongs to a process that is gone.
    """
    stale = Message.objects.filter(
        status=Message.Status.STREAMING, updated_at__lt=timezone.now() - older_than
    )
    if conversation is not None:
        stale = stale.filter(conversation=conversation)
    with transaction.atomic():
        ids = list(stale.values_list("id", flat=True))
        Message.objects.filter(id__in=ids).update(
            status=Message.Status.INTERRUPTED, updated_at=timezone.now()
        )
    return ids


def message_finish(
    *,
    message_id: int,
    model: ModelConfig,
    content: str,
    status: str,
    error: str = "",
    finish_reason: str = "",
    usage: Usage | None,
    estimated_input_tokens: int,
    time_to_first_token_ms: int | None,
    duration_ms: int,
    continued: Message | None = None,
) -> dict[str, object]:
    """Record the end of a reply: its text, final status, usage, cost and timings.

    Billing: what the upstream reported if it did; else our count, and nothing
    at all for a reply with no text (a refused or failed request is not
    charged). A stopped or cut reply is billed for the text it has.
    `continued` is the answer as it was before a Continue: this request's
    tokens and cost are added to its own.

    Returns the fields saved, so that the process that wrote the reply can draw
    it without reading it back.
    """
    counter = counter_for(model)
    written = content[len(continued.content) :] if continued is not None else content
    if usage is None:
        # The backend reported nothing: use our own count and say so.
        input_tokens = estimated_input_tokens if written else 0
        output_tokens = counter.text(written)
        estimated = True
    else:
        input_tokens, output_tokens, estimated = usage.input_tokens, usage.output_tokens, False
    cost = cost_compute(model=model, input_tokens=input_tokens, output_tokens=output_tokens)
    # The ledger's row of this request: by its reply, or, for a continuation,
    # the row of this request only (the answer's first request has its own).
    record = {"message_id": message_id}
    if continued is not None:
        open_row = UsageRecord.objects.filter(message_id=message_id, finished_at__isnull=True)
        record = {"record_id": open_row.values_list("pk", flat=True).last()}
    usage_record_close(
        **record,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        estimated=estimated,
        cost=cost,
    )
    if continued is not None:
        input_tokens += continued.input_tokens or 0
        output_tokens += continued.output_tokens or 0
        cost += continued.cost or 0
        estimated = estimated or continued.usage_estimated
    fields = {
        "content": content,
        # Rendered once, here: every view and the share page show this HTML.
        **rendered_fields(content),
        "status": status,
        "error": error,
        "finish_reason": finish_reason,
        "token_count": counter.message(role="assistant", content=content),
        "token_encoding": counter.name,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "usage_estimated": estimated,
        "cost": cost,
        "time_to_first_token_ms": time_to_first_token_ms,
        "duration_ms": duration_ms,
        "updated_at": timezone.now(),
    }
    # One UPDATE, no read first: this runs at the end of every answer.
    Message.objects.filter(pk=message_id).update(**fields)
    return fields
