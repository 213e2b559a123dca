from django.conf import settings
from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery, Sum
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from conversations.backends import get_catalog
from conversations.models import Conversation, Message


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
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "model_id", "message_count", "total_cost", "updated_at")
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

    change_list_template = "admin/conversations/conversation/change_list.html"

    def get_urls(self):
        catalog = path(
            "models/",
            self.admin_site.admin_view(self.catalog_view),
            name="conversations_model_catalog",
        )
        return [catalog, *super().get_urls()]

    def catalog_view(self, request):
        """List every model of the catalog and why it is or is not usable."""
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
    def total_cost(self, obj: Conversation):
        return obj._total_cost or 0


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
