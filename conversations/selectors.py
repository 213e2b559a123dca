"""Reads. Every conversation lookup is scoped to its owner: another user's id is a 404."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.models import Comparison, ComparisonVote, Conversation, Message, SharedLink


def conversation_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Conversation]:
    """List the user's conversations, most recently active first."""
    return Conversation.objects.filter(owner=user).order_by("-updated_at")


# Conversations per sidebar page; the next page loads as the reader scrolls.
SIDEBAR_PAGE_SIZE = 30
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class SidebarGroup:
    """Conversations of one period; `continued` when its heading is on an earlier page."""

    label: str
    continued: bool = False
    conversations: list[Conversation] = field(default_factory=list)


@dataclass
class SidebarPage:
    """One page of the sidebar's date groups, and the cursor of the next page if any."""

    groups: list[SidebarGroup]
    next_cursor: str | None


def sidebar_period(*, moment: datetime, today: date) -> str:
    """Name the sidebar group of a moment: Today, Yesterday, Previous 7 days or Older."""
    day = timezone.localdate(moment)
    if day >= today:
        return _("Today")
    if day == today - timedelta(days=1):
        return _("Yesterday")
    if day >= today - timedelta(days=7):
        return _("Previous 7 days")
    return _("Older")


def _cursor_format(conversation: Conversation) -> str:
    micros = (conversation.updated_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}_{conversation.pk}"


def _cursor_parse(cursor: str) -> tuple[datetime, int]:
    try:
        micros, pk = (int(part) for part in cursor.split("_"))
        return EPOCH + timedelta(microseconds=micros), pk
    except (ValueError, OverflowError):
        raise ValidationError(
            _("Not a sidebar cursor: %(cursor)r.") % {"cursor": cursor[:40]}
        ) from None


def conversation_list_sidebar(*, user: AbstractBaseUser) -> QuerySet[Conversation]:
    """The user's conversations that the sidebar lists by date (neither pinned nor archived)."""
    return Conversation.objects.filter(
        owner=user, pinned_at__isnull=True, archived_at__isnull=True
    ).order_by("-updated_at", "-id")


def conversation_list_pinned(*, user: AbstractBaseUser) -> QuerySet[Conversation]:
    """The user's pinned conversations, most recently pinned first."""
    return Conversation.objects.filter(
        owner=user, pinned_at__isnull=False, archived_at__isnull=True
    ).order_by("-pinned_at", "-id")


def conversation_list_archived(*, user: AbstractBaseUser) -> QuerySet[Conversation]:
    """The user's archived conversations, most recently archived first."""
    return Conversation.objects.filter(owner=user, archived_at__isnull=False).order_by(
        "-archived_at", "-id"
    )


def conversation_sidebar_page(
    *,
    user: AbstractBaseUser,
    cursor: str | None = None,
    size: int = SIDEBAR_PAGE_SIZE,
    today: date | None = None,
) -> SidebarPage:
    """One page of the sidebar in one query, grouped by day of last activity.

    The cursor is the (updated_at, id) of the last conversation shown, so a
    conversation that becomes active meanwhile moves up instead of being shown
    twice; the group it fell in marks the first group of this page as continued,
    so that its heading is not repeated. Raises ValidationError for a bad cursor.
    """
    today = today or timezone.localdate()
    conversations = conversation_list_sidebar(user=user)
    previous_period = None
    if cursor:
        updated_at, pk = _cursor_parse(cursor)
        conversations = conversations.filter(
            Q(updated_at__lt=updated_at) | Q(updated_at=updated_at, id__lt=pk)
        )
        previous_period = sidebar_period(moment=updated_at, today=today)
    rows = list(conversations[: size + 1])
    shown = rows[:size]
    groups: list[SidebarGroup] = []
    for conversation in shown:
        period = sidebar_period(moment=conversation.updated_at, today=today)
        if not groups or groups[-1].label != period:
            continued = not groups and period == previous_period
            groups.append(SidebarGroup(label=period, continued=continued))
        groups[-1].conversations.append(conversation)
    next_cursor = _cursor_format(shown[-1]) if len(rows) > size else None
    return SidebarPage(groups=groups, next_cursor=next_cursor)


def conversation_get_for_user(
    *, user: AbstractBaseUser, public_id: uuid.UUID | str
) -> Conversation:
    """Return the user's conversation with this public id, or raise Http404."""
    try:
        return Conversation.objects.get(owner=user, public_id=public_id)
    except (Conversation.DoesNotExist, ValidationError, ValueError, TypeError):
        raise Http404("No such conversation.") from None


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


# Comparisons ---------------------------------------------------------------

# Blind answers are named by their column.
COLUMN_NAMES = "ABCD"


@dataclass
class ComparisonView:
    """A comparison as its grid shows it: answers in column order, whether names are hidden."""

    comparison: Comparison
    answers: list[Message]
    vote: ComparisonVote | None
    # Nothing was written after it on the branch: an answer may be kept.
    open: bool = False

    @property
    def hidden(self) -> bool:
        """The models are not named yet: a blind comparison before its vote."""
        return self.comparison.blind and self.vote is None

    @property
    def streaming(self) -> bool:
        return any(answer.status == Message.Status.STREAMING for answer in self.answers)

    @property
    def outcomes(self) -> list[tuple[str, str]]:
        return ComparisonVote.Outcome.choices

    @property
    def votable(self) -> bool:
        return self.hidden and len(self.answers) == 2

    @property
    def keepable(self) -> bool:
        return self.open and not self.hidden


def _answer_label(answer: Message, index: int, *, hidden: bool, view: ComparisonView) -> None:
    answer.in_comparison = True
    answer.comparison_view_of = view
    answer.column_name = COLUMN_NAMES[index]
    answer.blind_label = COLUMN_NAMES[index] if hidden else ""


def comparisons_annotate(*, messages: list[Message]) -> list[Message]:
    """Set `comparison_view` on each shown answer whose comparison is not kept (else None).

    Such an answer is drawn as the comparison's grid, with its sibling answers
    (off the branch) beside it. One query when the branch has no comparison.
    """
    for message in messages:
        message.comparison_view = None
    if not messages:
        return messages
    # The conversation's open comparisons are few: no IN list of the shown ids
    # (a long conversation would make it thousands long).
    shown = {m.pk for m in messages if m.role == Message.Role.USER}
    comparisons = {
        c.question_id: c
        for c in Comparison.objects.filter(
            conversation_id=messages[0].conversation_id, kept__isnull=True
        ).select_related("vote")
        if c.question_id in shown
    }
    if not comparisons:
        return messages
    siblings: dict[int, list[Message]] = {}
    for answer in Message.objects.filter(
        parent_id__in=list(comparisons), role=Message.Role.ASSISTANT
    ).order_by("id"):
        siblings.setdefault(answer.parent_id, []).append(answer)
    leaf_id = messages[-1].pk
    for message in messages:
        comparison = comparisons.get(message.parent_id)
        if comparison is None or message.role != Message.Role.ASSISTANT:
            continue
        # The shown answer is drawn from the branch's own object (a frame may
        # have emptied its text); its siblings from the query.
        answers = [message if a.pk == message.pk else a for a in siblings[message.parent_id]]
        view = ComparisonView(
            comparison=comparison,
            answers=answers,
            vote=getattr(comparison, "vote", None),
            open=message.pk == leaf_id,
        )
        for index, answer in enumerate(answers):
            answer.alternatives = None  # the grid shows them all
            _answer_label(answer, index, hidden=view.hidden, view=view)
        message.comparison_view = view
    return messages


def comparison_answer_annotate(*, message: Message) -> Message:
    """Label one answer drawn alone (a finished frame) as its comparison's grid does."""
    comparison = (
        Comparison.objects.filter(question_id=message.parent_id, kept__isnull=True)
        .select_related("vote")
        .first()
        if message.role == Message.Role.ASSISTANT and message.parent_id
        else None
    )
    if comparison is None:
        return message
    ids = list(
        Message.objects.filter(parent_id=message.parent_id, role=Message.Role.ASSISTANT)
        .order_by("id")
        .values_list("id", flat=True)
    )
    view = ComparisonView(
        comparison=comparison,
        answers=[],
        vote=getattr(comparison, "vote", None),
        open=not message.conversation.messages.filter(
            off_branch=False, id__gt=max(ids)
        ).exists(),
    )
    message.alternatives = None
    _answer_label(message, ids.index(message.pk), hidden=view.hidden, view=view)
    return message


def comparison_get(*, conversation: Conversation, comparison_id: int) -> Comparison:
    """Return one comparison of this conversation, or raise Http404."""
    try:
        return Comparison.objects.select_related("conversation", "question").get(
            pk=comparison_id, conversation=conversation
        )
    except (Comparison.DoesNotExist, ValueError, TypeError):
        raise Http404("No such comparison.") from None


def comparison_streaming_ids(*, conversation: Conversation, comparison_id: int) -> list[int]:
    """Ids of a comparison's answers still being written."""
    return list(
        Message.objects.filter(
            conversation=conversation,
            parent__comparison__pk=comparison_id,
            status=Message.Status.STREAMING,
        ).values_list("id", flat=True)
    )
