"""Conversations and their messages: the changelist, the transcript page and the actions."""

from __future__ import annotations

import json
from decimal import Decimal

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from conversations.admin.catalog import ModelCatalogMixin
from conversations.admin.usage import UsageReportMixin
from conversations.exports import conversations_export_for_admin
from conversations.models import COST_QUANTUM, Conversation, Message, SharedLink
from conversations.selectors import message_list
from conversations.services import shared_link_revoke
from conversations.usage import usage_of_conversation


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


@admin.register(Conversation)
class ConversationAdmin(ModelCatalogMixin, UsageReportMixin, admin.ModelAdmin):
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
