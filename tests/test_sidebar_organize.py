"""The sidebar's organizing: pinned and archived conversations, each owner's alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from sidebar import ARCHIVED, HOME, SIDEBAR, chat, entries, logged_in, sidebar_list, titles_by_group

from conversations import selectors, services
from conversations.models import Conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(alice) -> Client:
    return logged_in(alice)


@pytest.fixture
def bob_client(bob) -> Client:
    return logged_in(bob)


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
