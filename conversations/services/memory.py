"""Memory beyond the window: a per-conversation summary of the messages that no longer fit.

Off by default. When on, after each answer the messages of the branch that fall
out of the window are summarised by a model (the conversation's, or
PARLEY_SUMMARY_MODEL), together with the summary so far; the summary is sent in
their place (context.window_build) and counted in the window. The owner can
read, edit or delete it. A summary whose last message left the branch shown is
not sent, and is rebuilt from the start after the next answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from conversations.backends import get_catalog
from conversations.context import HISTORY_STATUSES, summary_in_force, window_build
from conversations.models import Conversation, Message, UsageRecord
from conversations.quotas import QuotaExceededError, quota_check
from conversations.services.ledger import (
    BackgroundRequest,
    usage_record_open,
)

SUMMARY_MAX_TOKENS = 400
# Characters of each message and of the whole transcript a summary request carries.
SUMMARY_MESSAGE_CHARS = 2_000
SUMMARY_TRANSCRIPT_CHARS = 12_000
SUMMARY_INSTRUCTIONS = (
    "Summarise the conversation below for the assistant who continues it: the user's "
    "goals, facts and decisions, names, numbers and open questions, in at most 200 words, "
    "in the language of the conversation. If a summary so far is given, merge it in. "
    "Reply with the summary only."
)


def conversation_set_memory(*, conversation: Conversation, enabled: bool) -> Conversation:
    """Turn memory beyond the window on or off (the summary is kept either way)."""
    conversation.memory_enabled = enabled
    conversation.save(update_fields=["memory_enabled"])
    return conversation


def conversation_summary_edit(*, conversation: Conversation, summary: str) -> Conversation:
    """Save the owner's version of the summary; an empty one deletes it."""
    summary = summary.strip()
    limit = settings.PARLEY_MAX_MESSAGE_CHARS
    if len(summary) > limit:
        raise ValidationError(
            _("The summary is %(length)s characters long; the limit is %(limit)s.")
            % {"length": f"{len(summary):,}", "limit": f"{limit:,}"}
        )
    if not summary:
        return conversation_summary_delete(conversation=conversation)
    if conversation.summary_through_id is None:
        raise ValidationError(
            _("There is no summary yet: it is written once messages no longer fit.")
        )
    conversation.summary = summary
    conversation.save(update_fields=["summary"])
    return conversation


def conversation_summary_delete(*, conversation: Conversation) -> Conversation:
    """Forget the summary: earlier messages are left out again until it is rebuilt."""
    conversation.summary, conversation.summary_through = "", None
    conversation.save(update_fields=["summary", "summary_through"])
    return conversation


@dataclass(frozen=True)
class SummaryRequest(BackgroundRequest):
    """What to send a model to (re)write a conversation's summary."""

    # The summary will cover the branch up to this message.
    through_id: int
    # The summary it builds on (None: from the start), so that an edit meanwhile wins.
    base_summary: str | None


def summary_request(*, message_id: int) -> SummaryRequest | None:
    """What to ask a model once `message_id`, an answer, ended; None when nothing is due.

    Due when memory is on and messages of the branch fall out of the next
    request's window beyond what the summary already covers, and the owner is
    within their limits (a summary is a request like any other: it is written
    in the usage ledger).
    """
    answer = Message.objects.select_related("conversation").filter(pk=message_id).first()
    if answer is None or not answer.conversation.memory_enabled:
        return None
    conversation = answer.conversation
    catalog = get_catalog()
    own = catalog.models.get(conversation.model_id)
    model = catalog.models.get(settings.PARLEY_SUMMARY_MODEL) or own
    if own is None or model is None or not model.usable:
        return None
    window = window_build(conversation=conversation, model=own, with_texts=False)
    boundary = window.left_out_up_to
    covered = summary_in_force(conversation)
    if boundary is None or (covered is not None and covered >= boundary):
        return None
    rows = (
        conversation.messages.filter(
            off_branch=False,
            status__in=HISTORY_STATUSES,
            role__in=(Message.Role.USER, Message.Role.ASSISTANT),
            id__gt=covered or 0,
            id__lte=boundary,
        )
        .exclude(content="")
        .order_by("id")
        .values_list("role", "content")
    )
    names = {Message.Role.USER: "User", Message.Role.ASSISTANT: "Assistant"}
    transcript = "\n\n".join(
        f"{names[role]}: {Truncator(content).chars(SUMMARY_MESSAGE_CHARS)}"
        for role, content in rows
    )
    # The newest of what fell out matters most to what follows: keep the end.
    transcript = transcript[-SUMMARY_TRANSCRIPT_CHARS:]
    try:
        quota_check(user=conversation.owner)
    except QuotaExceededError:
        return None
    parts = []
    if covered is not None:
        parts.append(f"Summary so far:\n{conversation.summary}")
    parts.append(f"Conversation:\n{transcript}")
    record = usage_record_open(
        user_id=conversation.owner_id,
        conversation=conversation,
        model_id=model.id,
        kind=UsageRecord.Kind.SUMMARY,
    )
    return SummaryRequest(
        usage_record_id=record.pk,
        conversation_id=conversation.pk,
        model=model,
        messages=[
            {"role": "system", "content": SUMMARY_INSTRUCTIONS},
            {"role": "user", "content": "\n\n".join(parts)},
        ],
        through_id=boundary,
        base_summary=conversation.summary if covered is not None else None,
    )



def conversation_summary_from_model(*, request: SummaryRequest, summary: str) -> bool:
    """Save a model-written summary unless the owner changed it meanwhile; say if saved."""
    summary = summary.strip()
    if not summary:
        return False
    conversations = Conversation.objects.filter(pk=request.conversation_id, memory_enabled=True)
    if request.base_summary is not None:
        conversations = conversations.filter(summary=request.base_summary)
    return bool(conversations.update(summary=summary, summary_through_id=request.through_id))
