"""The reply runner: one detached task per reply, wherever the request came from.

A reply keeps streaming when whoever asked for it goes away (a browser that
closes or reloads). The task publishes coalesced chunks with sequence numbers,
checkpoints the partial text (checkpoints.py), and saves the final text, usage,
cost, timings and status when it ends. Any view of the conversation can attach
(watch.py) and any worker can stop it through the layer (control.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext

from conversations import services
from conversations.backends import BackendError, Finish, ModelConfig, Queued, Usage, get_backend
from conversations.database import database_call
from conversations.engine.checkpoints import checkpointer_ensure
from conversations.engine.control import control_close, control_join, control_listen
from conversations.engine.delivery import (
    chunk_group,
    conversation_group,
    conversation_publish,
    deliver_here,
    layer_is_shared,
)
from conversations.engine.state import Reply, running
from conversations.models import Conversation, Message
from conversations.outcomes import reply_outcome

logger = logging.getLogger("parley.generation")


@dataclass(frozen=True)
class ReplyOutcome:
    """How a reply ended, for whoever wants to act on it (titles)."""

    message_id: int
    group: str
    status: str
    # The answer to a conversation's first question (the one that may name it).
    first_answer: bool
    # The conversation keeps a summary of what falls out of its window.
    memory: bool = False


# Called, in the reply's task, after each reply ended and was saved.
_finish_listeners: list[Callable[[ReplyOutcome], None]] = []


def reply_finished_connect(listener: Callable[[ReplyOutcome], None]) -> None:
    """Call `listener` with the outcome of every reply that ends in this process."""
    if listener not in _finish_listeners:
        _finish_listeners.append(listener)


async def reply_start(
    *, conversation: Conversation, turn: services.Turn, redraw: bool = False
) -> None:
    """Tell every view about the new turn, then run its reply as a detached task.

    Views append the turn's question and reply, or, when the turn changed the
    branch shown (`redraw`), draw the whole branch again.
    """
    group = conversation_group(conversation.public_id)
    # Registered first: a view handling "turn.started" finds the reply running here.
    reply = Reply(
        message_id=turn.assistant_message.id, group=group, loop=asyncio.get_running_loop()
    )
    if turn.continued is not None:  # its snapshots and saves start from the text so far
        prefix = turn.continued.content
        reply.parts.append(prefix)
        reply.published_chars = reply.prefix_chars = len(prefix)
        reply.saved_parts = 1
    running[reply.message_id] = reply
    checkpointer_ensure()
    await control_join(reply)
    messages = [turn.user_message, turn.assistant_message]
    event = {
        "type": "turn.started",
        "appended_ids": [] if redraw else [message.id for message in messages],
        "redraw": redraw,
        "assistant_message_id": turn.assistant_message.id,
        "unarchived": turn.unarchived,
    }
    # Views here draw a new turn from its messages as saved, with no query: a
    # database round trip per view, queued behind other sockets' writes, held
    # back the reply's first chunk.
    here = None if redraw else {**event, "messages": messages}
    await conversation_publish(group, event, here=here)
    _launch(reply, turn)


async def replies_start(
    *, conversation: Conversation, turns: list[services.Turn], event: dict
) -> None:
    """Run several replies of one turn (a comparison) at once, announced by one `event`.

    Every reply is registered before the event is published, and none runs
    before it: a view draws them all, then follows each from its first chunk.
    """
    group = conversation_group(conversation.public_id)
    loop = asyncio.get_running_loop()
    replies = []
    for turn in turns:
        reply = Reply(message_id=turn.assistant_message.id, group=group, loop=loop)
        running[reply.message_id] = reply
        replies.append(reply)
        await control_join(reply)
    checkpointer_ensure()
    await conversation_publish(group, event)
    for reply, turn in zip(replies, turns, strict=True):
        _launch(reply, turn)


def _launch(reply: Reply, turn: services.Turn) -> None:
    # A fresh context: the task must not inherit the request's or the socket's
    # thread-sensitive executor, which is shut down when they end.
    reply.task = asyncio.create_task(
        _run(
            reply,
            turn,
            # Errors saved with the answer are written in the sender's language.
            language=translation.get_language(),
        ),
        name=f"generation-{reply.message_id}",
        context=contextvars.Context(),
    )
    reply.task.add_done_callback(lambda _task: running.pop(reply.message_id, None))


class _Publisher:
    """Coalesce text into frames: at most one publish per frame interval.

    Views here get each chunk at once; views elsewhere (if any asked) through
    the layer, by one sender that keeps them in order whatever its latency.
    """

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.layer = get_channel_layer()
        self.shared = layer_is_shared(self.layer)
        self.pending: list[str] = []
        self.last_publish = 0.0
        self.timer: asyncio.TimerHandle | None = None
        # One sender keeps frames in order, whatever the layer's latency.
        self.outbox: asyncio.Queue[dict | None] = asyncio.Queue()
        self.sender = asyncio.create_task(self._send_loop())

    async def _send_loop(self) -> None:
        while (event := await self.outbox.get()) is not None:
            try:
                await self.layer.group_send(chunk_group(self.reply.message_id), event)
            except Exception:
                logger.exception("could not publish a chunk of %s", self.reply.message_id)

    def add(self, text: str) -> None:
        self.reply.parts.append(text)
        self.pending.append(text)
        if self.timer is not None:
            return
        delay = self.last_publish + settings.PARLEY_FRAME_SECONDS - time.monotonic()
        if delay <= 0:
            self.flush()
        else:
            self.timer = asyncio.get_running_loop().call_later(delay, self.flush)

    def flush(self) -> None:
        self.timer = None
        if not self.pending:
            return
        text = "".join(self.pending)
        self.pending.clear()
        self.reply.seq += 1
        self.reply.published_chars += len(text)
        self.last_publish = time.monotonic()
        event = {
            "type": "generation.delta",
            "message_id": self.reply.message_id,
            "seq": self.reply.seq,
            "text": text,
        }
        deliver_here(self.reply.group, event)
        if self.shared and self.reply.remote_views:
            self.outbox.put_nowait(event)

    async def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.flush()
        self.outbox.put_nowait(None)
        await self.sender


async def _run(reply: Reply, turn: services.Turn, *, language: str | None) -> None:
    if language:
        translation.activate(language)  # in this task's own context only
    model: ModelConfig = turn.model
    publisher = _Publisher(reply)
    control_listener = None
    if (control_channel := reply.control_channel) is not None:
        control_listener = asyncio.create_task(control_listen(reply, control_channel))
    started = time.monotonic()
    first_token_at: float | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    status, error = Message.Status.COMPLETE, ""
    first_token_timeout = settings.PARLEY_FIRST_TOKEN_TIMEOUT
    try:
        if reply.stop_requested:  # stopped before the task ran
            raise asyncio.CancelledError
        # No first token in time (a stalled upstream, retries included) is an
        # error, not a spinner forever; once text flows, the client's own read
        # timeout applies. Waiting in the embedded model's queue is not a stall.
        async with asyncio.timeout(first_token_timeout) as first_token_deadline:
            async for event in get_backend(model).stream(
                messages=turn.window.messages,
                max_tokens=turn.options.max_tokens or model.max_output_tokens,
                options=turn.options,
            ):
                if isinstance(event, Usage):
                    usage = event
                elif isinstance(event, Finish):
                    finish_reason = event.reason
                elif isinstance(event, Queued):
                    first_token_deadline.reschedule(None)
                    await conversation_publish(
                        reply.group,
                        {
                            "type": "generation.queued",
                            "message_id": reply.message_id,
                            "ahead": event.ahead,
                        },
                    )
                elif event:
                    if first_token_at is None:
                        first_token_at = time.monotonic()
                        first_token_deadline.reschedule(None)
                    publisher.add(event)
        outcome = reply_outcome(
            text=reply.text[reply.prefix_chars :],
            finish_reason=finish_reason,
            model=model,
            input_tokens=turn.window.input_tokens,
        )
        status, error = outcome.status, outcome.error
        if error:
            logger.warning(
                "generation %s ended %s (finish reason %r): %s",
                reply.message_id,
                status,
                finish_reason,
                error,
            )
    except TimeoutError:
        status = Message.Status.ERROR
        error = gettext("The model did not start answering within %(seconds)s s.") % {
            "seconds": f"{first_token_timeout:g}"
        }
        logger.warning("generation %s: no first token in time", reply.message_id)
    except asyncio.CancelledError:
        status = Message.Status.STOPPED if reply.stop_requested else Message.Status.INTERRUPTED
    except BackendError as exc:
        # The upstream's own words go to the log; the user reads our sentence.
        logger.warning(
            "generation %s failed: %s (upstream: %s)",
            reply.message_id,
            exc.message,
            exc.detail or "-",
        )
        status, error = Message.Status.ERROR, exc.message
    except Exception:
        logger.exception("generation %s failed", reply.message_id)
        status, error = Message.Status.ERROR, "Something went wrong while writing the answer."
    finally:
        await publisher.close()
        now = time.monotonic()
        saved = await database_call(services.message_finish)(
            message_id=reply.message_id,
            model=model,
            content=reply.text,
            status=status,
            error=error,
            finish_reason=finish_reason or "",
            usage=usage,
            estimated_input_tokens=turn.window.input_tokens,
            time_to_first_token_ms=(
                round((first_token_at - started) * 1000) if first_token_at else None
            ),
            duration_ms=round((now - started) * 1000),
            continued=turn.continued,
        )
        event = {"type": "generation.finished", "message_id": reply.message_id}
        # Views here draw the reply as it was saved, with no read.
        await conversation_publish(
            reply.group, event, here={**event, "message": _finished(turn, saved)}
        )
        if control_listener is not None:
            await control_close(control_listener, control_channel)
        outcome = ReplyOutcome(
            message_id=reply.message_id,
            group=reply.group,
            status=status,
            first_answer=turn.user_message.parent_id is None and turn.continued is None,
            memory=turn.memory,
        )
        for listener in _finish_listeners:
            try:
                listener(outcome)
            except Exception:
                logger.exception("a listener of reply %s failed", reply.message_id)


def _finished(turn: services.Turn, saved: dict) -> Message:
    """The reply as saved, from what this process holds (a copy: views may annotate it)."""
    message = copy.copy(turn.assistant_message)
    for name, value in saved.items():
        setattr(message, name, value)
    if not turn.regenerated:
        # A new question's answer has no other version; a regenerated one has.
        message.alternatives = None
    return message
