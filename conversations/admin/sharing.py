"""Share links, read-only: their owners make and revoke them."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from conversations.models import SharedLink


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
