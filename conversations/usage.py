"""Reads for the usage report: what the requests to models cost, per day, user and model.

Read from the usage ledger (UsageRecord): one row per request to a model,
whatever asked (a question, a regeneration, an edit, a title) and however it
ended. Dates are whole days in the current time zone, both ends included.
Everything is summed by the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from conversations.models import COST_QUANTUM, Conversation, UsageRecord

# Wider than Message.cost: a sum over months may outgrow one message's digits.
_COST_SUM = DecimalField(max_digits=24, decimal_places=8)

# Annotation names must not clash with Message's own fields (input_tokens...).
_SUMS = {
    "n_requests": Count("id"),
    "n_input": Coalesce(Sum("input_tokens"), 0),
    "n_output": Coalesce(Sum("output_tokens"), 0),
    "total_cost": Coalesce(Sum("cost"), Value(Decimal("0")), output_field=_COST_SUM),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Requests, tokens and cost summed over some assistant messages."""

    requests: int
    input_tokens: int
    output_tokens: int
    cost: Decimal

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True, kw_only=True)
class DayUsage(Usage):
    day: date


@dataclass(frozen=True, slots=True, kw_only=True)
class UserUsage(Usage):
    user_id: int
    username: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelUsage(Usage):
    model_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelUsage(Usage):
    channel: str  # page or api

    @property
    def label(self) -> str:
        return str(UsageRecord.Channel(self.channel).label)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyUsage(Usage):
    """Requests made with one API key (`key_id` None: from the page, no key)."""

    key_id: int | None
    key_name: str
    key_prefix: str
    username: str


def _sums(row: dict) -> dict:
    return {
        "requests": row["n_requests"],
        "input_tokens": row["n_input"],
        "output_tokens": row["n_output"],
        # SQLite sums decimals as floats: back to Message.cost's eight places.
        "cost": Decimal(row["total_cost"]).quantize(COST_QUANTUM),
    }


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _requests(*, since: date, until: date) -> QuerySet[UsageRecord]:
    """Requests sent from the start of `since` to the end of `until`."""
    return UsageRecord.objects.filter(
        created_at__gte=_day_start(since),
        created_at__lt=_day_start(until + timedelta(days=1)),
    ).order_by()


def usage_total(*, since: date, until: date) -> Usage:
    """Sum every request of the period."""
    return Usage(**_sums(_requests(since=since, until=until).aggregate(**_SUMS)))


def usage_by_day(*, since: date, until: date) -> list[DayUsage]:
    """Sum the requests of each day that has any, oldest day first."""
    rows = (
        _requests(since=since, until=until)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(**_SUMS)
        .order_by("day")
    )
    return [DayUsage(day=row["day"], **_sums(row)) for row in rows]


def usage_by_user(*, since: date, until: date) -> list[UserUsage]:
    """Sum the requests of each user, biggest spender first."""
    rows = (
        _requests(since=since, until=until)
        .values("user_id", "user__username")
        .annotate(**_SUMS)
        .order_by("-total_cost", "user__username")
    )
    return [
        UserUsage(
            user_id=row["user_id"],
            username=row["user__username"],
            **_sums(row),
        )
        for row in rows
    ]


def usage_by_model(*, since: date, until: date) -> list[ModelUsage]:
    """Sum the requests of each model, most expensive first."""
    rows = (
        _requests(since=since, until=until)
        .values("model_id")
        .annotate(**_SUMS)
        .order_by("-total_cost", "model_id")
    )
    return [ModelUsage(model_id=row["model_id"], **_sums(row)) for row in rows]


def usage_by_channel(*, since: date, until: date) -> list[ChannelUsage]:
    """Sum the requests of each front door (the page, the API), most expensive first."""
    rows = (
        _requests(since=since, until=until)
        .values("channel")
        .annotate(**_SUMS)
        .order_by("-total_cost", "channel")
    )
    return [ChannelUsage(channel=row["channel"], **_sums(row)) for row in rows]


def usage_by_key(*, since: date, until: date) -> list[KeyUsage]:
    """Sum the requests of each API key (and, as one row, those made with none)."""
    rows = (
        _requests(since=since, until=until)
        .values("api_key_id", "api_key__name", "api_key__prefix", "api_key__user__username")
        .annotate(**_SUMS)
        .order_by("-total_cost", "api_key_id")
    )
    return [
        KeyUsage(
            key_id=row["api_key_id"],
            key_name=row["api_key__name"] or "",
            key_prefix=row["api_key__prefix"] or "",
            username=row["api_key__user__username"] or "",
            **_sums(row),
        )
        for row in rows
    ]


def usage_of_conversation(*, conversation: Conversation) -> Usage:
    """Sum every request made for one conversation."""
    requests = UsageRecord.objects.filter(conversation=conversation).order_by()
    return Usage(**_sums(requests.aggregate(**_SUMS)))


# The usage chart of the admin report ------------------------------------


@dataclass(frozen=True, slots=True)
class Bar:
    day: date
    usage: Usage
    x: float
    y: float
    width: float
    height: float
    center: float
    tick: str  # the day written under the bar, or "" to keep the axis readable


@dataclass(frozen=True, slots=True)
class Chart:
    """A bar chart drawn in a viewBox of `width` x `height` units."""

    metric: str
    bars: list[Bar]
    top: Decimal | int
    width: int
    height: int
    baseline: float
    tick_y: float


CHART_METRICS = {"cost": _("cost"), "tokens": _("tokens")}
_CHART_WIDTH, _CHART_HEIGHT, _CHART_MARGIN = 900, 220, 24
_PLOT_TOP, _PLOT_BOTTOM = 24, 190


def usage_chart(*, days: list[DayUsage], since: date, until: date, metric: str) -> Chart:
    """Lay out one bar per day of the period (a day with no answers gets an empty bar)."""
    by_day = {row.day: row for row in days}
    empty = Usage(requests=0, input_tokens=0, output_tokens=0, cost=Decimal("0"))

    def amount(usage: Usage) -> Decimal | int:
        return usage.cost if metric == "cost" else usage.tokens

    count = (until - since).days + 1
    top = max((amount(row) for row in days), default=0)
    step = (_CHART_WIDTH - 2 * _CHART_MARGIN) / count
    every = -(-count // 8)  # label about eight days at most
    bars = []
    for index in range(count):
        day = since + timedelta(days=index)
        usage = by_day.get(day, empty)
        height = round(float(amount(usage)) / float(top or 1) * (_PLOT_BOTTOM - _PLOT_TOP), 2)
        if amount(usage) > 0:
            height = max(height, 1.0)  # a day with answers never looks empty
        bars.append(
            Bar(
                day=day,
                usage=usage,
                x=round(_CHART_MARGIN + (index + 0.1) * step, 2),
                y=round(_PLOT_BOTTOM - height, 2),
                width=round(step * 0.8, 2),
                height=height,
                center=round(_CHART_MARGIN + (index + 0.5) * step, 2),
                tick=date_format(day, "M j") if index % every == 0 else "",
            )
        )
    return Chart(
        metric=metric,
        bars=bars,
        top=top,
        width=_CHART_WIDTH,
        height=_CHART_HEIGHT,
        baseline=_PLOT_BOTTOM,
        tick_y=_PLOT_BOTTOM + 18,
    )
