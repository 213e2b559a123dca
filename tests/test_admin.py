"""The admin: transcripts and usage, searchable and filterable, messages read-only."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from history import add_message

from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:conversations_conversation_changelist")


def chat(owner, title: str, model_id: str = "fake", *messages: tuple[str, str, str]):
    conversation = Conversation.objects.create(owner=owner, title=title, model_id=model_id)
    for role, content, status in messages:
        add_message(conversation=conversation, role=role, content=content,
                               status=status, model_id=model_id if role == "assistant" else "")
    return conversation


@pytest.fixture
def chats(alice, bob):
    return {
        "trip": chat(
            alice, "Trip to Seoul", "fake",
            ("user", "Where should I eat in Mapo?", "complete"),
            ("assistant", "Try the market near Mangwon.", "complete"),
        ),
        "bug": chat(
            alice, "A failing test", "tiny",
            ("user", "Why does my test fail?", "complete"),
            ("assistant", "", "error"),
        ),
        "poem": chat(
            bob, "A poem", "fake",
            ("user", "Write a poem about kimchi", "complete"),
            ("assistant", "Red and crisp", "stopped"),
        ),
    }


def shown(response) -> set[str]:
    assert response.status_code == 200
    return {conversation.title for conversation in response.context["cl"].result_list}


def test_a_superuser_sees_every_conversation(admin_client_logged_in, chats):
    assert shown(admin_client_logged_in.get(CHANGELIST)) == {
        "Trip to Seoul", "A failing test", "A poem",
    }


def test_alice_who_is_not_staff_cannot_open_the_admin(client, alice):
    client.force_login(alice)

    response = client.get(CHANGELIST)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_search_by_title(admin_client_logged_in, chats):
    assert shown(admin_client_logged_in.get(CHANGELIST, {"q": "seoul"})) == {"Trip to Seoul"}


def test_search_by_owner(admin_client_logged_in, chats):
    assert shown(admin_client_logged_in.get(CHANGELIST, {"q": "bob"})) == {"A poem"}


def test_search_by_message_text(admin_client_logged_in, chats):
    response = admin_client_logged_in.get(CHANGELIST, {"q": "Mangwon"})

    assert shown(response) == {"Trip to Seoul"}
    assert len(response.context["cl"].result_list) == 1


def test_search_matching_several_messages_lists_the_conversation_once(
    admin_client_logged_in, chats
):
    # "e" is in both messages of every conversation.
    response = admin_client_logged_in.get(CHANGELIST, {"q": "e"})

    titles = [c.title for c in response.context["cl"].result_list]
    assert sorted(titles) == ["A failing test", "A poem", "Trip to Seoul"]


def test_filter_by_model(admin_client_logged_in, chats):
    response = admin_client_logged_in.get(CHANGELIST, {"model_id": "tiny"})

    assert shown(response) == {"A failing test"}


def test_filter_by_message_status(admin_client_logged_in, chats):
    assert shown(admin_client_logged_in.get(CHANGELIST, {"messages__status": "error"})) == {
        "A failing test"
    }
    assert shown(admin_client_logged_in.get(CHANGELIST, {"messages__status": "stopped"})) == {
        "A poem"
    }


def totals(response, title: str) -> tuple[int, Decimal]:
    """The message count and total cost the changelist shows for one conversation."""
    (row,) = [c for c in response.context["cl"].result_list if c.title == title]
    model_admin = response.context["cl"].model_admin
    return model_admin.message_count(row), model_admin.total_cost(row)


@pytest.mark.parametrize(
    "query",
    [{}, {"messages__status": "complete"}, {"q": "Seoul"}, {"q": "Mapo"}],
    ids=["unfiltered", "filtered-by-status", "searched-by-title", "searched-by-message"],
)
def test_filters_and_search_keep_the_message_count_and_cost_right(
    admin_client_logged_in, chats, query
):
    Message.objects.filter(conversation=chats["trip"]).update(cost=Decimal("0.25"))

    response = admin_client_logged_in.get(CHANGELIST, query)

    assert totals(response, "Trip to Seoul") == (2, Decimal("0.5"))


def test_filter_by_date(admin_client_logged_in, chats):
    old = timezone.now() - timedelta(days=40)
    Conversation.objects.filter(pk=chats["poem"].pk).update(created_at=old)
    # As the admin's own "Past 7 days" link does: aware midnights.
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)

    recent = admin_client_logged_in.get(
        CHANGELIST,
        {
            "created_at__gte": str(today - timedelta(days=7)),
            "created_at__lt": str(today + timedelta(days=1)),
        },
    )
    by_year_and_month = admin_client_logged_in.get(
        CHANGELIST,
        {"created_at__year": str(old.year), "created_at__month": str(old.month)},
    )

    assert shown(recent) == {"Trip to Seoul", "A failing test"}
    assert "A poem" in shown(by_year_and_month)


def test_the_changelist_shows_owner_and_totals(admin_client_logged_in, chats):
    Message.objects.filter(conversation=chats["trip"], role="assistant").update(
        cost=Decimal("0.0123")
    )

    html = admin_client_logged_in.get(CHANGELIST).content.decode()

    assert ">alice</td>" in html
    assert '<td class="field-message_count">2</td>' in html
    assert ">0.0123" in html


def test_the_change_page_shows_messages_inline_read_only(admin_client_logged_in, chats):
    conversation = chats["trip"]
    url = reverse("admin:conversations_conversation_change", args=[conversation.pk])

    response = admin_client_logged_in.get(url)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Where should I eat in Mapo?" in html
    assert "Try the market near Mangwon." in html
    assert 'name="messages-0-content"' not in html
    assert 'name="messages-0-role"' not in html
    assert "Add another message" not in html
    (inline,) = response.context["inline_admin_formsets"]
    assert len(inline.formset.forms) == 2


def test_the_message_changelist_searches_text(admin_client_logged_in, chats):
    url = reverse("admin:conversations_message_changelist")

    response = admin_client_logged_in.get(url, {"q": "Mangwon"})

    assert response.status_code == 200
    assert [m.content for m in response.context["cl"].result_list] == [
        "Try the market near Mangwon."
    ]
