"""Pages, through Django's test client and the real database."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conversations import services
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db

HOME = reverse("conversations:home")
CREATE = reverse("conversations:create")


class Scripts(HTMLParser):
    """The <script> elements of a page: their src and their inline text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.scripts: list[dict] = []
        self._inside = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts.append({"src": dict(attrs).get("src"), "text": ""})
            self._inside = True

    def handle_endtag(self, tag):
        if tag == "script":
            self._inside = False

    def handle_data(self, data):
        if self._inside:
            self.scripts[-1]["text"] += data


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


@pytest.fixture
def alices_chat(alice) -> Conversation:
    conversation = services.conversation_create(owner=alice)
    turn = services.turn_start(conversation=conversation, content="Alice's secret plan")
    services.messages_checkpoint(message_texts={turn.assistant_message.id: "Noted."})
    Message.objects.filter(pk=turn.assistant_message.id).update(status=Message.Status.COMPLETE)
    conversation.refresh_from_db()
    return conversation


def sidebar_titles(html: str) -> list[str]:
    start = html.index('class="conversation-list"')
    end = html.index("</ul>", start)
    return [
        chunk.split("</a>")[0].split(">")[-1]
        for chunk in html[start:end].split("<a ")[1:]
    ]


# --- signing in ----------------------------------------------------------------------


@pytest.mark.parametrize("url", [HOME, "/c/00000000-0000-0000-0000-000000000000/"])
def test_anonymous_visitors_are_sent_to_log_in(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_anonymous_visitors_cannot_start_a_conversation(client):
    response = client.post(CREATE, {"message": "hi"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not Message.objects.exists()


# --- home and a new conversation -----------------------------------------------------
# conversation_create is an async view whose database calls go through Channels'
# database_sync_to_async, which closes a connection that is inside a transaction:
# those tests need real transactions.
async_view = pytest.mark.django_db(transaction=True)


def test_home_shows_the_composer_with_the_usable_models(alice_client):
    response = alice_client.get(HOME)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="composer"' in html
    assert f'action="{CREATE}"' in html
    assert 'name="message"' in html
    # The usable models, the default chosen, as choices for the composer's form.
    assert '<input type="radio" name="model" value="fake" form="composer" checked>' in html
    assert '<input type="radio" name="model" value="tiny" form="composer">' in html
    assert 'value="keyed"' not in html  # its key variable is not set
    assert "No conversations yet." in html


@async_view
def test_sending_a_first_message_creates_a_conversation_and_goes_to_it(alice, alice_client):
    response = alice_client.post(
        CREATE, {"message": "What is htmx?", "model": "tiny", "system_prompt": "Be brief."}
    )

    conversation = Conversation.objects.get(owner=alice)
    assert response.status_code == 302
    assert response["Location"] == conversation.get_absolute_url()
    assert conversation.model_id == "tiny"
    assert conversation.system_prompt == "Be brief."
    assert conversation.title == "What is htmx?"
    user_message = conversation.messages.get(role="user")
    assert user_message.content == "What is htmx?"
    assert conversation.messages.filter(role="assistant").count() == 1


@async_view
def test_an_empty_message_shows_an_error_and_keeps_the_system_prompt(alice_client):
    response = alice_client.post(
        CREATE, {"message": "   ", "model": "fake", "system_prompt": "Talk like a pirate."}
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "Type a message first." in html
    assert 'role="alert"' in html
    assert ">Talk like a pirate.</textarea>" in html
    assert not Conversation.objects.exists()


@async_view
def test_a_message_too_long_for_the_model_keeps_the_draft(alice_client):
    draft = "word " * 200

    response = alice_client.post(CREATE, {"message": draft, "model": "tiny"})

    assert response.status_code == 400
    html = response.content.decode()
    assert "too long for Tiny window model" in html
    assert draft.strip() in html
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()


@async_view
def test_an_unknown_model_is_an_error_not_a_crash(alice_client):
    response = alice_client.post(CREATE, {"message": "hi", "model": "gpt-17"})

    assert response.status_code == 400
    assert "Unknown model" in response.content.decode()
    assert not Conversation.objects.exists()


@async_view
def test_a_model_without_its_key_is_refused(alice_client, monkeypatch):
    monkeypatch.delenv("PARLEY_TEST_UNSET_KEY", raising=False)

    response = alice_client.post(CREATE, {"message": "hi", "model": "keyed"})

    assert response.status_code == 400
    assert "PARLEY_TEST_UNSET_KEY is not set" in response.content.decode()


def test_the_create_url_by_get_is_the_new_chat_page(alice_client):
    # A refused first message is shown at this URL; a language or theme switch
    # from there comes back to it by GET, which must not be a 405.
    response = alice_client.get(CREATE)
    assert response.status_code == 302
    assert response["Location"] == HOME


# --- a conversation page -------------------------------------------------------------


def test_alice_sees_her_conversation_with_its_messages(alice_client, alices_chat):
    response = alice_client.get(alices_chat.get_absolute_url())

    assert response.status_code == 200
    html = response.content.decode()
    assert "Alice&#x27;s secret plan" in html
    assert "Noted." in html
    assert f'ws-connect="/ws/c/{alices_chat.public_id}/"' in html
    assert 'aria-current="page"' in html


def test_a_message_written_by_the_model_is_sanitised_on_the_page(alice_client, alices_chat):
    reply = alices_chat.messages.get(role="assistant")
    reply.content = '**hi** <script>alert(1)</script> [x](javascript:alert(1))'
    reply.save()

    html = alice_client.get(alices_chat.get_absolute_url()).content.decode()

    assert "<strong>hi</strong>" in html
    assert "<script>alert(1)</script>" not in html
    assert 'href="javascript:' not in html


def test_the_sidebar_lists_only_alices_conversations_newest_first(alice, bob, alice_client):
    titles = ["Oldest", "Middle", "Newest"]
    now = timezone.now()
    for age, title in enumerate(reversed(titles)):
        conversation = services.conversation_create(owner=alice)
        services.conversation_rename(conversation=conversation, title=title)
        Conversation.objects.filter(pk=conversation.pk).update(
            updated_at=now - timedelta(minutes=age)
        )
    bobs = services.conversation_create(owner=bob)
    services.conversation_rename(conversation=bobs, title="Bob's private chat")

    html = alice_client.get(HOME).content.decode()

    assert sidebar_titles(html) == ["Newest", "Middle", "Oldest"]
    assert "Bob&#x27;s private chat" not in html


# --- bob and alice's conversation ----------------------------------------------------


def test_bob_cannot_see_alices_conversation(bob_client, alices_chat):
    response = bob_client.get(alices_chat.get_absolute_url())

    assert response.status_code == 404
    assert "secret plan" not in response.content.decode()


def test_bob_cannot_rename_alices_conversation(bob_client, alices_chat):
    url = reverse("conversations:rename", args=[alices_chat.public_id])

    response = bob_client.post(url, {"title": "Owned by bob"})

    assert response.status_code == 404
    alices_chat.refresh_from_db()
    assert alices_chat.title == "Alice's secret plan"


def test_bob_cannot_delete_alices_conversation(bob_client, alices_chat):
    url = reverse("conversations:delete", args=[alices_chat.public_id])

    assert bob_client.get(url).status_code == 404
    assert bob_client.post(url).status_code == 404
    assert Conversation.objects.filter(pk=alices_chat.pk).exists()


def test_an_unknown_conversation_is_a_404(alice_client):
    assert alice_client.get("/c/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert alice_client.get("/c/not-a-uuid/").status_code == 404


# --- rename and delete ---------------------------------------------------------------


def test_renaming_without_htmx_redirects_back(alice_client, alices_chat):
    url = reverse("conversations:rename", args=[alices_chat.public_id])

    response = alice_client.post(url, {"title": "Weekend plans"})

    assert response.status_code == 302
    assert response["Location"] == alices_chat.get_absolute_url()
    alices_chat.refresh_from_db()
    assert alices_chat.title == "Weekend plans"


def test_renaming_with_htmx_returns_the_title_partial(alice_client, alices_chat):
    url = reverse("conversations:rename", args=[alices_chat.public_id])

    response = alice_client.post(url, {"title": "Weekend plans"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<div id="chat-title"' in html
    assert "<h1>Weekend plans</h1>" in html
    # The sidebar entry is swapped whole, still a link to the conversation.
    assert f'<li id="conv-{alices_chat.public_id}"' in html
    assert 'hx-swap-oob="true"' in html
    assert f'href="{alices_chat.get_absolute_url()}"' in html
    assert "<html" not in html
    assert 'id="composer"' not in html


def test_an_empty_title_with_htmx_is_an_alert(alice_client, alices_chat):
    url = reverse("conversations:rename", args=[alices_chat.public_id])

    response = alice_client.post(url, {"title": "  "}, HTTP_HX_REQUEST="true")

    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="chat-alert"' in html
    assert "A title cannot be empty." in html
    alices_chat.refresh_from_db()
    assert alices_chat.title == "Alice's secret plan"


def test_an_empty_title_without_htmx_is_flashed(alice_client, alices_chat):
    url = reverse("conversations:rename", args=[alices_chat.public_id])

    response = alice_client.post(url, {"title": ""}, follow=True)

    assert "A title cannot be empty." in response.content.decode()
    alices_chat.refresh_from_db()
    assert alices_chat.title == "Alice's secret plan"


def test_delete_asks_for_confirmation_first(alice_client, alices_chat):
    url = reverse("conversations:delete", args=[alices_chat.public_id])

    response = alice_client.get(url)

    assert response.status_code == 200
    assert "Delete this conversation?" in response.content.decode()
    assert Conversation.objects.filter(pk=alices_chat.pk).exists()


def test_delete_after_confirmation_removes_everything_and_goes_home(alice_client, alices_chat):
    url = reverse("conversations:delete", args=[alices_chat.public_id])

    response = alice_client.post(url, follow=True)

    assert response.redirect_chain == [(HOME, 302)]
    assert "Deleted" in response.content.decode()
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()


def test_delete_with_htmx_redirects_the_browser(alice_client, alices_chat):
    url = reverse("conversations:delete", args=[alices_chat.public_id])

    response = alice_client.post(url, HTTP_HX_REQUEST="true")

    assert response["HX-Redirect"] == "/"
    assert not Conversation.objects.exists()


# --- security headers ----------------------------------------------------------------


def csp_directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize("page", ["home", "conversation", "login"])
def test_pages_have_a_strict_content_security_policy(page, alice_client, alices_chat, client):
    if page == "home":
        response = alice_client.get(HOME)
    elif page == "conversation":
        response = alice_client.get(alices_chat.get_absolute_url())
    else:
        response = client.get(reverse("login"))

    directives = csp_directives(response)
    assert directives["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert directives["img-src"] == ["'self'", "data:"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]


def test_pages_have_no_inline_script(alice_client, alices_chat):
    html = alice_client.get(alices_chat.get_absolute_url()).content.decode()

    scripts = Scripts(html).scripts
    assert scripts
    for script in scripts:
        assert script["src"], script
        assert script["text"].strip() == ""


def test_pages_cannot_be_framed(alice_client):
    assert alice_client.get(HOME)["X-Frame-Options"] == "DENY"
