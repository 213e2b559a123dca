"""HTML frames sent over the websocket, each swapped in out-of-band by htmx.

Messages are rendered from the same `{% partialdef %}` blocks as the page, so a
message looks the same whether it arrived by HTTP or by websocket.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils.html import escape, format_html

from conversations import selectors
from conversations.context import Gauge, conversation_gauge
from conversations.models import Conversation

PAGE = "conversations/conversation.html"


def refusal_text(exc: Exception) -> str:
    """The user-facing sentence of a refused request (validation, window, unknown model)."""
    if isinstance(exc, ValidationError):
        return exc.messages[0]
    return str(exc)


def alert(text: str) -> str:
    """Show an error above the composer."""
    return render_to_string(f"{PAGE}#alert", {"alert": text, "oob": True})


def composer_reset(conversation: Conversation) -> str:
    """Empty the composer's text box (its gauge is redrawn when the answer ends)."""
    context = {"conversation": conversation, "oob": True}
    return render_to_string(f"{PAGE}#composer-input", context)


def _gauge(conversation: Conversation) -> Gauge | None:
    # Another view may have switched the model or edited the system prompt.
    conversation.refresh_from_db(fields=["model_id", "system_prompt"])
    return conversation_gauge(conversation=conversation)


def body_replace(message_id: int, text: str) -> str:
    """Replace a streaming message's text with everything written so far."""
    return format_html(
        '<div id="msg-{}-body" class="message-body is-streaming" hx-swap-oob="true">{}</div>',
        message_id,
        text,
    )


def body_append(message_id: int, text: str) -> str:
    """Append escaped text to a streaming message."""
    return format_html(
        '<span hx-swap-oob="beforeend:#msg-{}-body">{}</span>', message_id, escape(text)
    )


def queued(message_id: int, ahead: int) -> str:
    """Tell the user their reply waits behind others."""
    label = "Queued: 1 answer ahead" if ahead == 1 else f"Queued: {ahead} answers ahead"
    return format_html(
        '<div id="msg-{}-note" class="message-note" hx-swap-oob="true">{}</div>', message_id, label
    )


def turn_started(
    *, conversation: Conversation, appended_ids: list[int], updated_ids: list[int]
) -> tuple[str, list[int]]:
    """Append the new messages (a question and its streaming reply), show Stop, and
    redraw messages the turn changed (an answer superseded by a retry).

    A reply still streaming is drawn empty: this view was in the group before the
    turn began, so every chunk from the first will follow. Returns the frame and
    the ids of replies that already ended (their chunks are to be skipped).
    """
    messages = selectors.message_list(conversation=conversation)
    conversation.refresh_from_db(fields=["title", "updated_at"])
    appended = list(messages.filter(id__in=appended_ids))
    for message in appended:
        if message.status == message.Status.STREAMING:
            message.content = ""
    context = {
        "conversation": conversation,
        "chat_messages": appended,
        "updated_messages": list(messages.filter(id__in=updated_ids)),
    }
    ended = [
        message.pk
        for message in appended
        if message.role == message.Role.ASSISTANT and message.status != message.Status.STREAMING
    ]
    return render_to_string(f"{PAGE}#turn-frame", context), ended


def window_boundary(*, conversation: Conversation) -> int | None:
    """Id of the newest message that no longer fits the model's window (None: all fit)."""
    gauge = _gauge(conversation)
    return gauge.left_out_up_to if gauge else None


def message_finished(
    *, conversation: Conversation, message_id: int, left_out_up_to: int | None
) -> tuple[str, int | None]:
    """Swap in the final message as markdown, hide Stop, update cost, gauge and marks.

    `left_out_up_to` is the window boundary this view shows; messages between it
    and the new boundary get their "not in the model's memory" note updated.
    Returns the frame and the new boundary.
    """
    message = selectors.message_get(conversation=conversation, message_id=message_id)
    gauge = _gauge(conversation)
    new_boundary = gauge.left_out_up_to if gauge else None
    low, high = sorted((left_out_up_to or 0, new_boundary or 0))
    moved = (
        list(selectors.message_list(conversation=conversation).filter(id__gt=low, id__lte=high))
        if high > low
        else []
    )
    context = {
        "conversation": conversation,
        "message": message,
        "retry_id": message.pk,
        "oob": True,
        "gauge": gauge,
        "left_out_up_to": new_boundary,
        "moved": moved,
        "total_cost": selectors.conversation_cost(conversation=conversation),
    }
    return render_to_string(f"{PAGE}#finished-frame", context), new_boundary
