"""The sidebar's date groups and its pages loaded on scroll."""

from __future__ import annotations

import html as html_lib
from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone
from sidebar import (
    ARCHIVED,
    HOME,
    MORE,
    SIDEBAR,
    chat,
    entries,
    local_midnight,
    logged_in,
    sidebar_list,
    titles_by_group,
)

from conversations import selectors, services
from conversations.models import Conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(alice) -> Client:
    return logged_in(alice)


# --- date groups ---------------------------------------------------------------------


def test_conversations_are_grouped_by_day_of_last_activity(alice, alice_client):
    midnight = local_midnight()
    chat(alice, "Older 2", midnight - timedelta(days=30))
    chat(alice, "Week", midnight - timedelta(days=3))
    chat(alice, "Older 1", midnight - timedelta(days=8))
    chat(alice, "Week edge", midnight - timedelta(days=6, hours=23))
    chat(alice, "Yesterday late", midnight - timedelta(seconds=1))
    chat(alice, "Yesterday early", midnight - timedelta(hours=23, minutes=59))
    chat(alice, "Today", timezone.now())

    groups = titles_by_group(alice_client.get(HOME).content.decode())

    assert groups == {
        "Today": ["Today"],
        "Yesterday": ["Yesterday late", "Yesterday early"],
        "Previous 7 days": ["Week", "Week edge"],
        "Older": ["Older 1", "Older 2"],
    }


def test_the_day_is_that_of_the_current_time_zone():
    moment = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)  # 05:00 on the 11th in Seoul

    with timezone.override("Asia/Seoul"):
        assert selectors.sidebar_period(moment=moment, today=date(2026, 3, 11)) == "Today"
    with timezone.override("UTC"):
        assert selectors.sidebar_period(moment=moment, today=date(2026, 3, 11)) == "Yesterday"


# --- pages loaded on scroll ----------------------------------------------------------


def make_history(owner, count: int) -> list[Conversation]:
    """`count` conversations across every group, some sharing one timestamp; newest first."""
    midnight = local_midnight()
    conversations = []
    for i in range(count):
        # Pairs share an updated_at, so the cursor must break ties by id.
        updated_at = midnight - timedelta(hours=5 * (i // 2)) + timedelta(seconds=1)
        conversations.append(chat(owner, f"Chat {i:03}", min(updated_at, timezone.now())))
    return sorted(conversations, key=lambda c: (c.updated_at, c.pk), reverse=True)


def scroll_through(client: Client) -> tuple[list[tuple[str, str]], int]:
    """Load the home page, then every next page as the sentinel asks; return all entries."""
    html = sidebar_list(client.get(HOME).content.decode())
    found, pages = entries(html), 1
    while more := MORE.search(html):
        response = client.get(html_lib.unescape(more.group(1)), HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        html = response.content.decode()
        assert "<ul" not in html and "<html" not in html
        found += entries(html)
        pages += 1
    return found, pages


def test_scrolling_loads_every_conversation_once_in_order_with_each_heading_once(
    alice, alice_client
):
    expected = make_history(alice, 75)

    found, pages = scroll_through(alice_client)

    assert pages == 3  # 30 + 30 + 15
    ids = [value for kind, value in found if kind == "c"]
    assert ids == [str(c.public_id) for c in expected]
    headings = [value for kind, value in found if kind == "h"]
    assert headings == ["Today", "Yesterday", "Previous 7 days", "Older"]


def test_a_group_that_continues_onto_the_next_page_keeps_one_heading(alice, alice_client):
    now = timezone.now()
    for i in range(selectors.SIDEBAR_PAGE_SIZE + 5):
        chat(alice, f"Old {i}", now - timedelta(days=30, minutes=i))

    found, pages = scroll_through(alice_client)

    assert pages == 2
    assert [value for kind, value in found if kind == "h"] == ["Older"]
    assert len([kind for kind, _ in found if kind == "c"]) == selectors.SIDEBAR_PAGE_SIZE + 5


def test_new_activity_between_pages_duplicates_nothing(alice, alice_client):
    history = make_history(alice, 45)
    first = sidebar_list(alice_client.get(HOME).content.decode())
    shown = [value for kind, value in entries(first) if kind == "c"]
    # One conversation on the first page and one not loaded yet become active.
    for conversation in (history[3], history[40]):
        services.turn_start(conversation=conversation, content="Still here?")

    more = html_lib.unescape(MORE.search(first).group(1))
    second = alice_client.get(more, HTTP_HX_REQUEST="true").content.decode()
    loaded = [value for kind, value in entries(second) if kind == "c"]

    assert not set(shown) & set(loaded)
    assert loaded == [str(c.public_id) for c in history[30:] if c != history[40]]


def test_the_current_conversation_stays_highlighted_on_a_later_page(alice, alice_client):
    history = make_history(alice, 35)
    current = history[-1]
    html = sidebar_list(alice_client.get(current.get_absolute_url()).content.decode())
    more = html_lib.unescape(MORE.search(html).group(1))

    page = alice_client.get(more, HTTP_HX_REQUEST="true").content.decode()

    assert f'<li id="conv-{current.public_id}" class="conversation-item is-current"' in page


@pytest.mark.parametrize("cursor", ["nonsense", "12_x", "1_2_3", "9" * 30 + "_1"])
def test_a_bad_cursor_is_a_400(alice_client, cursor):
    response = alice_client.get(SIDEBAR, {"cursor": cursor})

    assert response.status_code == 400
    assert "Not a sidebar cursor" in response.content.decode()


def test_each_page_takes_a_bounded_number_of_queries(
    alice, alice_client, django_assert_max_num_queries
):
    history = make_history(alice, 70)
    for conversation in history[:3]:
        services.conversation_pin(conversation=conversation, pinned=True)
    for conversation in history[3:6]:
        services.conversation_archive(conversation=conversation, archived=True)
    html = sidebar_list(alice_client.get(HOME).content.decode())
    more = html_lib.unescape(MORE.search(html).group(1))

    # Session, user, and the page itself.
    with django_assert_max_num_queries(3):
        alice_client.get(more, HTTP_HX_REQUEST="true")
    # Session, user, theme, pinned list and the first page.
    with django_assert_max_num_queries(5):
        alice_client.get(HOME)
    # Session, user, theme, count and one page of the archive.
    with django_assert_max_num_queries(5):
        alice_client.get(ARCHIVED)
