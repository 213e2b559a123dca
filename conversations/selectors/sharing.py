"""Reads of shared links and of the snapshot a link shows."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import Http404

from conversations.models import Conversation, Message, SharedLink
from conversations.selectors.messages import message_path


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


def shared_messages(*, link: SharedLink) -> list[Message]:
    """The snapshot a link shows: the branch that was shown when it was shared."""
    return [
        message
        for message in message_path(message=link.last_message)
        if message.status != Message.Status.STREAMING
    ]


def shared_link_active(*, conversation: Conversation) -> SharedLink | None:
    """The conversation's live link, if it has one."""
    return conversation.shared_links.filter(revoked_at__isnull=True).first()
