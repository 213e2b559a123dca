"""Model-written titles: what to ask a model, and saving its answer."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.text import Truncator

from conversations.backends import get_catalog
from conversations.models import Conversation, Message, UsageRecord
from conversations.quotas import QuotaExceededError, quota_check
from conversations.services.conversations import TITLE_LENGTH
from conversations.services.ledger import (
    BackgroundRequest,
    usage_record_open,
)

TITLE_EXCERPT_CHARS = 1_500
TITLE_INSTRUCTIONS = (
    "Write a title for the conversation below: at most six words, in the language "
    "of the conversation. Reply with the title only, without quotes or a final period."
)


@dataclass(frozen=True)
class TitleRequest(BackgroundRequest):
    """What to send a model for a conversation's title."""


def title_request(*, message_id: int) -> TitleRequest | None:
    """What to ask a model for a title once `message_id`, a first answer, is complete.

    None when no title is wanted: the answer is not the first of its
    conversation, the title is not the first message's words (the owner chose
    one, or a model already wrote it), the title model cannot be used now, or
    the owner reached a limit (a title is a request like any other). Otherwise
    the request is written in the usage ledger.
    """
    answer = (
        Message.objects.select_related("parent", "conversation")
        .filter(pk=message_id, status=Message.Status.COMPLETE, role=Message.Role.ASSISTANT)
        .first()
    )
    if answer is None or answer.parent is None or answer.parent.parent_id is not None:
        return None
    if answer.off_branch:  # a comparison's other answers: the one shown names it
        return None
    conversation = answer.conversation
    if conversation.title_source != Conversation.TitleSource.MESSAGE:
        return None
    model = get_catalog().models.get(settings.PARLEY_TITLE_MODEL or conversation.model_id)
    if model is None or not model.usable or not model.writes_titles:
        return None
    try:
        quota_check(user=conversation.owner)
    except QuotaExceededError:
        return None
    excerpt = Truncator(answer.parent.content).chars(TITLE_EXCERPT_CHARS)
    reply = Truncator(answer.content).chars(TITLE_EXCERPT_CHARS)
    record = usage_record_open(
        user_id=conversation.owner_id,
        conversation=conversation,
        model_id=model.id,
        kind=UsageRecord.Kind.TITLE,
        # A conversation started through the API has its titles counted there too.
        channel=conversation.channel,
    )
    return TitleRequest(
        conversation_id=conversation.pk,
        model=model,
        usage_record_id=record.pk,
        messages=[
            {"role": "system", "content": TITLE_INSTRUCTIONS},
            {"role": "user", "content": f"User: {excerpt}\n\nAssistant: {reply}"},
        ],
    )



def title_clean(text: str) -> str:
    """The title in a model's reply: its first line, without quotes, labels or end marks."""
    line = next((line for line in text.strip().splitlines() if line.strip()), "")
    marks = "#*_`\"'“”‘’ "
    line = line.strip(marks)
    if line.lower().startswith("title:"):
        line = line[len("title:") :]
    line = " ".join(line.strip(marks).split()).rstrip(".。!?:;,").strip(marks)
    return Truncator(line).chars(TITLE_LENGTH)


def conversation_title_from_model(*, conversation_id: int, title: str) -> bool:
    """Save a model-written title unless the owner renamed meanwhile; say if it was saved."""
    title = title_clean(title)
    if not title:
        return False
    # A conditional update: a rename that lands first always wins.
    return bool(
        Conversation.objects.filter(
            pk=conversation_id, title_source=Conversation.TitleSource.MESSAGE
        ).update(title=title, title_source=Conversation.TitleSource.MODEL)
    )


