"""Downloads and import: a conversation or all of them as Markdown or Parley JSON, and back."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages as flash
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django_ratelimit.decorators import ratelimit

from conversations import exports, selectors
from conversations.views.context import HtmxHttpRequest


def _download(body: str, *, filename: str, content_type: str) -> HttpResponse:
    return HttpResponse(
        body,
        content_type=content_type,
        headers={"Content-Disposition": content_disposition_header(True, filename)},
    )


@never_cache
@require_GET
def conversation_export_markdown(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Download one conversation as a Markdown transcript."""
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
    return _download(
        exports.conversation_export_markdown(conversation=conversation),
        filename=exports.export_filename(title=str(conversation), extension="md"),
        content_type="text/markdown; charset=utf-8",
    )


@never_cache
@require_GET
def message_markdown(request: HtmxHttpRequest, public_id: str, message_id: int) -> HttpResponse:
    """One message's markdown source, for its Copy button.

    The button fetches it on click instead of carrying it in an attribute: a
    finished answer's frame then holds its text once (rendered), not twice.
    """
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
    message = selectors.message_get(conversation=conversation, message_id=message_id)
    return HttpResponse(message.content, content_type="text/markdown; charset=utf-8")


@never_cache
@require_GET
def conversation_export_json(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Download one conversation as Parley JSON (importable)."""
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
    document = exports.conversation_export_json(conversation=conversation)
    return _download(
        json.dumps(document, ensure_ascii=False, indent=2),
        filename=exports.export_filename(title=str(conversation), extension="json"),
        content_type="application/json; charset=utf-8",
    )


@never_cache
@require_GET
def conversations_export_all(request: HtmxHttpRequest) -> HttpResponse:
    """Download all of the user's conversations as one Parley JSON file."""
    document = exports.conversations_export_json(user=request.user)
    return _download(
        json.dumps(document, ensure_ascii=False, indent=2),
        filename=exports.export_filename(title="parley-conversations", extension="json"),
        content_type="application/json; charset=utf-8",
    )


IMPORT_PAGE = "conversations/import.html"


def _import_context(user, **extra) -> dict:
    return {
        "conversation_count": selectors.conversation_list_for_user(user=user).count(),
        "max_mb": exports.IMPORT_MAX_BYTES // (1024 * 1024),
        **extra,
    }


@require_http_methods(["GET", "POST"])
@ratelimit(
    key="user", rate=lambda _g, _r: settings.PARLEY_IMPORT_RATE, method="POST", block=False
)
def conversations_import(request: HtmxHttpRequest) -> HttpResponse:
    """Offer every conversation for download; import an uploaded Parley JSON export."""
    if request.method == "GET":
        return render(request, IMPORT_PAGE, _import_context(request.user))
    if getattr(request, "limited", False):
        # Each import is bounded (exports.IMPORT_MAX_*); so is how often a user imports.
        error = _("You have imported many files in the last hour; try again later.")
        return render(request, IMPORT_PAGE, _import_context(request.user, import_error=error),
                      status=429)
    upload = request.FILES.get("file")
    try:
        if upload is None:
            raise ValidationError(_("Choose a Parley JSON export file to import."))
        if upload.size > exports.IMPORT_MAX_BYTES:
            raise ValidationError(
                _("The file is %(size)s bytes; the limit is %(limit)s bytes.")
                % {"size": f"{upload.size:,}", "limit": f"{exports.IMPORT_MAX_BYTES:,}"}
            )
        data = exports.export_file_parse(raw=upload.read())
        imported = exports.conversations_import(owner=request.user, data=data)
    except ValidationError as exc:
        context = _import_context(request.user, import_error=exc.messages[0])
        return render(request, IMPORT_PAGE, context, status=400)
    count = len(imported)
    flash.success(
        request,
        ngettext("Imported %(count)s conversation.", "Imported %(count)s conversations.", count)
        % {"count": count},
    )
    return redirect("conversations:home")
