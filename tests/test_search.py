"""Searching one's own conversations: titles and message text, matches highlighted."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from history import add_message

from conversations import services
from conversations.models import Conversation, Message
from conversations.rendering import mathml
from conversations.search import text_highlight

pytestmark = pytest.mark.django_db

SEARCH = reverse("conversations:search")


def chat(owner, title: str = "", *messages: str) -> Conversation:
    conversation = Conversation.objects.create(owner=owner, title=title, model_id="fake")
    for number, content in enumerate(messages):
        role = Message.Role.USER if number % 2 == 0 else Message.Role.ASSISTANT
        add_message(conversation=conversation, role=role, content=content)
    return conversation


def search_as(client, user, query: str, **params):
    client.force_login(user)
    return client.get(SEARCH, {"q": query, **params})


def main_of(response) -> str:
    """The results page without its sidebar (which lists the user's conversations)."""
    return response.content.decode().split("<main", 1)[1]


def hit_count(response) -> int:
    return main_of(response).count('class="search-hit"')


def test_finds_a_conversation_by_its_title_whatever_the_case(client, alice):
    trip = chat(alice, "Busan Trip Plans", "hello")
    chat(alice, "Groceries", "milk and eggs")

    response = search_as(client, alice, "busan")

    assert response.status_code == 200
    page = main_of(response)
    assert f'href="{trip.get_absolute_url()}"' in page
    assert "<mark>Busan</mark> Trip Plans" in page
    assert "Groceries" not in page
    assert response.context["results"].paginator.count == 1


def test_finds_a_message_by_its_text_and_links_to_it(client, alice):
    conversation = chat(alice, "Holidays", "Should I visit the Gyeongju museum?", "Yes, go.")
    question = conversation.messages.get(content__startswith="Should")

    response = search_as(client, alice, "GYEONGJU museum")

    page = main_of(response)
    assert f'href="{conversation.get_absolute_url()}#msg-{question.pk}"' in page
    assert "visit the <mark>Gyeongju</mark> <mark>museum</mark>?" in page
    assert hit_count(response) == 1


def test_every_word_must_appear_in_any_order(client, alice):
    chat(alice, "Trip to Busan")
    chat(alice, "Trip to Seoul")

    response = search_as(client, alice, "busan trip")

    assert response.context["results"].paginator.count == 1
    assert "Seoul" not in main_of(response)


def test_message_html_is_escaped_and_only_the_match_is_marked(client, alice):
    chat(alice, "Snippets", 'Look: <script>alert("x")</script> <b>needle</b>')

    response = search_as(client, alice, "needle")

    page = main_of(response)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&lt;b&gt;<mark>needle</mark>&lt;/b&gt;" in page
    assert "<script>alert" not in page
    assert "<b>needle" not in page


def test_a_query_made_of_markup_is_escaped_inside_the_mark(client, alice):
    chat(alice, "Markup", "Never trust <script> tags")

    response = search_as(client, alice, "<script>")

    page = main_of(response)
    assert "Never trust <mark>&lt;script&gt;</mark> tags" in page
    assert "<script>" not in page


def test_a_long_message_is_cut_around_the_match(client, alice):
    chat(alice, "Essay", "filler " * 100 + "the needle is here " + "tail " * 100)

    snippet = search_as(client, alice, "needle").context["results"][0].snippet

    assert "<mark>needle</mark>" in snippet
    assert snippet.startswith("…") and snippet.endswith("…")
    assert len(snippet) < 300


def test_bob_never_sees_alices_conversations(client, alice, bob):
    secret = chat(alice, "Secret plan", "the secret recipe is cardamom")
    mine = chat(bob, "My secret too")

    response = search_as(client, bob, "secret")

    page = main_of(response)
    assert str(secret.public_id) not in page
    assert "cardamom" not in page
    assert "Secret plan" not in page
    assert str(mine.public_id) in page
    assert response.context["results"].paginator.count == 1


def test_korean_words_are_found_also_inside_longer_words(client, alice):
    trip = chat(alice, "부산 여행 계획")
    talk = chat(alice, "휴가", "다음 달에 부산 여행을 가요")
    chat(alice, "서울", "서울에서 일해요")
    message = talk.messages.get()

    response = search_as(client, alice, "부산 여행")

    page = main_of(response)
    assert response.context["results"].paginator.count == 2
    assert f'href="{trip.get_absolute_url()}"' in page
    assert f'href="{message.get_absolute_url()}"' in page
    assert "<mark>부산</mark> <mark>여행</mark>을 가요" in page
    assert "서울" not in page


def test_results_come_twenty_to_a_page(client, alice):
    for number in range(25):
        chat(alice, f"Chat {number}", f"needle number {number}")

    first = search_as(client, alice, "needle")
    second = search_as(client, alice, "needle", page=2)

    assert hit_count(first) == 20
    assert hit_count(second) == 5
    assert 'href="?q=needle&amp;page=2"' in first.content.decode()
    assert 'href="?q=needle&amp;page=1"' in second.content.decode()
    seen = {hit.message.pk for page in (first, second) for hit in page.context["results"]}
    assert len(seen) == 25


def test_title_and_message_hits_share_the_pages(client, alice):
    for number in range(15):
        chat(alice, f"needle title {number}")
    for number in range(10):
        chat(alice, "", f"needle text {number}")

    first = search_as(client, alice, "needle")
    second = search_as(client, alice, "needle", page=2)

    assert [hit.message is None for hit in first.context["results"]] == [True] * 15 + [False] * 5
    assert [hit.message is None for hit in second.context["results"]] == [False] * 5


def test_queries_do_not_grow_with_the_number_of_hits(client, alice):
    chat(alice, "needle", "needle")
    client.force_login(alice)
    with CaptureQueriesContext(connection) as few:
        client.get(SEARCH, {"q": "needle"})
    for number in range(30):
        chat(alice, f"needle {number}" if number < 10 else f"chat {number}", f"needle {number}")
    with CaptureQueriesContext(connection) as many:
        response = client.get(SEARCH, {"q": "needle"})

    assert hit_count(response) == 20
    assert len(many) == len(few)


def test_an_empty_query_searches_nothing_and_gives_a_hint(client, alice):
    chat(alice, "Anything", "anything at all")

    response = search_as(client, alice, "   ")

    assert response.status_code == 200
    assert response.context["results"] is None
    assert "Type one or more words" in response.content.decode()
    assert hit_count(response) == 0


def test_no_match_says_so(client, alice):
    chat(alice, "Anything", "anything at all")

    response = search_as(client, alice, "zebra")

    assert "Nothing in your conversations matches “zebra”" in response.content.decode()


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(SEARCH, {"q": "secret"})

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_highlighting_ignores_case_and_keeps_the_original_text():
    marked = text_highlight(text="Busan and BUSAN & busan", terms=["busan"])

    assert marked == "<mark>Busan</mark> and <mark>BUSAN</mark> &amp; <mark>busan</mark>"


def test_only_the_branch_shown_is_searched(client, alice):
    conversation = chat(alice, "Trip", "Plan a trip to Jeju", "Sure, Jeju it is.")
    question = conversation.messages.get(content="Plan a trip to Jeju")
    services.turn_edit(conversation=conversation, message_id=question.pk, content="Plan Busan")

    assert hit_count(search_as(client, alice, "Jeju")) == 0
    assert hit_count(search_as(client, alice, "Busan")) == 1


# An answer's snippet is read from its rendering: bounded as the message is ---------------

FRACTION = "$\\frac{a}{b}$ "


def test_two_megabytes_of_fractions_are_searched_as_plain_text_converting_no_formula(
    client, alice, monkeypatch
):
    converted = []
    convert = mathml.latex_to_mathml

    def counted(latex: str, *, display: bool) -> str:
        converted.append(latex)
        return convert(latex, display=display)

    monkeypatch.setattr(mathml, "latex_to_mathml", counted)
    chat(alice, "Fractions", "Fractions?", "needle " + FRACTION * (2_000_000 // len(FRACTION)))

    snippet = search_as(client, alice, "needle").context["results"][0].snippet

    # Past the size bound the page shows the text as written; so does the snippet.
    assert converted == []
    assert snippet.startswith("<mark>needle</mark> $\\frac{a}{b}$ $\\frac{a}{b}$")
    assert len(snippet) < 300


def test_markdown_with_too_many_nodes_is_searched_as_plain_text(client, alice):
    chat(alice, "List", "A list?", "needle\n" + "- *a*\n" * 10_000)  # ~80,000 markdown nodes

    snippet = search_as(client, alice, "needle").context["results"][0].snippet

    assert snippet.startswith("<mark>needle</mark> - *a* - *a*")
    assert len(snippet) < 300
