"""The page around the chat: error pages, the welcoming start, search in the sidebar, dialogs."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import translation
from django.views.defaults import permission_denied, server_error
from history import add_message

from conversations import services
from conversations.backends import get_catalog
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db

HOME = reverse("conversations:home")
CREATE = reverse("conversations:create")
SEARCH = reverse("conversations:search")
KOREAN = {"accept-language": "ko-KR,ko;q=0.9"}


def client_for(user, language: str = "en") -> Client:
    client = Client(headers=KOREAN if language == "ko" else {"accept-language": "en"})
    client.force_login(user)
    return client


# Error pages ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "heading"), [("en", "Page not found"), ("ko", "페이지를 찾을 수 없음")]
)
def test_a_missing_page_is_a_404_in_the_apps_look(alice, language, heading):
    response = client_for(alice, language).get("/no/such/page/")

    assert response.status_code == 404
    page = response.content.decode()
    assert f'<html lang="{language}"' in page
    assert f"<h1>{heading}</h1>" in page
    assert 'class="topbar"' in page and 'href="/static/parley/parley.css"' in page
    assert f'href="{HOME}"' in page


def test_a_revoked_share_link_is_the_apps_404_even_signed_out(alice):
    conversation = chat(alice, "Shared once", "Hello", "Hi!")
    link = services.shared_link_share(conversation=conversation)
    services.shared_link_revoke(link=link)

    response = Client(headers=KOREAN).get(link.get_absolute_url())

    assert response.status_code == 404
    assert "<h1>페이지를 찾을 수 없음</h1>" in response.content.decode()


@pytest.mark.parametrize(
    ("language", "heading"), [("en", "Something went wrong"), ("ko", "문제가 발생했습니다")]
)
def test_the_500_page_is_in_the_apps_look_with_no_request_context(language, heading):
    # Django renders it with no context at all (no request, no user): it must still draw.
    request = RequestFactory().get("/")
    with translation.override(language):
        response = server_error(request)

    assert response.status_code == 500
    page = response.content.decode()
    assert f"<h1>{heading}</h1>" in page
    assert 'class="topbar"' in page
    assert "csrfmiddlewaretoken" not in page  # no form that could only fail


@pytest.mark.parametrize(("language", "heading"), [("en", "Not allowed"), ("ko", "허용되지 않음")])
def test_the_403_page_is_in_the_apps_look(alice, language, heading):
    request = RequestFactory().get("/")
    request.user = alice
    with translation.override(language):
        response = permission_denied(request, PermissionDenied())

    assert response.status_code == 403
    assert f"<h1>{heading}</h1>" in response.content.decode()


@pytest.mark.django_db(transaction=True)  # the create view is async: real transactions
def test_a_language_switch_after_a_refused_new_chat_ends_on_the_new_chat_page(alice):
    client = client_for(alice)
    refused = client.post(CREATE, {"message": "   ", "model": "fake"})
    assert refused.status_code == 400

    response = client.post(
        reverse("set_language"), {"language": "ko", "next": CREATE}, follow=True
    )

    assert response.status_code == 200
    assert response.redirect_chain[-1] == (HOME, 302)
    assert '<html lang="ko"' in response.content.decode()


# A welcoming start ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "prompt"),
    [
        ("en", "Plan a relaxed two-day trip to Busan"),
        ("ko", "여유로운 부산 1박 2일 여행 계획을 세워 주세요"),
    ],
)
def test_a_new_chat_offers_the_usable_models_and_example_prompts(alice, language, prompt):
    page = client_for(alice, language).get(HOME).content.decode()

    assert f'data-prompt="{prompt}"' in page
    usable = get_catalog().usable()
    assert page.count('class="model-choice"') == len(usable) >= 2
    assert all(f'value="{model.id}"' in page for model in usable)
    assert 'value="keyed"' not in page


def test_a_conversation_has_no_welcome_but_its_dialogs(alice):
    conversation = services.conversation_create(owner=alice, model_id="fake")

    page = client_for(alice).get(conversation.get_absolute_url()).content.decode()

    assert "data-prompt=" not in page
    for dialog in ("rename-dialog", "settings-dialog", "share-dialog"):
        assert f'<dialog id="{dialog}"' in page
        assert f'data-dialog="{dialog}"' in page  # a button opens it
    assert page.count('<details class="menu') == 2  # the account and the conversation


# Search in the sidebar -----------------------------------------------------------


def chat(owner, title: str, *contents: str) -> Conversation:
    conversation = Conversation.objects.create(owner=owner, title=title, model_id="fake")
    for number, content in enumerate(contents):
        role = Message.Role.USER if number % 2 == 0 else Message.Role.ASSISTANT
        add_message(conversation=conversation, role=role, content=content)
    return conversation


def test_the_sidebar_box_gets_the_first_hits_as_a_fragment(alice):
    chat(alice, "Animals", "Tell me about stripes", "The **zebra** has <b>stripes</b>.")
    for number in range(12):
        chat(alice, f"Zebra fact {number}")

    response = client_for(alice).get(SEARCH, {"q": "zebra"}, headers={"HX-Request": "true"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and "<main" not in html
    assert html.count("data-search-hit") == 8 + 1  # eight hits and "See all"
    assert "See all 13 results" in html


def test_an_answers_snippet_is_its_rendered_words_escaped_with_the_match_marked(alice):
    chat(alice, "Animals", "Tell me about stripes", "The **zebra** has <b>stripes</b>.")

    response = client_for(alice).get(SEARCH, {"q": "zebra"}, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert "The <mark>zebra</mark> has &lt;b&gt;stripes&lt;/b&gt;." in html
    assert "**" not in html and "<b>" not in html


def test_an_empty_box_gives_an_empty_fragment_and_the_list_shows_again(alice):
    chat(alice, "Animals", "zebra")

    response = client_for(alice).get(SEARCH, {"q": "  "}, headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert response.content.decode().strip() == ""


def test_the_search_page_keeps_the_sidebar(alice):
    chat(alice, "Animals", "zebra")

    page = client_for(alice).get(SEARCH, {"q": "zebra"}).content.decode()

    assert 'id="sidebar"' in page and 'id="conversation-list"' in page
    assert 'class="search-hit"' in page


def test_a_reply_still_being_written_is_drawn_rendered_on_a_page_load(alice):
    conversation = chat(alice, "Streaming", "Hello")
    reply = add_message(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        content="**Done** block.\n\nThe open `tail\nstill open",
        status=Message.Status.STREAMING,
        model_id="fake",
    )

    page = client_for(alice).get(conversation.get_absolute_url()).content.decode()

    assert (
        f'<div id="msg-{reply.pk}-done" class="stream-done"><p><strong>Done</strong> block.</p>\n'
        in page
    )
    assert (
        f'<div id="msg-{reply.pk}-tail" class="stream-tail"><p>The open `tail\nstill open'
        f'<span id="msg-{reply.pk}-end" class="stream-end"></span></p>'
    ) in page
    assert "**" not in page
