"""Rendering costs a bounded amount per message, and a final message is rendered once.

Bounds are checked by counting (formulas converted, elements and characters of
output), never by timing.
"""

from __future__ import annotations

import pytest
from django.test import Client
from history import add_message

from conversations import services
from conversations.backends import get_model
from conversations.models import Message
from conversations.rendering.markdown import (
    RENDER_MAX_CHARS,
    RENDER_VERSION,
    markdown_render,
    plain_text_render,
)
from conversations.rendering.mathml import MATH_MAX_FORMULAS

FRACTION = "$\\frac{a}{b}$ "


def test_two_megabytes_of_fractions_become_plain_text_of_about_the_same_size():
    text = FRACTION * (2_000_000 // len(FRACTION))

    html = markdown_render(text)

    assert html.count("<math") == 0
    assert html.count("<p") == 1
    # Escaping adds nothing here: the output is the text and one paragraph's markup.
    assert len(html) <= len(text) + 100


def test_fractions_past_the_formula_budget_stay_as_written():
    count = RENDER_MAX_CHARS // len(FRACTION)  # ~7,100 formulas, under the size limit
    text = FRACTION * count

    html = markdown_render(text)

    assert html.count("<math") == MATH_MAX_FORMULAS
    assert html.count('<code class="math-error">') == count - MATH_MAX_FORMULAS
    # The MathML of 300 small fractions, plus the source of the rest.
    assert len(html) < 300 * len(markdown_render(FRACTION)) + 4 * len(text)


def test_a_huge_formula_is_shown_as_its_source():
    formula = "$" + "x^{2}+" * 1000 + "1$"

    html = markdown_render(formula)

    assert "<math" not in html
    assert html.count('<code class="math-error">') == 1


def test_markdown_with_too_many_nodes_becomes_plain_text():
    text = "- *a*\n" * 10_000  # 60 KB, but ~80,000 markdown nodes

    html = markdown_render(text)

    assert "<li>" not in html
    assert html.count('<p class="plain-text">') == 1
    assert html.count("<br>") == 9_999


def test_plain_text_is_escaped():
    html = plain_text_render("<script>alert(1)</script>\n\nnext")

    assert html == (
        '<p class="plain-text">&lt;script&gt;alert(1)&lt;/script&gt;</p>\n'
        '<p class="plain-text">next</p>\n'
    )


@pytest.mark.django_db
def test_an_answer_is_rendered_when_it_ends_and_the_page_shows_that_html(alice):
    conversation = services.conversation_create(owner=alice)
    question = add_message(conversation=conversation, role="user", content="Hi")
    answer = add_message(
        conversation=conversation, role="assistant", status="streaming", parent=question
    )
    model = get_model("fake")

    services.message_finish(
        message_id=answer.pk,
        model=model,
        content="**Bold** answer",
        status="complete",
        usage=None,
        estimated_input_tokens=3,
        time_to_first_token_ms=1,
        duration_ms=2,
    )

    answer.refresh_from_db()
    assert answer.content_html == "<p><strong>Bold</strong> answer</p>\n"
    assert answer.content_html_version == RENDER_VERSION
    # The page serves the stored HTML as it is: no rendering on the way.
    Message.objects.filter(pk=answer.pk).update(content_html="<p>stored once</p>")
    client = Client()
    client.force_login(alice)
    page = client.get(conversation.get_absolute_url()).content.decode()
    assert "<p>stored once</p>" in page
    assert "<strong>Bold</strong>" not in page


@pytest.mark.django_db
def test_html_of_an_older_renderer_is_rendered_again(alice):
    conversation = services.conversation_create(owner=alice)
    add_message(conversation=conversation, role="user", content="Hi")
    add_message(
        conversation=conversation,
        role="assistant",
        content="*new*",
        content_html="<p>old renderer</p>",
        content_html_version=RENDER_VERSION - 1,
    )
    client = Client()
    client.force_login(alice)

    page = client.get(conversation.get_absolute_url()).content.decode()

    assert "old renderer" not in page
    assert "<em>new</em>" in page


@pytest.mark.django_db
def test_an_answer_saved_without_html_is_rendered_once_by_the_shared_page(alice):
    conversation = services.conversation_create(owner=alice)
    add_message(conversation=conversation, role="user", content="Hi")
    answer = add_message(conversation=conversation, role="assistant", content="*kept*")
    link = services.shared_link_share(conversation=conversation)
    reader = Client()

    first = reader.get(link.get_absolute_url()).content.decode()
    answer.refresh_from_db()
    stored = answer.content_html
    Message.objects.filter(pk=answer.pk).update(content_html="<p>served as stored</p>")
    second = reader.get(link.get_absolute_url()).content.decode()

    assert "<em>kept</em>" in first
    assert stored == "<p><em>kept</em></p>\n"
    assert "<p>served as stored</p>" in second
