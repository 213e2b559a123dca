"""Blind comparison votes, read-only, and their CSV export."""

from __future__ import annotations

import csv

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from conversations.models import ComparisonVote

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
