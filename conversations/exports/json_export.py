"""Export conversations as Parley JSON documents.

The format is one shape for one conversation or all of them:
{"format": "parley.conversations.v1", "exported_at": ..., "conversations": [...]}.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.selectors import conversation_list_for_user

FORMAT = "parley.conversations.v1"


def conversation_list_for_export(*, user: AbstractBaseUser) -> QuerySet[Conversation]:
    """List the user's conversations with their messages in order, oldest first."""
    return (
        conversation_list_for_user(user=user)
        .order_by("created_at", "id")
        .prefetch_related(Prefetch("messages", queryset=Message.objects.order_by("id")))
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _message_json(message: Message, positions: dict[int, int]) -> dict[str, Any]:
    return {
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "error": message.error,
        "model_id": message.model_id,
        "input_tokens": message.input_tokens,
        "output_tokens": message.output_tokens,
        "usage_estimated": message.usage_estimated,
        "cost": str(message.cost),
        "time_to_first_token_ms": message.time_to_first_token_ms,
        "duration_ms": message.duration_ms,
        # Messages form a tree: the position (in this list) of the message this
        # one follows; alternatives share a parent. `off_branch` marks those not
        # on the branch shown.
        "parent": positions.get(message.parent_id) if message.parent_id else None,
        "off_branch": message.off_branch,
        "created_at": _iso(message.created_at),
    }


def _conversation_json(conversation: Conversation, *, with_owner: bool) -> dict[str, Any]:
    messages = list(conversation.messages.all())
    positions = {message.pk: index for index, message in enumerate(messages)}
    # Admins' exports say whose conversation it was; import ignores these fields.
    owner = (
        {"public_id": str(conversation.public_id), "owner": conversation.owner.get_username()}
        if with_owner
        else {}
    )
    return {
        **owner,
        "title": conversation.title,
        "model_id": conversation.model_id,
        "system_prompt": conversation.system_prompt,
        "created_at": _iso(conversation.created_at),
        "updated_at": _iso(conversation.updated_at),
        "messages": [_message_json(message, positions) for message in messages],
    }


def _document(conversations, *, with_owner: bool = False) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "exported_at": timezone.now().isoformat(),
        "conversations": [_conversation_json(c, with_owner=with_owner) for c in conversations],
    }


def conversations_export_for_admin(*, conversations: QuerySet[Conversation]) -> dict[str, Any]:
    """Export any conversations (an admin's selection), with their owners, as one document."""
    rows = conversations.select_related("owner").prefetch_related(
        Prefetch("messages", queryset=Message.objects.order_by("id"))
    )
    return _document(rows, with_owner=True)


def conversation_export_json(*, conversation: Conversation) -> dict[str, Any]:
    """Export one conversation, every message included, as a JSON-ready document."""
    return _document([conversation])


def conversations_export_json(*, user: AbstractBaseUser) -> dict[str, Any]:
    """Export all of the user's conversations as one JSON-ready document."""
    return _document(conversation_list_for_export(user=user))
