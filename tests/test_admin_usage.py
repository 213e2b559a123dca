"""The admin's transcripts, usage report, conversation actions and share links."""

from __future__ import annotations

import json
import re
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from history import add_message, add_request

from conversations.models import Conversation, Message, SharedLink
from conversations.usage import DayUsage, ModelUsage, Usage, UserUsage

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:conversations_conversation_changelist")
USAGE = reverse("admin:conversations_usage")


@pytest.fixture
def admin_client_logged_in(client, django_user_model):
    admin = django_user_model.objects.create_superuser(username="root", password="x-admin-pw-1")
    client.force_login(admin)
    return client


def transcript_url(conversation: Conversation) -> str:
    return reverse("admin:conversations_conversation_transcript", args=[conversation.pk])


def at(day, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """A moment of that day in the current time zone (the one the report counts days in)."""
    return timezone.make_aware(datetime.combine(day, time(hour, minute, second)))


def message(conversation, role: str, content: str = "", *, when: datetime | None = None,
            **fields) -> Message:
    saved = add_message(conversation=conversation, role=role, content=content,
                                   **fields)
    if when is not None:
        # created_at is auto_now_add: only an update can move it.
        Message.objects.filter(pk=saved.pk).update(created_at=when)
        saved.refresh_from_db()
    return saved


def answer(conversation, *, when, input_tokens, output_tokens, cost, model_id=None,
           status="complete") -> Message:
    saved = message(conversation, "assistant", "An answer.", when=when,
                    model_id=model_id or conversation.model_id, status=status,
                    input_tokens=input_tokens, output_tokens=output_tokens, cost=Decimal(cost))
    add_request(answer=saved)
    return saved


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


# -- Usage report -------------------------------------------------------------------------


@pytest.fixture
def days():
    today = timezone.localdate()
    return today - timedelta(days=3), today - timedelta(days=2), today - timedelta(days=1)


@pytest.fixture
def usage(alice, bob, days):
    """Answers with known figures over three days, and things the report must not count."""
    d0, d1, d2 = days
    alice_fake = Conversation.objects.create(owner=alice, title="a-fake", model_id="fake")
    alice_tiny = Conversation.objects.create(owner=alice, title="a-tiny", model_id="tiny")
    bob_chat = Conversation.objects.create(owner=bob, title="b", model_id="fake")

    answer(alice_fake, when=at(d0), input_tokens=100, output_tokens=50, cost="0.0125")
    answer(alice_fake, when=at(d1), input_tokens=200, output_tokens=80, cost="0.03")
    answer(alice_fake, when=at(d1, 13), input_tokens=None, output_tokens=None, cost="0",
           status="error")
    answer(alice_tiny, when=at(d1, 23, 59, 59), input_tokens=10, output_tokens=5,
           cost="0.00002")
    answer(bob_chat, when=at(d0, 0), input_tokens=1000, output_tokens=400, cost="0.11")
    answer(bob_chat, when=at(d2), input_tokens=7, output_tokens=3, cost="0.00001",
           model_id="tiny")

    # Not counted: a user message, and answers just outside the period.
    message(alice_fake, "user", "hi", when=at(d1), input_tokens=999, output_tokens=999,
            cost=Decimal("9"))
    answer(alice_fake, when=at(d0) - timedelta(hours=12, seconds=1), input_tokens=5,
           output_tokens=5, cost="1")
    answer(bob_chat, when=at(d2 + timedelta(days=1), 0), input_tokens=5, output_tokens=5,
           cost="2")
    return alice_fake


def period(days) -> dict[str, str]:
    return {"since": str(days[0]), "until": str(days[2])}


def test_usage_per_day_sums_the_answers_of_each_day(admin_client_logged_in, usage, days):
    d0, d1, d2 = days

    response = admin_client_logged_in.get(USAGE, period(days))

    assert response.status_code == 200
    assert response.context["by_day"] == [
        DayUsage(day=d0, requests=2, input_tokens=1100, output_tokens=450,
                 cost=Decimal("0.1225")),
        DayUsage(day=d1, requests=3, input_tokens=210, output_tokens=85,
                 cost=Decimal("0.03002")),
        DayUsage(day=d2, requests=1, input_tokens=7, output_tokens=3, cost=Decimal("0.00001")),
    ]


def test_usage_per_user_sums_the_answers_in_their_conversations(
    admin_client_logged_in, usage, days, alice, bob
):
    response = admin_client_logged_in.get(USAGE, period(days))

    assert response.context["by_user"] == [
        UserUsage(user_id=bob.pk, username="bob", requests=2, input_tokens=1007,
                  output_tokens=403, cost=Decimal("0.11001")),
        UserUsage(user_id=alice.pk, username="alice", requests=4, input_tokens=310,
                  output_tokens=135, cost=Decimal("0.04252")),
    ]


def test_usage_per_model_sums_by_the_model_that_wrote_each_answer(
    admin_client_logged_in, usage, days
):
    response = admin_client_logged_in.get(USAGE, period(days))

    assert response.context["by_model"] == [
        ModelUsage(model_id="fake", requests=4, input_tokens=1300, output_tokens=530,
                   cost=Decimal("0.1525")),
        ModelUsage(model_id="tiny", requests=2, input_tokens=17, output_tokens=8,
                   cost=Decimal("0.00003")),
    ]


def test_usage_shows_a_totals_row(admin_client_logged_in, usage, days):
    response = admin_client_logged_in.get(USAGE, period(days))

    assert response.context["total"] == Usage(
        requests=6, input_tokens=1317, output_tokens=538, cost=Decimal("0.15253")
    )
    html = response.content.decode()
    # Per day, user, model, channel (page / API) and API key.
    assert html.count('<tr class="usage-total">') == 5
    assert "<td><strong>1,317</strong></td>" in html
    assert "<td><strong>$0.15253</strong></td>" in html


def test_usage_defaults_to_the_last_30_days(admin_client_logged_in, alice):
    chat = Conversation.objects.create(owner=alice, title="t", model_id="fake")
    today = timezone.localdate()
    answer(chat, when=at(today, 0), input_tokens=1, output_tokens=1, cost="0.001")
    answer(chat, when=at(today - timedelta(days=29), 0), input_tokens=2, output_tokens=2,
           cost="0.002")
    answer(chat, when=at(today - timedelta(days=30), 23, 59, 59), input_tokens=4,
           output_tokens=4, cost="0.004")
    answer(chat, when=at(today - timedelta(days=40)), input_tokens=8, output_tokens=8,
           cost="0.008")

    response = admin_client_logged_in.get(USAGE)

    assert (response.context["since"], response.context["until"]) == (
        today - timedelta(days=29), today
    )
    assert response.context["total"] == Usage(
        requests=2, input_tokens=3, output_tokens=3, cost=Decimal("0.003")
    )


def test_a_bad_since_date_says_what_is_wrong(admin_client_logged_in, usage):
    response = admin_client_logged_in.get(USAGE, {"since": "2025-02-30"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "must be a date written YYYY-MM-DD" in html
    assert "“2025-02-30” is not." in html
    assert 'class="errornote"' in html
    assert "by_day" not in response.context


def test_a_period_ending_before_it_starts_is_refused(admin_client_logged_in):
    response = admin_client_logged_in.get(USAGE, {"since": "2025-03-02", "until": "2025-03-01"})

    assert "The start date (2025-03-02) is after the end date (2025-03-01)." in (
        response.content.decode()
    )


def test_a_csv_export_with_a_bad_date_is_a_400_saying_why(admin_client_logged_in):
    response = admin_client_logged_in.get(
        USAGE, {"since": "yesterday", "format": "csv", "table": "day"}
    )

    assert response.status_code == 400
    assert "must be a date written YYYY-MM-DD" in response.content.decode()


@pytest.mark.parametrize(
    ("table", "lines"),
    [
        ("day", [
            "day,requests,input_tokens,output_tokens,cost_usd",
            "{d0},2,1100,450,0.12250000",
            "{d1},3,210,85,0.03002000",
            "{d2},1,7,3,0.00001000",
        ]),
        ("user", [
            "user,requests,input_tokens,output_tokens,cost_usd",
            "bob,2,1007,403,0.11001000",
            "alice,4,310,135,0.04252000",
        ]),
        ("model", [
            "model,requests,input_tokens,output_tokens,cost_usd",
            "fake,4,1300,530,0.15250000",
            "tiny,2,17,8,0.00003000",
        ]),
    ],
)
def test_each_usage_table_exports_as_csv(admin_client_logged_in, usage, days, table, lines):
    d0, d1, d2 = days

    response = admin_client_logged_in.get(USAGE, {**period(days), "format": "csv",
                                                  "table": table})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="parley-usage-by-{table}-{d0}-to-{d2}.csv"'
    )
    expected = [line.format(d0=d0, d1=d1, d2=d2) for line in lines]
    assert response.content.decode().split("\r\n") == [*expected, ""]


def test_an_unknown_csv_table_is_a_400(admin_client_logged_in):
    response = admin_client_logged_in.get(USAGE, {"format": "csv", "table": "week"})

    assert response.status_code == 400
    assert "table=day" in response.content.decode()


def bars(html: str) -> list[tuple[str, float]]:
    """(day, height) of each bar of the usage chart."""
    return [
        (day, float(height))
        for day, height in re.findall(
            r'<rect class="usage-bar" data-day="([\d-]+)"[^>]* height="([\d.]+)"', html
        )
    ]


def test_the_usage_chart_is_an_svg_with_one_bar_per_day(admin_client_logged_in, usage, days):
    d0, d1, d2 = days

    html = admin_client_logged_in.get(USAGE, period(days)).content.decode()

    assert "<svg" in html
    chart = bars(html)
    assert [day for day, _ in chart] == [str(d0), str(d1), str(d2)]
    heights = [height for _, height in chart]
    assert heights[0] == max(heights)  # 0.1225 is the costliest day
    assert heights[0] > heights[1] > heights[2] > 0


def test_the_chart_draws_days_without_answers_as_empty_bars(
    admin_client_logged_in, usage, days
):
    d0, d1, d2 = days
    today = timezone.localdate()

    chart = bars(admin_client_logged_in.get(USAGE).content.decode())

    assert len(chart) == 30
    assert chart[0][0] == str(today - timedelta(days=29))
    assert [day for day, height in chart if height > 0] == [
        str(d0 - timedelta(days=1)), str(d0), str(d1), str(d2), str(today)
    ]


def test_the_chart_can_show_tokens_instead_of_cost(admin_client_logged_in, usage, days):
    html = admin_client_logged_in.get(USAGE, {**period(days), "chart": "tokens"}).content.decode()

    heights = [height for _, height in bars(html)]
    # 1,550 tokens on the first day, 295 on the second, 10 on the third.
    assert heights[0] == max(heights)
    assert round(heights[1] / heights[0], 3) == round(295 / 1550, 3)


def test_the_changelist_links_to_the_usage_report(admin_client_logged_in):
    html = admin_client_logged_in.get(CHANGELIST).content.decode()

    assert f'href="{USAGE}"' in html
    assert f'href="{reverse("admin:conversations_model_catalog")}"' in html


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
