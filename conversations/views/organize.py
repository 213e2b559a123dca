"""Organizing the sidebar: pin, archive, delete, its pages loaded on scroll and the archive."""

from __future__ import annotations

import uuid

from django.contrib import messages as flash
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from conversations import selectors, services
from conversations.frames import PAGE
from conversations.views.context import HtmxHttpRequest, sidebar_context

ARCHIVED_PAGE_SIZE = 50


def _posted_choice(request: HttpRequest, name: str) -> bool:
    """Read a "true"/"false" form field, or raise ValidationError."""
    value = request.POST.get(name, "")
    if value not in ("true", "false"):
        raise ValidationError(
            _("%(name)s must be true or false, not %(value)r.")
            % {"name": name, "value": value[:20]}
        )
    return value == "true"


def _organized(request: HtmxHttpRequest, conversation, done: str) -> HttpResponse:
    """Answer a pin or archive: the header controls and the sidebar (htmx), or a redirect."""
    if request.htmx:
        context = {"conversation": conversation, **sidebar_context(request.user, conversation)}
        return render(request, f"{PAGE}#organize-frame", context)
    flash.success(request, done)
    if request.POST.get("from") == "archived":
        return redirect("conversations:archived")
    return redirect(conversation)


@require_POST
def conversation_pin(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Pin a conversation to the top of the sidebar, or unpin it."""
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
    try:
        pinned = _posted_choice(request, "pinned")
    except ValidationError as exc:
        return HttpResponseBadRequest(exc.messages[0], content_type="text/plain; charset=utf-8")
    services.conversation_pin(conversation=conversation, pinned=pinned)
    done = (_("Pinned “%(title)s”.") if pinned else _("Unpinned “%(title)s”.")) % {
        "title": conversation
    }
    return _organized(request, conversation, done)


@require_POST
def conversation_archive(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Archive a conversation (off the sidebar, onto the Archived page), or bring it back."""
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
    try:
        archived = _posted_choice(request, "archived")
    except ValidationError as exc:
        return HttpResponseBadRequest(exc.messages[0], content_type="text/plain; charset=utf-8")
    services.conversation_archive(conversation=conversation, archived=archived)
    done = (_("Archived “%(title)s”.") if archived else _("Unarchived “%(title)s”.")) % {
        "title": conversation
    }
    return _organized(request, conversation, done)


@require_GET
def conversation_sidebar(request: HtmxHttpRequest) -> HttpResponse:
    """The next page of the sidebar after a cursor (loaded as the reader scrolls)."""
    try:
        page = selectors.conversation_sidebar_page(
            user=request.user, cursor=request.GET.get("cursor", "")
        )
        current = uuid.UUID(request.GET["current"]) if request.GET.get("current") else None
    except ValidationError as exc:
        return HttpResponseBadRequest(exc.messages[0], content_type="text/plain; charset=utf-8")
    except ValueError:
        return HttpResponseBadRequest("current must be a conversation id.")
    context = {"sidebar_page": page, "current_public_id": current}
    return render(request, f"{PAGE}#sidebar-page", context)


@require_GET
def conversation_archived_list(request: HtmxHttpRequest) -> HttpResponse:
    """List the user's archived conversations, to open or unarchive them."""
    archived = selectors.conversation_list_archived(user=request.user)
    page = Paginator(archived, ARCHIVED_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "conversations/archived.html", {"archived": page})


@require_http_methods(["GET", "POST"])
def conversation_delete(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Ask for confirmation, then delete a conversation and its messages."""
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
    if request.method == "GET":
        return render(request, "conversations/delete.html", {"conversation": conversation})
    title = str(conversation)
    services.conversation_delete(conversation=conversation)
    flash.success(request, _("Deleted “%(title)s”.") % {"title": title})
    if request.htmx:
        return HttpResponseClientRedirect("/")
    return redirect("conversations:home")
