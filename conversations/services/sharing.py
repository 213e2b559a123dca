"""Read-only links to a snapshot of a conversation, and copies of it for readers."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.models import Conversation, Message, SharedLink
from conversations.selectors import shared_messages


def shared_link_share(*, conversation: Conversation) -> SharedLink:
    """Share the conversation as it is now: its active link, re-snapshotted, or a new one.

    Updating keeps the URL, so a link already sent shows the newer snapshot.
    """
    last = (
        conversation.messages.filter(off_branch=False)
        .exclude(status=Message.Status.STREAMING)
        .order_by("-id")
        .first()
    )
    if last is None:
        raise ValidationError(_("There is nothing to share yet: send a message first."))
    with transaction.atomic():
        link = (
            SharedLink.objects.select_for_update()
            .filter(conversation=conversation, revoked_at__isnull=True)
            .first()
        )
        if link is None:
            return SharedLink.objects.create(conversation=conversation, last_message=last)
        link.last_message = last
        link.save(update_fields=["last_message", "updated_at"])
        return link


def shared_link_revoke(*, link: SharedLink) -> SharedLink:
    """Turn the link off at once: its page answers 404 from now on."""
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at", "updated_at"])
    return link


def shared_link_count_view(*, link: SharedLink) -> None:
    """Count one visit of a shared page."""
    SharedLink.objects.filter(pk=link.pk).update(views=F("views") + 1)


def shared_link_fork(*, link: SharedLink, reader: AbstractBaseUser) -> Conversation:
    """Copy the shared snapshot into the reader's own account to chat on from there."""
    source = link.conversation
    with transaction.atomic():
        copy = Conversation.objects.create(
            owner=reader,
            title=source.title,
            model_id=source.model_id,
            system_prompt=source.system_prompt,
        )
        parent = None
        for message in shared_messages(link=link):
            parent = Message.objects.create(
                conversation=copy,
                parent=parent,
                role=message.role,
                content=message.content,
                status=message.status,
                error=message.error,
                model_id=message.model_id,
                token_count=message.token_count,
                token_encoding=message.token_encoding,
            )
    return copy

