"""Reads of conversations: the owner's list, one by its public id, its cost."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import QuerySet, Sum
from django.http import Http404

from conversations.models import Conversation


def conversation_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Conversation]:
    """List the user's conversations, most recently active first."""
    return Conversation.objects.filter(owner=user).order_by("-updated_at")


def conversation_get_for_user(
    *, user: AbstractBaseUser, public_id: uuid.UUID | str
) -> Conversation:
    """Return the user's conversation with this public id, or raise Http404."""
    try:
        conversation = Conversation.objects.get(owner=user, public_id=public_id)
    except (Conversation.DoesNotExist, ValidationError, ValueError, TypeError):
        raise Http404("No such conversation.") from None
    # The owner is the user at hand: a socket's every send reads it (limits),
    # and would otherwise look it up again each time.
    conversation.owner = user
    return conversation


def conversation_cost(*, conversation: Conversation) -> Decimal:
    """Total cost of every answer in the conversation."""
    total = conversation.messages.aggregate(total=Sum("cost"))["total"]
    return total or Decimal("0")


def conversation_refresh_with_cost(*, conversation: Conversation) -> Decimal:
    """Reload the conversation's model and system prompt; return its total cost.

    One query where a frame needed two: another view may have switched the
    model or edited the prompt (the gauge depends on both), and the cost grew.
    """
    row = (
        Conversation.objects.filter(pk=conversation.pk)
        .values("model_id", "system_prompt")
        .annotate(total=Sum("messages__cost"))
        .get()
    )
    conversation.model_id, conversation.system_prompt = row["model_id"], row["system_prompt"]
    return row["total"] or Decimal("0")
