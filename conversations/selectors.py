"""Reads. Every conversation lookup is scoped to its owner: another user's id is a 404."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import QuerySet, Sum
from django.http import Http404

from conversations.models import Conversation, Message, SharedLink


def conversation_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Conversation]:
    """List the user's conversations, most recently active first."""
    return Conversation.objects.filter(owner=user).order_by("-updated_at")


def conversation_get_for_user(
    *, user: AbstractBaseUser, public_id: uuid.UUID | str
) -> Conversation:
    """Return the user's conversation with this public id, or raise Http404."""
    try:
        return Conversation.objects.get(owner=user, public_id=public_id)
    except (Conversation.DoesNotExist, ValidationError, ValueError, TypeError):
        raise Http404("No such conversation.") from None


def message_list(*, conversation: Conversation) -> QuerySet[Message]:
    """List a conversation's messages in the order they were written."""
    return conversation.messages.order_by("id")


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


def conversation_cost(*, conversation: Conversation) -> Decimal:
    """Total cost of every answer in the conversation."""
    total = conversation.messages.aggregate(total=Sum("cost"))["total"]
    return total or Decimal("0")


def shared_link_get_public(*, token: str) -> SharedLink:
    """Return the active link with this token, or raise Http404 (revoked links too)."""
    try:
        return SharedLink.objects.select_related("conversation", "last_message").get(
            token=token, revoked_at__isnull=True
        )
    except SharedLink.DoesNotExist:
        raise Http404("No such shared conversation.") from None


def shared_link_get_for_user(*, user: AbstractBaseUser, pk: int) -> SharedLink:
    """Return one of the user's own links (active or revoked), or raise Http404."""
    try:
        return SharedLink.objects.select_related("conversation").get(
            pk=pk, conversation__owner=user
        )
    except (SharedLink.DoesNotExist, ValueError, TypeError):
        raise Http404("No such shared link.") from None


def shared_link_list_for_user(*, user: AbstractBaseUser) -> QuerySet[SharedLink]:
    """The user's links, newest first, with their conversations."""
    return SharedLink.objects.filter(conversation__owner=user).select_related("conversation")


def shared_messages(*, link: SharedLink) -> QuerySet[Message]:
    """The snapshot a link shows: the conversation's answers up to its boundary."""
    return link.conversation.messages.filter(
        id__lte=link.last_message_id, superseded=False
    ).exclude(status=Message.Status.STREAMING).order_by("id")


def shared_link_active(*, conversation: Conversation) -> SharedLink | None:
    """The conversation's live link, if it has one."""
    return conversation.shared_links.filter(revoked_at__isnull=True).first()
