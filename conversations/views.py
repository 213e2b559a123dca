"""Pages. Thin: parse, check ownership through selectors, call a service, render."""

from __future__ import annotations

import json
import uuid

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.functional import SimpleLazyObject
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails
from django_ratelimit.decorators import ratelimit

from conversations import engine, exports, frames, leaderboard, search, selectors, services
from conversations.backends import UnknownModelError, get_catalog
from conversations.context import PromptTooLongError, conversation_gauge
from conversations.database import database_call
from conversations.frames import PAGE
from conversations.inputs import text_check
from conversations.models import ComparisonVote
from conversations.stored_html import messages_html_store

SEARCH_PAGE = "conversations/search.html"
ARCHIVED_PAGE_SIZE = 50
# Hits shown in the sidebar as you type; the full results page has the rest.
SIDEBAR_SEARCH_HITS = 8
# Shown on an empty new chat, in the reader's language: one click puts one in the composer.
EXAMPLE_PROMPTS = (
    gettext_lazy("Explain how a hash table works, with a short Python example"),
    gettext_lazy("Write a polite email asking to move Tuesday's meeting to Friday"),
    gettext_lazy("Plan a relaxed two-day trip to Busan"),
    gettext_lazy("What is the difference between a list and a tuple in Python?"),
)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _sidebar_context(user, conversation=None) -> dict:
    """The sidebar's pinned conversations and first page, queried only if rendered."""
    return {
        "current_public_id": conversation.public_id if conversation else None,
        "pinned": selectors.conversation_list_pinned(user=user),
        "sidebar_page": SimpleLazyObject(lambda: selectors.conversation_sidebar_page(user=user)),
    }


def _page_context(user, conversation=None, **extra) -> dict:
    catalog = get_catalog()
    context = {
        "conversation": conversation,
        **_sidebar_context(user, conversation),
        "models": catalog.usable(),
        "default_model": catalog.default(),
        "presets": catalog.presets,
        "example_prompts": EXAMPLE_PROMPTS if conversation is None else (),
        # Compare is offered with two usable models or more; else the page says why.
        "compare_models": services.compare_models_available(),
        "compare_unusable": [
            (model, model.unusable_reason())
            for model in catalog.models.values()
            if not model.usable
        ],
    }
    context.update(extra)
    return context


@never_cache
@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    """Show a new, empty chat."""
    return render(request, PAGE, _page_context(request.user, chat_messages=[]))


@require_http_methods(["GET", "POST"])
async def conversation_create(request: HtmxHttpRequest) -> HttpResponse:
    """Start a conversation with its first message and go to it while it streams."""
    if request.method == "GET":
        # A refused first message is shown at this URL; a language or theme
        # switch from there comes back here by GET: that is the new chat page.
        return redirect("conversations:home")
    user = await request.auser()
    content = request.POST.get("message", "")
    model_id = request.POST.get("model") or None
    system_prompt = request.POST.get("system_prompt", "")
    try:
        # Checked first: a message that cannot be sent leaves no empty conversation.
        services.message_validate(content)
        conversation = await database_call(services.conversation_create)(
            owner=user, model_id=model_id, system_prompt=system_prompt
        )
    except (ValidationError, UnknownModelError) as exc:
        error = frames.refusal_text(exc)
        return await _home_with_error(request, user, error, content, system_prompt)
    compared = request.POST.getlist("compare_models")
    try:
        if compared:
            await engine.reply_to_comparison(
                conversation=conversation,
                content=content,
                model_ids=compared,
                blind=request.POST.get("blind") == "on",
            )
        else:
            await engine.reply_to_question(conversation=conversation, content=content)
    except (ValidationError, PromptTooLongError, UnknownModelError) as exc:
        await database_call(services.conversation_delete)(conversation=conversation)
        error = frames.refusal_text(exc)
        return await _home_with_error(request, user, error, content, system_prompt)
    except BaseException:
        await database_call(services.conversation_delete)(conversation=conversation)
        raise
    return redirect(conversation)


async def _home_with_error(request, user, error, content, system_prompt) -> HttpResponse:
    context = _page_context(
        user, chat_messages=[], alert=error, draft=content, draft_system_prompt=system_prompt
    )
    # Rendering reads the sidebar and preferences: a database call like any other.
    return await database_call(render)(request, PAGE, context, status=400)


def _conversation_context(user, conversation, *, draft: str = "", **extra) -> dict:
    """Everything the conversation page shows about its model and context window."""
    gauge = conversation_gauge(conversation=conversation, draft=draft)
    return _page_context(
        user,
        conversation,
        model=get_catalog().models.get(conversation.model_id),
        gauge=gauge,
        left_out_up_to=gauge.left_out_up_to if gauge else None,
        total_cost=selectors.conversation_cost(conversation=conversation),
        link=selectors.shared_link_active(conversation=conversation),
        **extra,
    )


@never_cache
@require_GET
def conversation_detail(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Show a conversation with every message; the page then attaches by websocket."""
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
    messages = list(selectors.message_list(conversation=conversation))
    messages_html_store(messages=messages)
    selectors.alternatives_annotate(messages=messages)
    selectors.comparisons_annotate(messages=messages)
    streaming = next((m for m in messages if m.status == m.Status.STREAMING), None)
    context = _conversation_context(
        request.user, conversation, chat_messages=messages, streaming_message=streaming
    )
    return render(request, PAGE, context)


@require_POST
def conversation_count(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Count the draft's tokens against the model's window (the composer's live gauge)."""
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
    context = _conversation_context(
        request.user, conversation, draft=request.POST.get("message", "")
    )
    # The "not in the model's memory" marks follow the draft: those between the
    # boundary the page shows (sent back from the gauge) and the new one flip.
    try:
        shown = int(request.POST.get("left_out_up_to") or 0)
    except ValueError:
        shown = 0
    boundary = context["left_out_up_to"] or 0
    context["moved"] = selectors.message_list(conversation=conversation).filter(
        id__gt=min(shown, boundary), id__lte=max(shown, boundary)
    ) if shown != boundary else []
    return render(request, f"{PAGE}#count-frame", context)


@require_POST
def conversation_settings(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Switch the model and/or edit the system prompt of a conversation."""
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
    error = ""
    try:
        if "model" in request.POST:
            services.conversation_set_model(
                conversation=conversation, model_id=request.POST["model"]
            )
        if "system_prompt" in request.POST:
            services.conversation_set_system_prompt(
                conversation=conversation, system_prompt=request.POST["system_prompt"]
            )
        if "memory" in request.POST:
            # A hidden "off" comes before the checkbox's "on": the last value counts.
            services.conversation_set_memory(
                conversation=conversation, enabled=request.POST.getlist("memory")[-1] == "on"
            )
    except ValidationError as exc:
        error = exc.messages[0]
    except UnknownModelError as exc:
        error = str(exc)
    conversation.refresh_from_db()
    if not error:
        # Every other open view of the conversation shows the change at once.
        async_to_sync(engine.conversation_publish)(
            engine.conversation_group(conversation.public_id),
            {"type": "conversation.settings_changed"},
        )
    if not request.htmx:
        if error:
            flash.error(request, error)
        return redirect(conversation)
    messages = list(selectors.message_list(conversation=conversation))
    context = _conversation_context(
        request.user, conversation, chat_messages=messages, alert=error, oob=True
    )
    return render(request, f"{PAGE}#settings-frame", context, status=400 if error else 200)


@require_POST
def conversation_summary(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Edit or delete the summary of earlier messages (memory beyond the window)."""
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
    error = ""
    try:
        if request.POST.get("delete"):
            services.conversation_summary_delete(conversation=conversation)
        else:
            services.conversation_summary_edit(
                conversation=conversation, summary=request.POST.get("summary", "")
            )
    except ValidationError as exc:
        error = exc.messages[0]
    conversation.refresh_from_db()
    if not error:
        async_to_sync(engine.conversation_publish)(
            engine.conversation_group(conversation.public_id),
            {"type": "conversation.settings_changed"},
        )
    if not request.htmx:
        if error:
            flash.error(request, error)
        return redirect(conversation)
    messages = list(selectors.message_list(conversation=conversation))
    context = _conversation_context(
        request.user, conversation, chat_messages=messages, alert=error, oob=True
    )
    return render(request, f"{PAGE}#settings-frame", context, status=400 if error else 200)


@require_POST
def conversation_rename(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Rename a conversation."""
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
    try:
        services.conversation_rename(conversation=conversation, title=request.POST.get("title", ""))
    except ValidationError as exc:
        if request.htmx:
            context = {"conversation": conversation, "alert": exc.messages[0], "oob": True}
            return render(request, f"{PAGE}#alert", context, status=400)
        flash.error(request, exc.messages[0])
        return redirect(conversation)
    if request.htmx:
        context = {"conversation": conversation, "current_public_id": conversation.public_id}
        return render(request, f"{PAGE}#title-frame", context)
    return redirect(conversation)


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
        context = {"conversation": conversation, **_sidebar_context(request.user, conversation)}
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


@never_cache
@require_GET
def conversation_search(request: HtmxHttpRequest) -> HttpResponse:
    """Search the user's conversations (titles and message text).

    From the sidebar's box (htmx) the first hits replace the box's results as
    the reader types; without htmx it is a page of all the results, sidebar kept.
    """
    query = request.GET.get("q", "").strip()
    try:
        text_check(query, field=_("The search"))
    except ValidationError as exc:
        context = {"search_query": query.replace("\x00", ""), "search_error": exc.messages[0]}
        return render(request, "conversations/search.html", context, status=400)
    results = None
    if query:
        hits = search.conversation_search(user=request.user, query=query)
        results = Paginator(hits, search.PAGE_SIZE).get_page(request.GET.get("page"))
    if request.htmx:
        hits = list(results.paginator.object_list[:SIDEBAR_SEARCH_HITS]) if results else []
        context = {"search_query": query, "results": results, "hits": hits}
        return render(request, f"{SEARCH_PAGE}#sidebar-results", context)
    context = _page_context(request.user, search_query=query, results=results)
    return render(request, SEARCH_PAGE, context)


@require_GET
def leaderboard_page(request: HtmxHttpRequest) -> HttpResponse:
    """The models ranked by blind votes, filtered by the prompt's language and a period."""
    language = request.GET.get("language", "all")
    period = request.GET.get("period", "all")
    board = leaderboard.leaderboard_get(language=language, period=period)
    context = {
        "board": board,
        "language": language if language in leaderboard.LANGUAGES else "all",
        "period": period if period in leaderboard.PERIODS else "all",
        "language_choices": [("all", _("All languages")), *ComparisonVote.Language.choices],
        "period_choices": [
            ("7d", _("Last 7 days")),
            ("30d", _("Last 30 days")),
            ("all", _("All time")),
        ],
    }
    return render(request, "conversations/leaderboard.html", context)
