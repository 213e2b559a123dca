"""One conversation's own settings: model, system prompt, memory, summary and title."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.contrib import messages as flash
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from conversations import engine, selectors, services
from conversations.backends import UnknownModelError
from conversations.frames import PAGE
from conversations.views.context import HtmxHttpRequest, conversation_context


@require_POST
def conversation_settings(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Switch the model and/or edit the system prompt of a conversation."""
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
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
        return _settings_saved(request, conversation, error=exc.messages[0])
    except UnknownModelError as exc:
        return _settings_saved(request, conversation, error=str(exc))
    return _settings_saved(request, conversation)


@require_POST
def conversation_summary(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Edit or delete the summary of earlier messages (memory beyond the window)."""
    conversation = selectors.conversation_get_for_user(user=request.user, public_id=public_id)
    try:
        if request.POST.get("delete"):
            services.conversation_summary_delete(conversation=conversation)
        else:
            services.conversation_summary_edit(
                conversation=conversation, summary=request.POST.get("summary", "")
            )
    except ValidationError as exc:
        return _settings_saved(request, conversation, error=exc.messages[0])
    return _settings_saved(request, conversation)


def _settings_saved(request: HtmxHttpRequest, conversation, *, error: str = "") -> HttpResponse:
    """Answer a settings change: the settings dialog (htmx) or a redirect, with any error.

    Without an error, every other open view of the conversation shows the change at once.
    """
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
    context = conversation_context(
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
