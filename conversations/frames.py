"""HTML frames sent over the websocket, each swapped in out-of-band by htmx.

Messages are rendered from the same `{% partialdef %}` blocks as the page, so a
message looks the same whether it arrived by HTTP or by websocket.
"""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils.html import escape, format_html

from conversations import selectors
from conversations.models import Conversation

PAGE = "conversations/conversation.html"


def alert(text: str) -> str:
    """Show an error above the composer."""
    return render_to_string(f"{PAGE}#alert", {"alert": text, "oob": True})


def composer_reset(conversation: Conversation) -> str:
    """Replace the composer with an empty one."""
    return render_to_string(f"{PAGE}#composer", {"conversation": conversation, "oob": True})


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


def turn_started(*, conversation: Conversation, message_ids: list[int]) -> str:
    """Append a new user message and its streaming reply, and show the Stop button."""
    messages = list(selectors.message_list(conversation=conversation).filter(id__in=message_ids))
    conversation.refresh_from_db(fields=["title", "updated_at"])
    context = {"conversation": conversation, "messages": messages, "append": True}
    return render_to_string(f"{PAGE}#turn-frame", context)


def message_finished(*, conversation: Conversation, message_id: int) -> str:
    """Swap in the final message, rendered as markdown, and hide the Stop button."""
    message = selectors.message_get(conversation=conversation, message_id=message_id)
    context = {"conversation": conversation, "message": message, "oob": True}
    return render_to_string(f"{PAGE}#finished-frame", context)
