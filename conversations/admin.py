"""The admin: transcripts, usage, model catalog and share links.

Everything here is server-rendered with the admin's own stylesheet: no inline
script or style (the CSP forbids both), and the usage chart is an inline SVG
drawn with presentation attributes only.
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from conversations.backends import get_catalog
from conversations.exports import conversations_export_for_admin
from conversations.models import (
    COST_QUANTUM,
    ComparisonVote,
    Conversation,
    Message,
    SharedLink,
    UsageRecord,
)
from conversations.selectors import message_list
from conversations.services import shared_link_revoke
from conversations.usage import (
    CHART_METRICS,
    usage_by_channel,
    usage_by_day,
    usage_by_key,
    usage_by_model,
    usage_by_user,
    usage_chart,
    usage_of_conversation,
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


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    show_change_link = True
    fields = (
        "created_at",
        "role",
        "status",
        "model_id",
        "content",
        "error",
        "input_tokens",
        "output_tokens",
        "cost",
        "time_to_first_token_ms",
        "duration_ms",
    )
    readonly_fields = fields
    ordering = ("id",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


USAGE_TABLES = {
    "day": ("day", usage_by_day, lambda row: f"{row.day:%Y-%m-%d}"),
    "user": ("user", usage_by_user, lambda row: row.username),
    "model": ("model", usage_by_model, lambda row: row.model_id),
    "channel": ("channel", usage_by_channel, lambda row: row.channel),
    "key": ("api_key", usage_by_key, lambda row: row.key_prefix),
}


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "transcript_link",
        "owner",
        "model_id",
        "message_count",
        "total_cost",
        "updated_at",
    )
    list_filter = ("model_id", "messages__status", "created_at", "updated_at")
    search_fields = ("title", "owner__username", "messages__content")
    date_hierarchy = "created_at"
    readonly_fields = ("public_id", "owner", "created_at", "updated_at")
    fields = (
        "public_id",
        "owner",
        "title",
        "model_id",
        "system_prompt",
        "created_at",
        "updated_at",
    )
    inlines = (MessageInline,)
    list_select_related = ("owner",)
    actions = ("export_as_json", "revoke_share_links")

    change_list_template = "admin/conversations/conversation/change_list.html"

    def get_urls(self):
        admin_view = self.admin_site.admin_view
        return [
            path("models/", admin_view(self.catalog_view), name="conversations_model_catalog"),
            path("usage/", admin_view(self.usage_view), name="conversations_usage"),
            path(
                "<path:object_id>/transcript/",
                admin_view(self.transcript_view),
                name="conversations_conversation_transcript",
            ),
            *super().get_urls(),
        ]

    def catalog_view(self, request):
        """List every model of the catalog and why it is or is not usable."""
        # Staff without permissions reach admin views: the catalog names every
        # upstream URL and key variable, so it needs the right to view conversations.
        if not self.has_view_permission(request):
            raise PermissionDenied
        catalog = get_catalog()
        rows = [
            {
                "model": model,
                "reason": model.unusable_reason(),
                "default": model.id == catalog.default().id,
            }
            for model in catalog.models.values()
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Model catalog"),
            "rows": rows,
            "catalog_file": settings.PARLEY_MODELS_FILE,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/conversations/catalog.html", context)

    def transcript_view(self, request: HttpRequest, object_id: str) -> TemplateResponse:
        """Show the conversation as it reads in the chat, with each message's usage."""
        conversation = self.get_object(request, unquote(object_id))
        if conversation is None:
            raise Http404("No such conversation.")
        if not self.has_view_or_change_permission(request, conversation):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": _("Transcript: %(title)s") % {"title": conversation},
            "conversation": conversation,
            "chat_messages": message_list(conversation=conversation),
            "usage": usage_of_conversation(conversation=conversation),
            "opts": self.model._meta,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/conversations/transcript.html", context)

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

    def get_queryset(self, request):
        # Subqueries, not joins: the status filter and the message search join
        # messages too, and a join here would multiply the sums.
        messages = (
            Message.objects.filter(conversation=OuterRef("pk")).order_by().values("conversation")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                _message_count=Subquery(messages.annotate(n=Count("id")).values("n")),
                _total_cost=Subquery(messages.annotate(total=Sum("cost")).values("total")),
            )
        )

    @admin.display(description=_("messages"), ordering="_message_count")
    def message_count(self, obj: Conversation) -> int:
        return obj._message_count

    @admin.display(description=_("cost (USD)"), ordering="_total_cost")
    def total_cost(self, obj: Conversation) -> Decimal:
        # SQLite sums decimals as floats: show Message.cost's eight places.
        return Decimal(obj._total_cost or 0).quantize(COST_QUANTUM)

    @admin.display(description=_("transcript"))
    def transcript_link(self, obj: Conversation) -> str:
        url = reverse("admin:conversations_conversation_transcript", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Read"))

    @admin.action(description=_("Export selected conversations as JSON"), permissions=("view",))
    def export_as_json(self, request: HttpRequest, queryset: QuerySet[Conversation]):
        data = conversations_export_for_admin(conversations=queryset.order_by("id"))
        filename = f"parley-conversations-{timezone.now():%Y%m%d-%H%M%S}.json"
        return HttpResponse(
            json.dumps(data, ensure_ascii=False, indent=2),
            content_type="application/json; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @admin.action(description=_("Revoke their share links"), permissions=("change",))
    def revoke_share_links(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        links = SharedLink.objects.filter(
            conversation__in=queryset.order_by().values("pk"), revoked_at__isnull=True
        )
        revoked = 0
        for link in links:
            shared_link_revoke(link=link)
            revoked += 1
        if revoked:
            text = ngettext(
                "Revoked %(count)d share link.", "Revoked %(count)d share links.", revoked
            ) % {"count": revoked}
            self.message_user(request, text, messages.SUCCESS)
        else:
            self.message_user(
                request,
                _("None of the selected conversations had an active share link."),
                messages.WARNING,
            )


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "conversation",
        "role",
        "status",
        "model_id",
        "input_tokens",
        "output_tokens",
        "cost",
        "created_at",
    )
    list_filter = ("role", "status", "model_id", "created_at")
    search_fields = ("content", "conversation__title", "conversation__owner__username")
    date_hierarchy = "created_at"
    list_select_related = ("conversation",)
    readonly_fields = tuple(
        field.name for field in Message._meta.get_fields() if field.concrete and field.name != "id"
    )

    def has_add_permission(self, request) -> bool:
        return False


class SharedLinkActiveFilter(admin.SimpleListFilter):
    title = _("active")
    parameter_name = "active"

    def lookups(self, request, model_admin):
        return (("yes", _("Yes")), ("no", _("No, revoked")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(SharedLink)
class SharedLinkAdmin(admin.ModelAdmin):
    """Read-only: links are made and revoked by their owners (or the conversation action)."""

    list_display = ("conversation", "owner", "views", "created_at", "revoked_at", "active")
    list_filter = (SharedLinkActiveFilter, "created_at")
    search_fields = ("conversation__title", "conversation__owner__username", "token")
    date_hierarchy = "created_at"
    list_select_related = ("conversation__owner",)
    fields = (
        "token",
        "conversation",
        "last_message",
        "views",
        "created_at",
        "updated_at",
        "revoked_at",
    )
    readonly_fields = fields

    @admin.display(description=_("owner"), ordering="conversation__owner__username")
    def owner(self, link: SharedLink):
        return link.conversation.owner

    @admin.display(description=_("active"), boolean=True)
    def active(self, link: SharedLink) -> bool:
        return link.is_active

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


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


VOTE_CSV_COLUMNS = (
    "voted_at", "voter", "model_a", "model_b", "outcome", "prompt_language", "prompt_chars",
)


@admin.register(ComparisonVote)
class ComparisonVoteAdmin(admin.ModelAdmin):
    """Blind votes, read-only, with no prompt text; exported as CSV by an action."""

    list_display = (
        "created_at", "voter", "model_a", "model_b", "outcome", "prompt_language", "prompt_chars",
    )
    list_filter = ("outcome", "prompt_language", "model_a", "model_b", "created_at")
    search_fields = ("voter__username", "model_a", "model_b")
    date_hierarchy = "created_at"
    list_select_related = ("voter",)
    readonly_fields = tuple(field.name for field in ComparisonVote._meta.fields)
    actions = ("export_as_csv",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description=_("Export selected votes as CSV"), permissions=("view",))
    def export_as_csv(self, request: HttpRequest, queryset: QuerySet[ComparisonVote]):
        response = HttpResponse(
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="parley-votes.csv"'},
        )
        writer = csv.writer(response)
        writer.writerow(VOTE_CSV_COLUMNS)
        for vote in queryset.select_related("voter").order_by("created_at"):
            writer.writerow(
                (
                    vote.created_at.isoformat(),
                    vote.voter.get_username(),
                    vote.model_a,
                    vote.model_b,
                    vote.outcome,
                    vote.prompt_language,
                    vote.prompt_chars,
                )
            )
        return response
