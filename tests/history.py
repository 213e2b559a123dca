"""Writing conversation history directly, for tests that need a given past."""

from __future__ import annotations

from conversations.models import Message

_LEAF = object()


def add_message(*, conversation, parent=_LEAF, **fields) -> Message:
    """Save a message after the newest one of the branch shown (its parent), as a turn would."""
    if parent is _LEAF:
        parent = conversation.messages.filter(off_branch=False).order_by("-id").first()
    return Message.objects.create(conversation=conversation, parent=parent, **fields)
