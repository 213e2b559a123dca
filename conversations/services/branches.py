"""The branch shown: the line of messages a conversation shows, and switching versions.

A conversation's messages form a tree (edits and regenerations add siblings);
the messages with `off_branch=False` are the one line it shows. Changes to that
line are serialised per conversation (`_lock`) and refused while an answer
streams. The turns (turns.py, comparisons.py) use these checks in their own
transactions; `branch_switch` checks first and then writes in one: when it
raises, nothing changed.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils.translation import gettext as _

from conversations.models import Conversation, Message


def _lock(conversation: Conversation) -> None:
    """Serialise changes to one conversation's branch until the transaction ends.

    PostgreSQL locks the conversation's row; SQLite's IMMEDIATE transactions
    (settings) hold the database's write lock from their first statement.
    """
    rows = Conversation.objects.filter(pk=conversation.pk).values("pk")
    if connection.features.has_select_for_update:
        rows = rows.select_for_update()
    if not list(rows):
        # Deleted in another window while this one was open.
        raise ValidationError(_("This conversation was deleted."))


def _require_idle(conversation: Conversation) -> None:
    if conversation.messages.filter(status=Message.Status.STREAMING).exists():
        raise ValidationError(_("Wait for the answer to finish, or stop it, before sending."))


def _branch_leaf_when_idle(conversation: Conversation) -> int | None:
    """Id of the newest message of the branch shown, which a new question follows.

    Raises ValidationError while an answer streams: a streaming answer is
    always that newest message (nothing branches while one streams).
    """
    leaf = (
        conversation.messages.filter(off_branch=False)
        .order_by("-id")
        .values_list("id", "status")
        .first()
    )
    if leaf is not None and leaf[1] == Message.Status.STREAMING:
        raise ValidationError(_("Wait for the answer to finish, or stop it, before sending."))
    return leaf[0] if leaf else None


def _branch_leave(conversation: Conversation, *, first: Message) -> None:
    """Take `first` and everything after it off the branch shown.

    Raises ValidationError when `first` already left it (another view was quicker).
    """
    if not Message.objects.filter(pk=first.pk, off_branch=False).update(off_branch=True):
        raise ValidationError(
            _("This message was changed in another window; reload to see it.")
        )
    conversation.messages.filter(off_branch=False, id__gt=first.pk).update(off_branch=True)


def _branch_message(conversation: Conversation, message_id: int, role: str) -> Message:
    message = conversation.messages.filter(pk=message_id, role=role, off_branch=False).first()
    if message is None:
        raise ValidationError(_("That message is not on the branch shown; reload to see it."))
    return message


def branch_switch(*, conversation: Conversation, message_id: int, step: int) -> Message:
    """Show the previous (step -1) or next (+1) alternative of a message on the branch.

    The branch continues down the alternative's newest line of messages, so
    coming back to a version shows where that version's conversation left off.
    Returns the alternative now shown; raises ValidationError when there is none.
    """
    if step not in (-1, 1):
        raise ValidationError(_("Choose the previous or the next version."))
    shown = conversation.messages.filter(pk=message_id, off_branch=False).first()
    if shown is None:
        raise ValidationError(_("That message is not on the branch shown; reload to see it."))
    siblings = conversation.messages.filter(parent_id=shown.parent_id).order_by("id")
    ids = list(siblings.values_list("id", flat=True))
    position = ids.index(shown.pk) + step
    if not 0 <= position < len(ids):
        raise ValidationError(_("There is no other version that way."))
    target_id = ids[position]
    # Descendants have larger ids than their ancestors: one query of pairs suffices.
    parents = dict(
        conversation.messages.filter(id__gte=target_id).values_list("id", "parent_id")
    )
    subtree = {target_id}
    for child_id in sorted(parents):
        if parents[child_id] in subtree:
            subtree.add(child_id)
    path, node = [], max(subtree)
    while node != target_id:
        path.append(node)
        node = parents[node]
    path.append(target_id)
    with transaction.atomic():
        _lock(conversation)
        _require_idle(conversation)
        _branch_leave(conversation, first=shown)
        conversation.messages.filter(id__in=path).update(off_branch=False)
    return conversation.messages.get(pk=target_id)
