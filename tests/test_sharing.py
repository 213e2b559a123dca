"""Read-only share links: snapshot, same-URL update, revoke, login setting, fork."""

import re

import pytest
from django.urls import reverse
from history import add_message

from conversations import services
from conversations.models import Conversation, SharedLink

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_chat(alice):
    conversation = services.conversation_create(owner=alice)
    conversation.title = "Trip to Busan"
    conversation.save()
    for role, content in [
        ("user", "Where should I eat in Busan?"),
        ("assistant", "Try **Jagalchi** fish market."),
    ]:
        add_message(conversation=conversation, role=role, content=content)
    return conversation


def share(client, conversation) -> SharedLink:
    response = client.post(reverse("conversations:share", args=[conversation.public_id]))
    assert response.status_code == 302
    return SharedLink.objects.get(conversation=conversation, revoked_at__isnull=True)


def test_tokens_are_long_random_and_unique(alice):
    conversation = services.conversation_create(owner=alice)
    add_message(conversation=conversation, role="user", content="hi")
    tokens = set()
    for _ in range(50):
        link = services.shared_link_share(conversation=conversation)
        tokens.add(link.token)
        services.shared_link_revoke(link=link)
    assert len(tokens) == 50
    # 24 random bytes, URL-safe base64: 192 bits, well over the 128 asked for.
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", token) for token in tokens)


def test_the_shared_page_shows_the_snapshot_and_nothing_else(client, alice, alices_chat):
    client.force_login(alice)
    link = share(client, alices_chat)
    add_message(conversation=alices_chat, role="user", content="And after that?")
    other = services.conversation_create(owner=alice)
    other.title = "Alice's secret plans"
    other.save()
    client.logout()

    response = client.get(link.get_absolute_url())

    html = response.content.decode()
    assert response.status_code == 200
    assert "Where should I eat in Busan?" in html
    assert "<strong>Jagalchi</strong>" in html
    assert "And after that?" not in html  # after the snapshot
    assert "Alice's secret plans" not in html
    assert "alice" not in html.lower()  # not even the owner's name
    assert "out tokens" not in html  # no usage or cost
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    # The token stays out of other sites' referrers; same-origin forms keep their Origin.
    assert response["Referrer-Policy"] == "same-origin"
    assert "Content-Security-Policy" in response


def test_update_keeps_the_url_and_moves_the_snapshot(client, alice, alices_chat):
    client.force_login(alice)
    first = share(client, alices_chat)
    add_message(conversation=alices_chat, role="user", content="And after that?")

    second = share(client, alices_chat)

    assert second.pk == first.pk and second.token == first.token
    client.logout()
    assert "And after that?" in client.get(first.get_absolute_url()).content.decode()


def test_revoke_makes_the_link_404_at_once(client, alice, alices_chat):
    client.force_login(alice)
    link = share(client, alices_chat)

    response = client.post(reverse("conversations:shared_link_revoke", args=[link.pk]))

    assert response.status_code == 302
    client.logout()
    assert client.get(link.get_absolute_url()).status_code == 404
    # Sharing again makes a new link; the revoked URL stays dead.
    client.force_login(alice)
    new = share(client, alices_chat)
    assert new.token != link.token
    assert client.get(link.get_absolute_url()).status_code == 404


def test_deleting_the_conversation_kills_its_links(client, alice, alices_chat):
    client.force_login(alice)
    link = share(client, alices_chat)
    client.post(reverse("conversations:delete", args=[alices_chat.public_id]))

    assert client.get(link.get_absolute_url()).status_code == 404


def test_views_are_counted_and_listed_for_the_owner(client, alice, bob, alices_chat):
    client.force_login(alice)
    link = share(client, alices_chat)
    client.logout()
    client.get(link.get_absolute_url())
    client.get(link.get_absolute_url())

    client.force_login(alice)
    html = " ".join(client.get(reverse("conversations:shared_links")).content.decode().split())

    assert "Trip to Busan" in html
    assert "<td>2</td>" in html


def test_a_login_can_be_required_by_the_site(client, alice, alices_chat, settings):
    client.force_login(alice)
    link = share(client, alices_chat)
    client.logout()
    settings.PARLEY_SHARE_REQUIRES_LOGIN = True

    response = client.get(link.get_absolute_url())

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_bob_cannot_share_revoke_or_list_alices_links(client, alice, bob, alices_chat):
    link = services.shared_link_share(conversation=alices_chat)
    client.force_login(bob)

    share_url = reverse("conversations:share", args=[alices_chat.public_id])
    revoke_url = reverse("conversations:shared_link_revoke", args=[link.pk])
    assert client.post(share_url).status_code == 404
    assert client.post(revoke_url).status_code == 404
    assert "Trip to Busan" not in client.get(reverse("conversations:shared_links")).content.decode()
    link.refresh_from_db()
    assert link.is_active


def test_a_reader_continues_the_conversation_in_their_own_account(client, alice, bob, alices_chat):
    link = services.shared_link_share(conversation=alices_chat)
    add_message(conversation=alices_chat, role="user", content="Not shared")
    client.force_login(bob)

    response = client.post(reverse("conversations:shared_continue", args=[link.token]))

    copy = Conversation.objects.get(owner=bob)
    assert response.status_code == 302 and response["Location"] == copy.get_absolute_url()
    assert list(copy.messages.values_list("role", "content")) == [
        ("user", "Where should I eat in Busan?"),
        ("assistant", "Try **Jagalchi** fish market."),
    ]
    assert alices_chat.messages.count() == 3  # the original is untouched


def test_continuing_needs_an_account(client, alice, alices_chat):
    link = services.shared_link_share(conversation=alices_chat)

    response = client.post(reverse("conversations:shared_continue", args=[link.token]))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert Conversation.objects.count() == 1


def test_an_empty_conversation_cannot_be_shared(client, alice):
    conversation = services.conversation_create(owner=alice)
    client.force_login(alice)

    response = client.post(
        reverse("conversations:share", args=[conversation.public_id]), HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 400
    assert "nothing to share yet" in response.content.decode()
    assert not SharedLink.objects.exists()


def test_the_share_panel_shows_the_link_with_htmx(client, alice, alices_chat):
    client.force_login(alice)

    response = client.post(
        reverse("conversations:share", args=[alices_chat.public_id]), HTTP_HX_REQUEST="true"
    )

    link = SharedLink.objects.get()
    html = response.content.decode()
    assert f'value="http://testserver{link.get_absolute_url()}"' in html
    assert "Update link" in html and "Revoke" in html


# What a snapshot holds: the title then, and the system prompt only if chosen ----


def test_the_shared_page_and_a_copy_keep_the_title_of_the_snapshot(
    client, alice, bob, alices_chat
):
    link = services.shared_link_share(conversation=alices_chat)
    services.conversation_rename(conversation=alices_chat, title="Private: moving to Busan")

    page = client.get(link.get_absolute_url()).content.decode()
    client.force_login(bob)
    client.post(reverse("conversations:shared_continue", args=[link.token]))

    assert "Trip to Busan" in page
    assert "moving" not in page
    assert Conversation.objects.get(owner=bob).title == "Trip to Busan"


def test_updating_the_link_takes_the_new_title(client, alice, alices_chat):
    link = services.shared_link_share(conversation=alices_chat)
    services.conversation_rename(conversation=alices_chat, title="Busan, updated")

    services.shared_link_share(conversation=alices_chat)

    assert "Busan, updated" in client.get(link.get_absolute_url()).content.decode()


def test_continuing_does_not_copy_the_owners_system_prompt(client, alice, bob, alices_chat):
    secret = "You are Alice's private assistant; her PIN is 1234."
    services.conversation_set_system_prompt(conversation=alices_chat, system_prompt=secret)
    link = services.shared_link_share(conversation=alices_chat)
    client.force_login(bob)

    client.post(reverse("conversations:shared_continue", args=[link.token]))

    assert Conversation.objects.get(owner=bob).system_prompt == ""


def test_the_owner_may_share_the_system_prompt_as_it_was(client, alice, bob, alices_chat):
    services.conversation_set_system_prompt(conversation=alices_chat, system_prompt="Be a guide.")
    client.force_login(alice)
    url = reverse("conversations:share", args=[alices_chat.public_id])
    page = client.get(alices_chat.get_absolute_url()).content.decode()
    assert 'name="with_system_prompt"' in page
    client.post(url, {"with_system_prompt": "true"})
    link = SharedLink.objects.get(conversation=alices_chat)
    services.conversation_set_system_prompt(conversation=alices_chat, system_prompt="Changed.")
    client.force_login(bob)

    client.post(reverse("conversations:shared_continue", args=[link.token]))

    assert Conversation.objects.get(owner=bob).system_prompt == "Be a guide."
