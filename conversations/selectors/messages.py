"""Reads of messages: the branch shown, a path, versions, what is still streaming."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from conversations.models import Conversation, Message


def message_list(*, conversation: Conversation) -> QuerySet[Message]:
    """List the messages of the branch shown, in the order they were written."""
    return conversation.messages.filter(off_branch=False).order_by("id")


def message_path(*, message: Message) -> list[Message]:
    """The messages from the conversation's start down to `message`, in order."""
    parents = dict(
        message.conversation.messages.filter(id__lte=message.pk).values_list("id", "parent_id")
    )
    ids, node = [], message.pk
    while node is not None:
        ids.append(node)
        node = parents.get(node)
    return list(Message.objects.filter(id__in=ids).order_by("id"))


@dataclass(frozen=True)
class Alternatives:
    """Where a message stands among its versions (same parent): "< index / count >"."""

    index: int
    count: int

    @property
    def has_previous(self) -> bool:
        return self.index > 1

    @property
    def has_next(self) -> bool:
        return self.index < self.count


def alternatives_annotate(*, messages: list[Message]) -> list[Message]:
    """Set `alternatives` on each message (None when it has no other version)."""
    if not messages:
        return messages
    # Only messages that have versions: their parents have several children (or
    # they are among several first messages). No IN list of the shown ids, so a
    # conversation of any length is one query.
    rows = Message.objects.filter(conversation_id=messages[0].conversation_id)
    shared_parents = (
        rows.filter(parent__isnull=False)
        .values("parent_id")
        .annotate(children=Count("id"))
        .filter(children__gt=1)
        .values("parent_id")
    )
    rows = rows.filter(Q(parent_id__in=shared_parents) | Q(parent__isnull=True))
    siblings: dict[int | None, list[int]] = {}
    for message_id, parent_id in rows.order_by("id").values_list("id", "parent_id"):
        siblings.setdefault(parent_id, []).append(message_id)
    for message in messages:
        ids = siblings.get(message.parent_id, [message.pk])
        message.alternatives = (
            Alternatives(index=ids.index(message.pk) + 1, count=len(ids))
            if len(ids) > 1 and message.pk in ids
            else None
        )
    return messages


def message_get(*, conversation: Conversation, message_id: int) -> Message:
    """Return one message of this conversation, or raise Http404."""
    try:
        return conversation.messages.get(pk=message_id)
    except (Message.DoesNotExist, ValueError, TypeError):
        raise Http404("No such message.") from None


def message_streaming_ids(*, conversation: Conversation) -> list[int]:
    """Ids of this conversation's messages that are still being generated."""
    return list(
        conversation.messages.filter(status=Message.Status.STREAMING).values_list("id", flat=True)
    )


def message_ended_ids(*, conversation: Conversation, message_ids: list[int]) -> list[int]:
    """Those of `message_ids` that are this conversation's replies and no longer streaming."""
    return list(
        conversation.messages.filter(id__in=message_ids, role=Message.Role.ASSISTANT)
        .exclude(status=Message.Status.STREAMING)
        .order_by("id")
        .values_list("id", flat=True)
    )
