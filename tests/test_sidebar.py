"""The sidebar: pinned and archived conversations, date groups and pages loaded on scroll."""

from __future__ import annotations

import html as html_lib
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conversations import selectors, services
from conversations.models import Conversation

pytestmark = pytest.mark.django_db

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


@pytest.fixture
def alice_client(alice) -> Client:
    return logged_in(alice)


@pytest.fixture
def bob_client(bob) -> Client:
    return logged_in(bob)


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


# --- pin -----------------------------------------------------------------------------


def test_pinned_conversations_come_first_most_recently_pinned_on_top(alice, alice_client):
    now = timezone.now()
    old = chat(alice, "Old but pinned", now - timedelta(days=40))
    recent = chat(alice, "Recent", now)
    also = chat(alice, "Pinned first", now - timedelta(days=2))
    services.conversation_pin(conversation=also, pinned=True)
    services.conversation_pin(conversation=old, pinned=True)

    groups = titles_by_group(alice_client.get(HOME).content.decode())

    assert list(groups) == ["Pinned", "Today"]
    assert groups["Pinned"] == ["Old but pinned", "Pinned first"]
    assert groups["Today"] == [str(recent)]


def test_unpinning_puts_a_conversation_back_in_its_date_group(alice, alice_client):
    conversation = chat(alice, "Pin me", timezone.now() - timedelta(days=40))
    services.conversation_pin(conversation=conversation, pinned=True)

    services.conversation_pin(conversation=conversation, pinned=False)

    assert titles_by_group(alice_client.get(HOME).content.decode()) == {"Older": ["Pin me"]}


def test_pinning_is_not_activity(alice):
    before = timezone.now() - timedelta(days=3)
    conversation = chat(alice, "Quiet", before)

    services.conversation_pin(conversation=conversation, pinned=True)
    services.conversation_archive(conversation=conversation, archived=True)

    conversation.refresh_from_db()
    assert conversation.updated_at == before


def test_pin_from_the_header_without_javascript_redirects_back(alice, alice_client):
    conversation = chat(alice, "Header pin")
    url = reverse("conversations:pin", args=[conversation.public_id])
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert f'action="{url}"' in page and f'hx-post="{url}"' in page
    assert 'name="pinned" value="true"' in page

    response = alice_client.post(url, {"pinned": "true"})

    assert response.status_code == 302
    assert response["Location"] == conversation.get_absolute_url()
    conversation.refresh_from_db()
    assert conversation.pinned_at is not None
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert 'name="pinned" value="false"' in page
    assert ">Unpin</button>" in page


def test_pin_with_htmx_swaps_the_header_controls_and_the_sidebar(alice, alice_client):
    conversation = chat(alice, "Htmx pin")
    url = reverse("conversations:pin", args=[conversation.public_id])

    response = alice_client.post(url, {"pinned": "true"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="chat-organize"')
    assert ">Unpin</button>" in html
    assert '<ul id="conversation-list" class="conversation-list" hx-swap-oob="true">' in html
    assert entries(sidebar_list(html)) == [("h", "Pinned"), ("c", str(conversation.public_id))]
    assert "is-current" in sidebar_list(html)
    assert "<html" not in html


@pytest.mark.parametrize("value", ["", "yes", "1", "TRUE"])
def test_a_pin_value_other_than_true_or_false_is_a_400(alice, alice_client, value):
    conversation = chat(alice, "Strict")
    url = reverse("conversations:pin", args=[conversation.public_id])

    response = alice_client.post(url, {"pinned": value})

    assert response.status_code == 400
    assert "pinned must be true or false" in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.pinned_at is None


# --- archive -------------------------------------------------------------------------


def test_archiving_moves_a_conversation_from_the_sidebar_to_the_archived_page(alice, alice_client):
    kept = chat(alice, "Kept")
    archived = chat(alice, "Put away")
    url = reverse("conversations:archive", args=[archived.public_id])

    response = alice_client.post(url, {"archived": "true"})

    assert response.status_code == 302
    assert response["Location"] == archived.get_absolute_url()
    home = alice_client.get(HOME).content.decode()
    assert f"conv-{archived.public_id}" not in home
    assert f"conv-{kept.public_id}" in home
    assert f'href="{ARCHIVED}"' in home
    page = alice_client.get(ARCHIVED).content.decode()
    assert f'href="{archived.get_absolute_url()}">Put away</a>' in page
    assert "Kept" not in page


def test_archiving_with_htmx_takes_it_out_of_the_sidebar_at_once(alice, alice_client):
    conversation = chat(alice, "Going away")
    url = reverse("conversations:archive", args=[conversation.public_id])

    html = alice_client.post(url, {"archived": "true"}, HTTP_HX_REQUEST="true").content.decode()

    assert ">Unarchive</button>" in html
    assert f"conv-{conversation.public_id}" not in sidebar_list(html)
    assert "No conversations yet." in sidebar_list(html)


def test_archiving_unpins_and_pinning_unarchives(alice):
    conversation = chat(alice, "Either or")
    services.conversation_pin(conversation=conversation, pinned=True)

    services.conversation_archive(conversation=conversation, archived=True)
    assert conversation.pinned_at is None and conversation.archived_at is not None

    services.conversation_pin(conversation=conversation, pinned=True)
    assert conversation.pinned_at is not None and conversation.archived_at is None


def test_an_archived_conversation_opens_and_can_be_unarchived_from_the_archived_page(
    alice, alice_client
):
    conversation = chat(alice, "In the archive")
    services.conversation_archive(conversation=conversation, archived=True)

    page = alice_client.get(conversation.get_absolute_url())
    assert page.status_code == 200
    assert ">Unarchive</button>" in page.content.decode()
    assert 'class="archived-badge"' in page.content.decode()

    url = reverse("conversations:archive", args=[conversation.public_id])
    response = alice_client.post(url, {"archived": "false", "from": "archived"})

    assert response.status_code == 302
    assert response["Location"] == ARCHIVED
    assert "Nothing is archived" in alice_client.get(ARCHIVED).content.decode()
    assert f"conv-{conversation.public_id}" in alice_client.get(HOME).content.decode()


def test_sending_a_message_brings_an_archived_conversation_back(alice):
    conversation = chat(alice, "Continued")
    stale = Conversation.objects.get(pk=conversation.pk)  # as a websocket holds it
    services.conversation_archive(conversation=conversation, archived=True)

    services.turn_start(conversation=stale, content="One more thing")

    conversation.refresh_from_db()
    assert conversation.archived_at is None
    assert list(selectors.conversation_list_sidebar(user=alice)) == [conversation]


# --- bob and alice's conversations ---------------------------------------------------


def test_bob_cannot_pin_or_archive_alices_conversation(alice, bob_client):
    conversation = chat(alice, "Alice's")

    pin = bob_client.post(
        reverse("conversations:pin", args=[conversation.public_id]), {"pinned": "true"}
    )
    archive = bob_client.post(
        reverse("conversations:archive", args=[conversation.public_id]), {"archived": "true"}
    )

    assert pin.status_code == archive.status_code == 404
    conversation.refresh_from_db()
    assert conversation.pinned_at is None and conversation.archived_at is None


def test_bob_sees_none_of_alices_pinned_archived_or_paged_conversations(alice, bob, bob_client):
    pinned = chat(alice, "Alice pinned")
    services.conversation_pin(conversation=pinned, pinned=True)
    archived = chat(alice, "Alice archived")
    services.conversation_archive(conversation=archived, archived=True)
    chat(alice, "Alice plain")
    chat(bob, "Bob's own")

    home = bob_client.get(HOME).content.decode()
    archived_page = bob_client.get(ARCHIVED).content.decode()
    page = bob_client.get(SIDEBAR).content.decode()

    for html in (home, archived_page, page):
        assert "Alice" not in html
    assert titles_by_group(home) == {"Today": ["Bob's own"]}
    assert "Nothing is archived" in archived_page


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
