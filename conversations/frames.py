"""HTML frames sent over the websocket, each swapped in out-of-band by htmx.

Messages are rendered from the same `{% partialdef %}` blocks as the page, so a
message looks the same whether it arrived by HTTP or by websocket.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import ngettext

from conversations import selectors
from conversations.backends import get_catalog
from conversations.context import conversation_gauge
from conversations.models import Conversation, Message
from conversations.rendering.streaming import StreamingMarkdown, StreamUpdate

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


def _tail(message_id: int, html: str, *, raw: str = "", oob: bool = False) -> str:
    """The open tail of a streaming message, with a place at its end for plain text."""
    # Text that comes before the tail is rendered again goes into this span,
    # inside the tail's last element (the open paragraph or code block).
    split = _TRAILING_CLOSERS.search(html)
    marker = format_html('<span id="msg-{}-end" class="stream-end">{}</span>', message_id, raw)
    html = html[: split.start()] + marker + html[split.start() :]
    return format_html(
        '<div id="msg-{}-tail" class="stream-tail"{}>{}</div>',
        message_id,
        mark_safe(' hx-swap-oob="true"') if oob else "",
        mark_safe(html),  # noqa: S308 - sanitised by markdown_render, the marker is ours
    )


_TRAILING_CLOSERS = re.compile(r"\n?(?:\s*</[a-z0-9]+>)*\s*$")


def streaming_body(message_id: int, renderer: StreamingMarkdown) -> str:
    """The inside of a streaming message's body: the done blocks, then the open tail."""
    return format_html(
        '<div id="msg-{}-done" class="stream-done">{}</div>{}',
        message_id,
        mark_safe(renderer.done_html),  # noqa: S308 - sanitised by markdown_render
        _tail(message_id, renderer.tail_html, raw=renderer.raw),
    )


def body_replace(message_id: int, text: str) -> tuple[str, StreamingMarkdown]:
    """Replace a streaming message's body with everything written so far, rendered.

    Returns the frame and the renderer that the message's next chunks are fed to.
    """
    renderer = StreamingMarkdown()
    renderer.feed(text)
    frame = format_html(
        '<div id="msg-{}-body" class="message-body markdown is-streaming" hx-swap-oob="true">'
        "{}</div>",
        message_id,
        mark_safe(streaming_body(message_id, renderer)),  # noqa: S308 - built above
    )
    return frame, renderer


def body_update(message_id: int, update: StreamUpdate) -> str:
    """Add what a new chunk changed: blocks it completed, then the tail (or its text)."""
    parts = []
    if update.done:
        parts.append(
            format_html(
                '<div hx-swap-oob="beforeend:#msg-{}-done">{}</div>',
                message_id,
                mark_safe(update.done),  # noqa: S308 - sanitised by markdown_render
            )
        )
    if update.tail is not None:
        parts.append(_tail(message_id, update.tail, oob=True))
    elif update.raw:
        parts.append(
            format_html(
                '<span hx-swap-oob="beforeend:#msg-{}-end">{}</span>', message_id, update.raw
            )
        )
    return "".join(parts)


def queued(message_id: int, ahead: int) -> str:
    """Tell the user their reply waits behind others."""
    label = ngettext(
        "Queued: %(count)s answer ahead", "Queued: %(count)s answers ahead", ahead
    ) % {"count": ahead}
    return format_html(
        '<div id="msg-{}-note" class="message-note" hx-swap-oob="true">{}</div>', message_id, label
    )


def turn_started(
    *, conversation: Conversation, appended_ids: list[int], unarchived: bool = False
) -> tuple[str, list[int]]:
    """Append the new messages (a question and its streaming reply) and show Stop.

    A reply still streaming is drawn empty: this view was in the group before the
    turn began, so every chunk from the first will follow. Returns the frame and
    the ids of replies that already ended (their chunks are to be skipped).
    """
    appended = list(selectors.message_list(conversation=conversation).filter(id__in=appended_ids))
    frame = turn_drawn(conversation=conversation, messages=_fresh(appended), unarchived=unarchived)
    return frame, _ended(appended)


def turn_drawn(
    *, conversation: Conversation, messages: list[Message], unarchived: bool = False
) -> str:
    """The frame of a new turn drawn from its messages as they were saved (no query).

    A view in the process that started the turn gets them with the event, and
    handles that event before any chunk of the reply: it is drawn empty.
    `unarchived`: the turn brought the conversation back from the archive, and
    the header says so at once.
    """
    for message in messages:
        # A new question and its reply follow the branch's end: no versions yet.
        message.alternatives = None
    if unarchived:
        conversation.archived_at = None
    context = {"conversation": conversation, "chat_messages": messages, "unarchived": unarchived}
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
    total_cost = selectors.conversation_refresh_with_cost(conversation=conversation)
    gauge = conversation_gauge(conversation=conversation)
    boundary = gauge.left_out_up_to if gauge else None
    context = {
        "conversation": conversation,
        "chat_messages": messages,
        "streaming_message": next(
            (m for m in messages if m.status == m.Status.STREAMING), None
        ),
        "gauge": gauge,
        "left_out_up_to": boundary,
        "total_cost": total_cost,
        "oob": True,
    }
    return render_to_string(f"{PAGE}#branch-frame", context), _ended(fresh), boundary


def settings_changed(*, conversation: Conversation) -> tuple[str, int | None]:
    """Show the model and system prompt chosen in another view, with the gauge and marks.

    Returns the frame and the window boundary it shows.
    """
    # Another view switched the model, edited the system prompt or the memory.
    conversation.refresh_from_db(
        fields=["model_id", "system_prompt", "memory_enabled", "summary", "summary_through"]
    )
    gauge = conversation_gauge(conversation=conversation)
    boundary = gauge.left_out_up_to if gauge else None
    catalog = get_catalog()
    context = {
        "conversation": conversation,
        "chat_messages": list(selectors.message_list(conversation=conversation)),
        "model": catalog.models.get(conversation.model_id),
        "models": catalog.usable(),
        "presets": catalog.presets,
        "gauge": gauge,
        "left_out_up_to": boundary,
        "oob": True,
        # Not opened in the views that did not make the change.
        "settings_closed": True,
    }
    return render_to_string(f"{PAGE}#settings-frame", context), boundary


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
    """Id of the newest message that no longer fits the model's window (None: all fit).

    Read when a socket opens, just after its conversation was: no refresh.
    """
    gauge = conversation_gauge(conversation=conversation)
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
    total_cost = selectors.conversation_refresh_with_cost(conversation=conversation)
    gauge = conversation_gauge(conversation=conversation)
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
        "total_cost": total_cost,
    }
    return render_to_string(f"{PAGE}#finished-frame", context), new_boundary
