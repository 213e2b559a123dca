"""The chat pages: a new chat, starting a conversation, a conversation and its live token gauge."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conversations import engine, frames, selectors, services
from conversations.backends import UnknownModelError
from conversations.context import PromptTooLongError
from conversations.database import database_call
from conversations.frames import PAGE
from conversations.stored_html import messages_html_store
from conversations.views.context import HtmxHttpRequest, conversation_context, page_context


@never_cache
@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    """Show a new, empty chat."""
    return render(request, PAGE, page_context(request.user, chat_messages=[]))


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
    context = page_context(
        user, chat_messages=[], alert=error, draft=content, draft_system_prompt=system_prompt
    )
    # Rendering reads the sidebar and preferences: a database call like any other.
    return await database_call(render)(request, PAGE, context, status=400)


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
    context = conversation_context(
        request.user, conversation, chat_messages=messages, streaming_message=streaming
    )
    return render(request, PAGE, context)


@require_POST
def conversation_count(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Count the draft's tokens against the model's window (the composer's live gauge)."""
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
    context = conversation_context(
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
