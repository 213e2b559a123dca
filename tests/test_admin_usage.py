"""The admin's usage report: per day, user, model, as CSV, and its chart."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from history import answer, at

from conversations.models import Conversation
from conversations.usage import DayUsage, ModelUsage, Usage, UserUsage

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:conversations_conversation_changelist")
USAGE = reverse("admin:conversations_usage")


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
