"""The usage report (per day, user, model, channel and key, as a page or CSV) and the ledger.

The report is a view of the conversation admin (see UsageReportMixin); the
chart is an inline SVG drawn with presentation attributes only (the CSP forbids
inline style).
"""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from conversations.models import UsageRecord
from conversations.usage import (
    CHART_METRICS,
    usage_by_channel,
    usage_by_day,
    usage_by_key,
    usage_by_model,
    usage_by_user,
    usage_chart,
    usage_total,
)

USAGE_DEFAULT_DAYS = 30
# One bar per day stays legible up to about a year.
USAGE_MAX_DAYS = 366


def usage_range(query: QueryDict, *, today: date) -> tuple[date, date]:
    """Read `since` and `until` (YYYY-MM-DD, both included); default to the last 30 days."""
    until = _query_day(query, "until", default=today)
    since = _query_day(query, "since", default=until - timedelta(days=USAGE_DEFAULT_DAYS - 1))
    if since > until:
        raise ValidationError(
            _("The start date (%(since)s) is after the end date (%(until)s).")
            % {"since": f"{since:%Y-%m-%d}", "until": f"{until:%Y-%m-%d}"}
        )
    if (until - since).days + 1 > USAGE_MAX_DAYS:
        raise ValidationError(
            _("Choose a period of at most %(days)s days.") % {"days": USAGE_MAX_DAYS}
        )
    return since, until


def _query_day(query: QueryDict, name: str, *, default: date) -> date:
    raw = query.get(name, "").strip()
    if not raw:
        return default
    try:
        return datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        shown = Truncator(raw).chars(30)
        raise ValidationError(
            _(
                "“%(name)s” must be a date written YYYY-MM-DD, such as %(example)s; "
                "“%(shown)s” is not."
            )
            % {"name": name, "example": f"{default:%Y-%m-%d}", "shown": shown}
        ) from None


USAGE_TABLES = {
    "day": ("day", usage_by_day, lambda row: f"{row.day:%Y-%m-%d}"),
    "user": ("user", usage_by_user, lambda row: row.username),
    "model": ("model", usage_by_model, lambda row: row.model_id),
    "channel": ("channel", usage_by_channel, lambda row: row.channel),
    "key": ("api_key", usage_by_key, lambda row: row.key_prefix),
}


class UsageReportMixin:
    """The usage report's page and CSV downloads, for the conversation admin."""

    def usage_view(self, request: HttpRequest) -> HttpResponse:
        """Requests, tokens and cost of the answers per day, user and model."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        wants = request.GET.get("format", "html")
        if wants not in ("html", "csv"):
            return HttpResponseBadRequest("Unknown format: use format=csv or leave it out.")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Usage"),
            "opts": self.model._meta,
            "has_view_permission": True,
            "default_days": USAGE_DEFAULT_DAYS,
            "since_raw": request.GET.get("since", ""),
            "until_raw": request.GET.get("until", ""),
        }
        try:
            since, until = usage_range(request.GET, today=timezone.localdate())
        except ValidationError as error:
            if wants == "csv":
                return HttpResponseBadRequest(error.messages[0], content_type="text/plain")
            context["error"] = error.messages[0]
            return TemplateResponse(request, "admin/conversations/usage.html", context)
        if wants == "csv":
            return self._usage_csv(request.GET.get("table", ""), since=since, until=until)

        metric = request.GET.get("chart", "cost")
        if metric not in CHART_METRICS:
            metric = "cost"
        by_day = usage_by_day(since=since, until=until)
        period = {"since": f"{since:%Y-%m-%d}", "until": f"{until:%Y-%m-%d}"}
        context.update(
            since=since,
            until=until,
            days=(until - since).days + 1,
            time_zone=timezone.get_current_timezone_name(),
            total=usage_total(since=since, until=until),
            by_day=by_day,
            by_user=usage_by_user(since=since, until=until),
            by_model=usage_by_model(since=since, until=until),
            by_channel=usage_by_channel(since=since, until=until),
            by_key=usage_by_key(since=since, until=until),
            chart=usage_chart(days=by_day, since=since, until=until, metric=metric),
            chart_metrics=[
                (name, label, "?" + urlencode({**period, "chart": name}))
                for name, label in CHART_METRICS.items()
            ],
            csv_links={
                table: "?" + urlencode({**period, "format": "csv", "table": table})
                for table in USAGE_TABLES
            },
        )
        return TemplateResponse(request, "admin/conversations/usage.html", context)

    def _usage_csv(self, table: str, *, since: date, until: date) -> HttpResponse:
        if table not in USAGE_TABLES:
            return HttpResponseBadRequest(
                "Unknown table: use table=day, user, model, channel or key.",
                content_type="text/plain",
            )
        heading, rows_of, key = USAGE_TABLES[table]
        filename = f"parley-usage-by-{table}-{since:%Y-%m-%d}-to-{until:%Y-%m-%d}.csv"
        response = HttpResponse(
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
        writer = csv.writer(response)
        writer.writerow([heading, "requests", "input_tokens", "output_tokens", "cost_usd"])
        for row in rows_of(since=since, until=until):
            writer.writerow(
                [key(row), row.requests, row.input_tokens, row.output_tokens, f"{row.cost:f}"]
            )
        return response


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    """The usage ledger: every request to a model, read-only."""

    list_display = (
        "created_at",
        "user",
        "kind",
        "channel",
        "model_id",
        "input_tokens",
        "output_tokens",
        "cost",
        "usage_estimated",
    )
    list_filter = ("kind", "channel", "model_id", "usage_estimated", "created_at")
    search_fields = ("user__username", "model_id")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    readonly_fields = tuple(field.name for field in UsageRecord._meta.fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
