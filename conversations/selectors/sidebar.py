"""The sidebar's reads: pinned, archived, and pages of conversations grouped by day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.models import Conversation

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
