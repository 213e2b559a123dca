"""The admin's conversations: transcripts, actions, share links, and who may reach them."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from history import message

from conversations.models import Conversation, SharedLink

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:conversations_conversation_changelist")
USAGE = reverse("admin:conversations_usage")


def transcript_url(conversation: Conversation) -> str:
    return reverse("admin:conversations_conversation_transcript", args=[conversation.pk])


# -- Transcript ---------------------------------------------------------------------------


@pytest.fixture
def seoul(alice):
    conversation = Conversation.objects.create(
        owner=alice, title="Trip to Seoul", model_id="fake", system_prompt="Be brief."
    )
    message(conversation, "user", "Where should I eat?\nNear <script>alert('u')</script> Mapo.")
    message(conversation, "assistant",
            "Try **Mangwon market**, then `tteokbokki`.\n\n<script>alert('a')</script>",
            model_id="fake", input_tokens=1234, output_tokens=56, cost=Decimal("0.0123"),
            time_to_first_token_ms=210, duration_ms=1500)
    message(conversation, "user", "And for dessert?")
    message(conversation, "assistant", "Bingsu.", model_id="fake", status="error",
            error="The model server did not answer.")
    return conversation


def test_the_transcript_shows_the_messages_in_order_with_markdown_rendered(
    admin_client_logged_in, seoul
):
    response = admin_client_logged_in.get(transcript_url(seoul))

    assert response.status_code == 200
    html = response.content.decode()
    order = [html.index(text) for text in
             ("Where should I eat?", "Mangwon market", "And for dessert?", "Bingsu.")]
    assert order == sorted(order)
    assert "<strong>Mangwon market</strong>" in html
    assert "<code>tteokbokki</code>" in html
    assert "Be brief." in html
    assert "The model server did not answer." in html


def test_the_transcript_escapes_script_in_user_and_assistant_text(admin_client_logged_in, seoul):
    html = admin_client_logged_in.get(transcript_url(seoul)).content.decode()

    assert "alert(" in html
    assert "<script>alert(" not in html
    assert "&lt;script&gt;alert(&#x27;u&#x27;)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert('a')&lt;/script&gt;" in html


def test_the_transcript_shows_each_answers_role_model_status_tokens_and_cost(
    admin_client_logged_in, seoul
):
    html = admin_client_logged_in.get(transcript_url(seoul)).content.decode()

    assert "Assistant · Fake model" in html
    assert "User (alice)" in html
    assert "1,234 in" in html
    assert "56 out tokens" in html
    assert "$0.0123" in html
    assert "first token 210 ms" in html
    assert html.count("<time datetime=") >= 4
    assert "· complete" in html
    assert "transcript-message--assistant is-error" in html


def test_the_changelist_and_the_change_page_link_to_the_transcript(
    admin_client_logged_in, seoul
):
    change = reverse("admin:conversations_conversation_change", args=[seoul.pk])

    changelist_html = admin_client_logged_in.get(CHANGELIST).content.decode()
    change_html = admin_client_logged_in.get(change).content.decode()

    assert f'href="{transcript_url(seoul)}"' in changelist_html
    assert f'href="{transcript_url(seoul)}"' in change_html
    # The raw read-only inline stays on the change page.
    assert 'name="messages-0-content"' not in change_html
    assert "Mangwon market" in change_html


def test_the_transcript_of_a_missing_conversation_is_a_404(admin_client_logged_in):
    url = reverse("admin:conversations_conversation_transcript", args=[987654])

    assert admin_client_logged_in.get(url).status_code == 404


# -- Actions ------------------------------------------------------------------------------


def run_action(client, action: str, conversations):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [c.pk for c in conversations]},
    )


def test_export_as_json_round_trips_the_selected_conversations(
    admin_client_logged_in, seoul, usage, bob
):
    other = Conversation.objects.create(owner=bob, title="Not selected", model_id="fake")

    response = run_action(admin_client_logged_in, "export_as_json", [seoul, usage])

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="parley-conversations-\d{8}-\d{6}\.json"',
        response["Content-Disposition"],
    )
    exported = {c["public_id"]: c for c in json.loads(response.content)["conversations"]}
    assert set(exported) == {str(seoul.public_id), str(usage.public_id)}
    assert str(other.public_id) not in exported
    first = exported[str(seoul.public_id)]
    assert (first["owner"], first["title"], first["model_id"], first["system_prompt"]) == (
        "alice", "Trip to Seoul", "fake", "Be brief."
    )
    for conversation in (seoul, usage):
        messages = exported[str(conversation.public_id)]["messages"]
        saved = list(conversation.messages.order_by("id"))
        assert [
            (m["role"], m["content"], m["status"], m["model_id"], m["input_tokens"],
             m["output_tokens"], Decimal(m["cost"]), datetime.fromisoformat(m["created_at"]))
            for m in messages
        ] == [
            (m.role, m.content, m.status, m.model_id, m.input_tokens, m.output_tokens, m.cost,
             m.created_at)
            for m in saved
        ]
    assert exported[str(seoul.public_id)]["messages"][1]["cost"] == "0.01230000"


def share(conversation, *, revoked: bool = False) -> SharedLink:
    last = conversation.messages.order_by("-id").first()
    return SharedLink.objects.create(
        conversation=conversation, last_message=last,
        revoked_at=timezone.now() - timedelta(days=1) if revoked else None,
    )


@pytest.fixture
def linked(alice, bob):
    """Three conversations, each with an active share link; one has an older revoked one."""
    made = {}
    for owner, title in ((alice, "one"), (alice, "two"), (bob, "three")):
        conversation = Conversation.objects.create(owner=owner, title=title, model_id="fake")
        message(conversation, "user", f"{title}?")
        made[title] = conversation
    old = share(made["one"], revoked=True)
    links = {title: share(conversation) for title, conversation in made.items()}
    return made, links, old


def test_revoke_share_links_revokes_only_the_selected_conversations_links(
    admin_client_logged_in, linked
):
    conversations, links, old = linked
    old_revoked_at = old.revoked_at

    response = run_action(admin_client_logged_in, "revoke_share_links",
                          [conversations["one"], conversations["two"]])

    assert response.status_code == 302
    for link in (*links.values(), old):
        link.refresh_from_db()
    assert links["one"].revoked_at is not None
    assert links["two"].revoked_at is not None
    assert links["three"].revoked_at is None
    assert old.revoked_at == old_revoked_at
    followed = admin_client_logged_in.get(response["Location"]).content.decode()
    assert "Revoked 2 share links." in followed


def test_revoking_where_there_is_no_active_link_says_so(admin_client_logged_in, seoul):
    response = run_action(admin_client_logged_in, "revoke_share_links", [seoul])

    followed = admin_client_logged_in.get(response["Location"]).content.decode()
    assert "None of the selected conversations had an active share link." in followed


def test_the_share_link_admin_lists_links_read_only(admin_client_logged_in, linked):
    url = reverse("admin:conversations_sharedlink_changelist")

    response = admin_client_logged_in.get(url, {"active": "yes"})

    assert response.status_code == 200
    assert {link.conversation.title for link in response.context["cl"].result_list} == {
        "one", "two", "three",
    }
    html = response.content.decode()
    assert ">alice</td>" in html and ">bob</td>" in html
    assert "Add shared link" not in html
    revoked = admin_client_logged_in.get(url, {"active": "no"})
    assert len(revoked.context["cl"].result_list) == 1
    _conversations, links, _old = linked
    change = reverse("admin:conversations_sharedlink_change", args=[links["one"].pk])
    assert 'name="views"' not in admin_client_logged_in.get(change).content.decode()


# -- Access -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        USAGE,
        USAGE + "?format=csv&table=day",
        "transcript",
        reverse("admin:conversations_sharedlink_changelist"),
    ],
)
def test_alice_who_is_not_staff_is_sent_to_the_admin_login(client, alice, seoul, url):
    client.force_login(alice)
    if url == "transcript":
        url = transcript_url(seoul)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_alice_who_is_not_staff_cannot_run_the_actions(client, alice, linked):
    conversations, links, _old = linked
    client.force_login(alice)

    response = run_action(client, "revoke_share_links", [conversations["one"]])

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    links["one"].refresh_from_db()
    assert links["one"].revoked_at is None


def test_an_admin_export_imports_back_into_an_account(admin_client_logged_in, seoul, bob):
    from conversations.exports import conversations_import

    response = run_action(admin_client_logged_in, "export_as_json", [seoul])

    imported = conversations_import(owner=bob, data=json.loads(response.content))

    assert [c.title for c in imported] == [seoul.title]
    assert list(imported[0].messages.values_list("role", "content")) == list(
        seoul.messages.order_by("id").values_list("role", "content")
    )
