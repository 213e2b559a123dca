"""Reading the sidebar from a page, and conversations made for it at a given time."""

from __future__ import annotations

import re
from datetime import datetime

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conversations import services
from conversations.models import Conversation

HOME = reverse("conversations:home")
ARCHIVED = reverse("conversations:archived")
SIDEBAR = reverse("conversations:sidebar")
ITEM = re.compile(r'<li id="conv-([0-9a-f-]{36})"')
HEADING = re.compile(r'<li class="conversation-group"><h2>([^<]+)</h2></li>')
MORE = re.compile(r'<li class="conversation-more" hx-get="([^"]+)"')


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def chat(owner, title: str, updated_at: datetime | None = None) -> Conversation:
    """A titled conversation, last active at `updated_at` (auto_now: set by update())."""
    conversation = services.conversation_create(owner=owner)
    services.conversation_rename(conversation=conversation, title=title)
    if updated_at is not None:
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=updated_at)
    conversation.refresh_from_db()
    return conversation


def sidebar_list(html: str) -> str:
    start = html.index('<ul id="conversation-list"')
    return html[start : html.index("</ul>", start)]


def entries(fragment: str) -> list[tuple[str, str]]:
    """The headings ("h", label) and conversations ("c", public id) in page order."""
    found = [(m.start(), "h", m.group(1)) for m in HEADING.finditer(fragment)]
    found += [(m.start(), "c", m.group(1)) for m in ITEM.finditer(fragment)]
    return [(kind, value) for _, kind, value in sorted(found)]


def titles_by_group(html: str) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    current = None
    for kind, value in entries(sidebar_list(html)):
        if kind == "h":
            current = groups.setdefault(value, [])
        else:
            current.append(str(Conversation.objects.get(public_id=value)))
    return groups


def local_midnight() -> datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
