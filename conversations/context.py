"""The context window: which messages a model is sent, counted with its own tokenizer.

The system prompt and the newest user message are always kept; earlier turns
are added newest first while they fit in the window minus the tokens reserved
for the answer. Counts are stored per message, so a long conversation costs a
few narrow queries of integers plus one query for the contents that are sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from conversations.backends import ModelConfig, get_catalog
from conversations.counters import Counter, counter_for, counter_named
from conversations.models import Conversation, Message
from conversations.tokens import TOKENS_REPLY_PRIMING

# Messages whose text is worth sending back to the model as history.
HISTORY_STATUSES = (
    Message.Status.COMPLETE,
    Message.Status.STOPPED,
    Message.Status.INTERRUPTED,
    Message.Status.CUT,
)
_FIRST_BATCH = 200


class PromptTooLongError(ValueError):
    """Even the newest message (with the system prompt) does not fit the window."""

    def __init__(self, message: str, *, needed: int, available: int) -> None:
        super().__init__(message)
        self.message = message
        self.needed = needed
        self.available = available


@dataclass
class Window:
    """What the next request sends: messages in order and their token total."""

    budget: int
    encoding: str
    messages: list[dict[str, str]] = field(default_factory=list)
    # History messages sent (the newest message is not saved yet, so not here).
    message_ids: list[int] = field(default_factory=list)
    input_tokens: int = 0
    newest_tokens: int = 0
    # History messages with an id up to this one do not fit and are not sent.
    left_out_up_to: int | None = None
    # Messages up to this one are sent as the conversation's summary.
    summarised_through: int | None = None


def _budget(model: ModelConfig, counter: Counter) -> int:
    budget = model.context_window - model.max_output_tokens - TOKENS_REPLY_PRIMING
    # Counts that are only an estimate keep a share of the window free.
    return budget - math.ceil(budget * counter.margin)


def _history_queryset(
    conversation: Conversation, before_id: int | None = None, after_id: int | None = None
):
    queryset = conversation.messages.filter(
        role__in=(Message.Role.USER, Message.Role.ASSISTANT),
        status__in=HISTORY_STATUSES,
        off_branch=False,
    ).exclude(content="")
    if after_id is not None:
        queryset = queryset.filter(id__gt=after_id)
    return queryset if before_id is None else queryset.filter(id__lt=before_id)


SUMMARY_HEADING = "Summary of the earlier part of this conversation:"


def summary_in_force(conversation: Conversation, before_id: int | None = None) -> int | None:
    """The message the conversation's summary covers up to, if it is to be sent; else None.

    Only with memory on, a summary, and its last message still on the branch
    shown (a branch change makes it stale until it is rebuilt) and before
    `before_id` (a retried earlier question has less history).
    """
    through = conversation.summary_through_id
    if not (conversation.memory_enabled and conversation.summary and through):
        return None
    if before_id is not None and through >= before_id:
        return None
    if not Message.objects.filter(pk=through, off_branch=False).exists():
        return None
    return through


def _counts_newest_first(
    conversation: Conversation, encoding: str, before_id: int | None, after_id: int | None = None
):
    """Yield (id, tokens, role) newest first, counting (and storing) any missing counts.

    One query for the newest messages usually fills a window; a long window gets
    a second query for all the rest, so the number of queries stays constant.
    """
    queryset = _history_queryset(conversation, before_id, after_id).order_by("-id")
    fields = ("id", "token_count", "token_encoding", "role")
    rows = list(queryset.values_list(*fields)[:_FIRST_BATCH])
    yield from _with_counts(rows, encoding)
    if len(rows) == _FIRST_BATCH:
        rest = list(queryset.filter(id__lt=rows[-1][0]).values_list(*fields))
        yield from _with_counts(rest, encoding)


def _with_counts(rows: list[tuple[int, int | None, str, str]], encoding: str):
    stale = [row[0] for row in rows if row[1] is None or row[2] != encoding]
    recounted = message_counts_refresh(ids=stale, encoding=encoding) if stale else {}
    for message_id, tokens, _encoding, role in rows:
        yield message_id, recounted.get(message_id, tokens), role


def message_counts_refresh(*, ids: list[int], encoding: str) -> dict[int, int]:
    """Count and store the tokens of these messages with `encoding`; return the counts."""
    counter = counter_named(encoding)
    messages = list(Message.objects.filter(id__in=ids).only("id", "role", "content"))
    for message in messages:
        message.token_count = counter.message(role=message.role, content=message.content)
        message.token_encoding = encoding
    Message.objects.bulk_update(messages, ["token_count", "token_encoding"])
    return {message.id: message.token_count for message in messages}


def window_build(
    *,
    conversation: Conversation,
    model: ModelConfig,
    newest: str | None = None,
    draft_tokens: int = 0,
    before_id: int | None = None,
    with_texts: bool = True,
    continuation: str | None = None,
) -> Window:
    """Choose the messages for the next request to `model`.

    `newest` is the text of the user message being sent, not yet saved, and is
    always kept; without it the window is the one a next message would get, with
    `draft_tokens` reserved for the draft. Raises PromptTooLongError when the
    system prompt and the newest message alone do not fit. With `before_id`, only
    history older than that message counts (retrying an earlier question).
    Without `with_texts`, only the counts are read (a gauge needs no contents).
    `continuation` is an answer cut at the length limit, sent last so that the
    model writes on from it (counted like the newest message).
    """
    counter = counter_for(model)
    encoding = counter.name
    budget = _budget(model, counter)
    used = 0
    window = Window(budget=budget, encoding=encoding)
    summarised = summary_in_force(conversation, before_id) if conversation.pk else None
    system = conversation.system_prompt
    if summarised is not None:
        # Memory beyond the window: the summary stands in for what it covers.
        summary = f"{SUMMARY_HEADING}\n{conversation.summary}"
        system = f"{system}\n\n{summary}" if system else summary
        window.summarised_through = summarised
    if system:
        window.messages.append({"role": "system", "content": system})
        used += counter.message(role="system", content=system)
    if newest is not None:
        window.newest_tokens = counter.message(role="user", content=newest)
        used += window.newest_tokens
        if continuation is not None:
            used += counter.message(role="assistant", content=continuation)
    else:
        used += draft_tokens
    if used > budget:
        raise PromptTooLongError(
            _(
                "This message is too long for %(model)s: it needs %(needed)s tokens "
                "(with the system prompt), but the model's window of %(window)s "
                "tokens leaves %(budget)s once %(reserved)s are reserved for "
                "the answer."
            )
            % {
                "model": model.label,
                "needed": f"{used:,}",
                "window": f"{model.context_window:,}",
                "budget": f"{budget:,}",
                "reserved": f"{model.max_output_tokens:,}",
            },
            needed=used,
            available=budget,
        )

    chosen: list[tuple[int, int, str]] = []
    if conversation.pk is not None:
        history = _counts_newest_first(conversation, encoding, before_id, summarised)
        for message_id, tokens, role in history:
            if used + tokens > budget:
                window.left_out_up_to = message_id
                break
            used += tokens
            chosen.append((message_id, tokens, role))
    if model.strict_alternation:
        # A template that needs a question first: an answer whose question did
        # not fit is left out too (and marked so).
        while chosen and chosen[-1][2] != Message.Role.USER:
            message_id, tokens, _role = chosen.pop()
            window.left_out_up_to, used = message_id, used - tokens
    if summarised is not None and window.left_out_up_to is None:
        # Everything after the summary fits: what it covers is still not sent as is.
        window.left_out_up_to = summarised
    chosen_ids = [message_id for message_id, _tokens, _role in reversed(chosen)]

    if chosen_ids and with_texts:
        # The chosen messages are the newest history ones: a range, not a long IN list.
        rows = (
            _history_queryset(conversation)
            .filter(id__gte=chosen_ids[0], id__lte=chosen_ids[-1])
            .order_by("id")
            .values_list("role", "content")
        )
        window.messages.extend({"role": role, "content": content} for role, content in rows)
    window.message_ids = chosen_ids
    if newest is not None:
        window.messages.append({"role": "user", "content": newest})
        if continuation is not None:
            window.messages.append({"role": "assistant", "content": continuation})
    if model.strict_alternation:
        window.messages = _alternating(window.messages)
    window.input_tokens = used + TOKENS_REPLY_PRIMING
    return window


def _alternating(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Join consecutive messages of one role (a question whose answer failed, then the
    next): strict templates refuse two user turns in a row. Nothing is dropped, so the
    page's marks stay exactly what is sent; the joined message counts a little less
    than its parts (one framing fewer), on the safe side."""
    joined: list[dict[str, str]] = []
    for message in messages:
        if joined and joined[-1]["role"] == message["role"] != "system":
            joined[-1] = {
                "role": message["role"],
                "content": f"{joined[-1]['content']}\n\n{message['content']}",
            }
        else:
            joined.append(message)
    return joined


@dataclass(frozen=True)
class Gauge:
    """What the composer shows: draft tokens + the rest of the next request / window."""

    draft_tokens: int
    other_tokens: int
    context_window: int
    reserved_tokens: int
    left_out_up_to: int | None
    error: str = ""
    # The counts are an estimate (not the model's own tokenizer).
    estimated: bool = False

    @property
    def total(self) -> int:
        return self.draft_tokens + self.other_tokens

    @property
    def over(self) -> bool:
        return bool(self.error)


def window_gauge(*, conversation: Conversation, model: ModelConfig, draft: str = "") -> Gauge:
    """Measure the next request: the draft, everything else sent with it, and the window."""
    counter = counter_for(model)
    draft_tokens = counter.message(role="user", content=draft) if draft else 0
    error = ""
    try:
        window = window_build(
            conversation=conversation, model=model, draft_tokens=draft_tokens, with_texts=False
        )
        other_tokens = window.input_tokens - draft_tokens
    except PromptTooLongError as exc:
        error = exc.message
        window = window_build(conversation=conversation, model=model, with_texts=False)
        other_tokens = window.input_tokens
    return Gauge(
        draft_tokens=draft_tokens,
        other_tokens=other_tokens,
        context_window=model.context_window,
        reserved_tokens=model.max_output_tokens,
        left_out_up_to=window.left_out_up_to,
        error=error,
        estimated=not counter.exact,
    )


def conversation_gauge(*, conversation: Conversation, draft: str = "") -> Gauge | None:
    """The gauge for the conversation's own model (None if it left the catalog)."""
    model = get_catalog().models.get(conversation.model_id)
    if model is None:
        return None
    return window_gauge(conversation=conversation, model=model, draft=draft)
