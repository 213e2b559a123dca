"""The model catalog page: every model configured, and why it is or is not usable."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from conversations.backends import get_catalog


class ModelCatalogMixin:
    """The model catalog's page, for the conversation admin."""

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
