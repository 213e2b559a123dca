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


def shared_link_share(
    *, conversation: Conversation, with_system_prompt: bool = False
) -> SharedLink:
    """Share the conversation as it is now: its active link, re-snapshotted, or a new one.

    The snapshot is the branch shown, the title, and the system prompt only if
    `with_system_prompt` (a reader who continues the conversation gets it).
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
    snapshot = {
        "last_message": last,
        "title": conversation.title,
        "system_prompt": conversation.system_prompt if with_system_prompt else "",
    }
    with transaction.atomic():
        link = (
            SharedLink.objects.select_for_update()
            .filter(conversation=conversation, revoked_at__isnull=True)
            .first()
        )
        if link is None:
            return SharedLink.objects.create(conversation=conversation, **snapshot)
        for name, value in snapshot.items():
            setattr(link, name, value)
        link.save(update_fields=[*snapshot, "updated_at"])
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
            title=link.title,
            model_id=source.model_id,
            # Only what the owner chose to share, as it was when shared.
            system_prompt=link.system_prompt,
        )
        parent = None
        for message in shared_messages(link=link):
            parent = Message.objects.create(
                conversation=copy,
                parent=parent,
                role=message.role,
                content=message.content,
                content_html=message.content_html,
                content_html_version=message.content_html_version,
                status=message.status,
                error=message.error,
                model_id=message.model_id,
                token_count=message.token_count,
                token_encoding=message.token_encoding,
            )
    return copy

