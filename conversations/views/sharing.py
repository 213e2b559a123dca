"""Sharing: a conversation's read-only link, the owner's list of links, the public page."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from conversations import selectors, services
from conversations.frames import PAGE
from conversations.stored_html import messages_html_store
from conversations.views.context import HtmxHttpRequest


@require_POST
def conversation_share(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Create the conversation's read-only link, or re-snapshot it under the same URL."""
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
    try:
        link = services.shared_link_share(
            conversation=conversation,
            with_system_prompt=request.POST.get("with_system_prompt") == "true",
        )
    except ValidationError as exc:
        link, error = None, exc.messages[0]
    else:
        error = ""
    if request.htmx:
        context = {"conversation": conversation, "link": link, "share_error": error}
        return render(request, f"{PAGE}#share-panel", context, status=400 if error else 200)
    if error:
        flash.error(request, error)
    else:
        url = request.build_absolute_uri(link.get_absolute_url())
        flash.success(request, _("Shared: %(url)s") % {"url": url})
    return redirect(conversation)


@require_GET
def shared_link_list(request: HtmxHttpRequest) -> HttpResponse:
    """List the user's shared links with their views, to update or revoke them."""
    links = selectors.shared_link_list_for_user(user=request.user)
    return render(request, "conversations/shared_links.html", {"links": links})


@require_POST
def shared_link_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Revoke one of the user's links: its page answers 404 at once."""
    link = selectors.shared_link_get_for_user(user=request.user, pk=pk)
    services.shared_link_revoke(link=link)
    if request.htmx and request.POST.get("from") == "conversation":
        context = {"conversation": link.conversation, "link": None}
        return render(request, f"{PAGE}#share-panel", context)
    flash.success(request, _("Revoked the link to “%(title)s”.") % {"title": link.conversation})
    return redirect("conversations:shared_links")


@login_not_required
@never_cache  # like every conversation page and export: kept in no cache
@require_GET
def shared_conversation(request: HtmxHttpRequest, token: str) -> HttpResponse:
    """Show a shared snapshot, read-only, with nothing else of its owner."""
    if settings.PARLEY_SHARE_REQUIRES_LOGIN and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    link = selectors.shared_link_get_public(token=token)
    services.shared_link_count_view(link=link)
    messages = list(selectors.shared_messages(link=link))
    # Anyone may open this page as often as they like: render each answer once.
    messages_html_store(messages=messages)
    context = {
        "link": link,
        "title": link.title or _("Shared conversation"),
        "chat_messages": messages,
        "shared": True,
    }
    response = render(request, "conversations/shared.html", context)
    response["X-Robots-Tag"] = "noindex, nofollow"
    # The token is the secret: never send it on to other sites. Not "no-referrer":
    # with it, browsers send `Origin: null` on the page's own forms (Continue, the
    # language switch), which the CSRF check refuses.
    response["Referrer-Policy"] = "same-origin"
    return response


@require_POST
def shared_conversation_continue(request: HtmxHttpRequest, token: str) -> HttpResponse:
    """Copy a shared snapshot into the reader's account and open it there."""
    link = selectors.shared_link_get_public(token=token)
    conversation = services.shared_link_fork(link=link, reader=request.user)
    return redirect(conversation)
