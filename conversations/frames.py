"""HTML frames sent over the websocket, each swapped in out-of-band by htmx.

Messages are rendered from the same `{% partialdef %}` blocks as the page, so a
message looks the same whether it arrived by HTTP or by websocket.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils.html import escape, format_html
from django.utils.translation import ngettext

from conversations import selectors
from conversations.context import Gauge, conversation_gauge
from conversations.models import Conversation, Message

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
    label = ngettext(
        "Queued: %(count)s answer ahead", "Queued: %(count)s answers ahead", ahead
    ) % {"count": ahead}
    return format_html(
        '<div id="msg-{}-note" class="message-note" hx-swap-oob="true">{}</div>', message_id, label
    )


def turn_started(*, conversation: Conversation, appended_ids: list[int]) -> tuple[str, list[int]]:
    """Append the new messages (a question and its streaming reply) and show Stop.

    A reply still streaming is drawn empty: this view was in the group before the
    turn began, so every chunk from the first will follow. Returns the frame and
    the ids of replies that already ended (their chunks are to be skipped).
    """
    appended = list(selectors.message_list(conversation=conversation).filter(id__in=appended_ids))
    return turn_drawn(conversation=conversation, messages=_fresh(appended)), _ended(appended)


def turn_drawn(*, conversation: Conversation, messages: list[Message]) -> str:
    """The frame of a new turn drawn from its messages as they were saved (no query).

    A view in the process that started the turn gets them with the event, and
    handles that event before any chunk of the reply: it is drawn empty.
    """
    for message in messages:
        # A new question and its reply follow the branch's end: no versions yet.
        message.alternatives = None
    context = {"conversation": conversation, "chat_messages": messages}
    return render_to_string(f"{PAGE}#turn-frame", context)


def _fresh(messages: list[Message]) -> list[Message]:
    """Draw replies that are streaming empty: their chunks follow from the first."""
    for message in messages:
        if message.status == message.Status.STREAMING:
            message.content = ""
    return messages


def _ended(messages: list[Message]) -> list[int]:
    return [
        message.pk
        for message in messages
        if message.role == message.Role.ASSISTANT and message.status != message.Status.STREAMING
    ]


def branch_drawn(
    *, conversation: Conversation, fresh_id: int | None = None, fresh_ids: list[int] | None = None
) -> tuple[str, list[int], int | None]:
    """Draw the whole branch shown again (after an edit, a regenerate or a switch).

    `fresh_id` is a reply whose turn just began: it is drawn empty, as in
    `turn_started`. Returns the frame, the replies that already ended among
    the fresh ones, and the window boundary the frame shows.
    """
    messages = list(selectors.message_list(conversation=conversation))
    selectors.alternatives_annotate(messages=messages)
    # A comparison's answers are drawn side by side (most of them off the branch).
    selectors.comparisons_annotate(messages=messages)
    fresh_ids = set(fresh_ids or ()) | {fresh_id}
    drawn = [m for m in messages if m.pk in fresh_ids]
    for message in messages:
        if message.comparison_view is not None:
            drawn += [m for m in message.comparison_view.answers if m.pk in fresh_ids]
    fresh = _fresh(drawn)
    gauge = _gauge(conversation)
    boundary = gauge.left_out_up_to if gauge else None
    context = {
        "conversation": conversation,
        "chat_messages": messages,
        "streaming_message": next(
            (m for m in messages if m.status == m.Status.STREAMING), None
        ),
        "gauge": gauge,
        "left_out_up_to": boundary,
        "total_cost": selectors.conversation_cost(conversation=conversation),
        "oob": True,
    }
    return render_to_string(f"{PAGE}#branch-frame", context), _ended(fresh), boundary


def title_changed(*, conversation: Conversation) -> str:
    """Show the conversation's new title in the header and the sidebar."""
    conversation.refresh_from_db(fields=["title", "title_source", "archived_at"])
    context = {
        "conversation": conversation,
        "current_public_id": conversation.public_id,
        "oob": True,
    }
    return render_to_string(f"{PAGE}#title-frame", context)


def window_boundary(*, conversation: Conversation) -> int | None:
    """Id of the newest message that no longer fits the model's window (None: all fit)."""
    gauge = _gauge(conversation)
    return gauge.left_out_up_to if gauge else None


def message_finished(
    *,
    conversation: Conversation,
    message_id: int,
    left_out_up_to: int | None,
    message: Message | None = None,
) -> tuple[str, int | None]:
    """Swap in the final message as markdown, hide Stop, update cost, gauge and marks.

    `left_out_up_to` is the window boundary this view shows; messages between it
    and the new boundary get their "not in the model's memory" note updated.
    `message` is the reply as saved when the process that wrote it has it (no
    read). Returns the frame and the new boundary.
    """
    if message is None:
        message = selectors.message_get(conversation=conversation, message_id=message_id)
    if not hasattr(message, "alternatives"):
        selectors.alternatives_annotate(messages=[message])
    # An answer of a comparison is drawn in its column (named A or B when blind);
    # only an answer with other versions can be one (no query for the others).
    if message.alternatives is not None:
        selectors.comparison_answer_annotate(message=message)
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
        "oob": True,
        "gauge": gauge,
        "left_out_up_to": new_boundary,
        "moved": moved,
        "total_cost": selectors.conversation_cost(conversation=conversation),
    }
    return render_to_string(f"{PAGE}#finished-frame", context), new_boundary
