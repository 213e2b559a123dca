"""Generation runs as a task detached from any websocket.

A reply keeps streaming when the browser that asked for it closes or reloads.
The task publishes coalesced chunks with sequence numbers to the conversation's
channel-layer group, checkpoints the partial text to the database, and saves
the final text, usage, cost, timings and status when it ends. Any view of the
conversation can attach (a snapshot, then the chunks after it) and any worker
can stop it through the layer.

Views open in this process get every event of their conversation directly (put
in their inbox, in publishing order), with no round trip through the channel
layer: that round trip was a large share of the CPU of a reply. The layer
carries events only to other processes: low-frequency events to the
conversation's group (tagged with this process's id, so that its own views skip
the copy), and a reply's chunks only once a view in another process asked for
its snapshot (and with it joined the reply's chunk group).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import functools
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext

from conversations import services, titles
from conversations.backends import BackendError, Finish, ModelConfig, Queued, Usage, get_backend
from conversations.models import Conversation, Message
from conversations.outcomes import reply_outcome

logger = logging.getLogger("parley.generation")

# Database calls of sockets and replies. Each is self-contained (its own
# transaction), so it may run on any thread of the loop's pool: the default,
# one thread shared by every socket of the process, queues a hundred busy
# sockets' queries behind each other.
database_call = functools.partial(database_sync_to_async, thread_sensitive=False)

# A running reply touches its row at least this often, so that a restarted server
# can tell replies of a dead process (older than STALE_AFTER) from live ones.
HEARTBEAT_SECONDS = 5.0
STALE_AFTER = timedelta(seconds=30)


def conversation_group(public_id: uuid.UUID | str) -> str:
    """Name of the channel-layer group of everyone viewing one conversation."""
    return f"conversation.{uuid.UUID(str(public_id)).hex}"


def _control_group(message_id: int) -> str:
    """Group of the one task writing this reply, wherever it runs: stop, snapshot."""
    return f"generation-control.{message_id}"


def chunk_group(message_id: int) -> str:
    """Group of the views in other processes that show this reply's chunks."""
    return f"generation-chunks.{message_id}"


# Tags the events this process sends through the layer: its own views, which
# got them directly, skip the copy.
PROCESS_ID = uuid.uuid4().hex


class View(Protocol):
    """A view of a conversation open in this process (a websocket consumer)."""

    def deliver(self, event: dict) -> None:
        """Queue an event; the view handles its events one at a time, in order."""


# Views open in this process, by conversation group.
_views: dict[str, set[View]] = {}


def view_open(group: str, view: View) -> None:
    """Deliver the events of `group` published in this process to `view` directly."""
    _views.setdefault(group, set()).add(view)


def view_close(group: str, view: View) -> None:
    """Stop delivering to `view` (its socket closed)."""
    views = _views.get(group)
    if views is not None:
        views.discard(view)
        if not views:
            del _views[group]


def layer_is_shared(layer: BaseChannelLayer | None = None) -> bool:
    """Whether other processes may be on this channel layer (never for the in-memory one)."""
    return not isinstance(layer or get_channel_layer(), InMemoryChannelLayer)


def _deliver_here(group: str, event: dict) -> None:
    for view in _views.get(group, ()):
        view.deliver(event)


async def conversation_publish(group: str, event: dict, *, here: dict | None = None) -> None:
    """Send an event to every view of a conversation: here directly, elsewhere by the layer.

    `here`, if given, is what views in this process get instead: it may carry
    Python objects that the layer cannot.
    """
    _deliver_here(group, event if here is None else here)
    layer = get_channel_layer()
    if layer_is_shared(layer):
        await layer.group_send(group, {**event, "origin": PROCESS_ID})


@dataclass
class Generation:
    """A reply being written in this process."""

    message_id: int
    group: str
    parts: list[str] = field(default_factory=list)
    seq: int = 0
    # Characters of the text that chunks up to `seq` carried (the rest is pending).
    published_chars: int = 0
    task: asyncio.Task | None = None
    stop_requested: bool = False
    # A view in another process asked for a snapshot: chunks go through the layer too.
    remote_views: bool = False
    # The loop running the reply, and what the checkpointer saved of it and when.
    loop: asyncio.AbstractEventLoop | None = None
    saved_parts: int = 0
    saved_at: float = field(default_factory=time.monotonic)
    # Characters of text the reply had before this run (Continue writes on).
    prefix_chars: int = 0

    @property
    def text(self) -> str:
        return "".join(self.parts)


@dataclass(frozen=True)
class Snapshot:
    """The text of a running reply so far and the sequence number it includes."""

    message_id: int
    text: str
    seq: int


# Replies running in this process. The tasks are held here so that they are not
# garbage-collected while no websocket refers to them.
_running: dict[int, Generation] = {}


def _snapshot(generation: Generation) -> Snapshot:
    # Exactly the text of chunks 1..seq: pending text arrives in chunk seq + 1.
    text = generation.text[: generation.published_chars]
    return Snapshot(message_id=generation.message_id, text=text, seq=generation.seq)


def generation_snapshot(message_id: int) -> Snapshot | None:
    """Return the current text of a reply running in this process, if it is."""
    generation = _running.get(message_id)
    return _snapshot(generation) if generation is not None else None


async def generation_snapshot_request(*, message_id: int, reply_channel: str) -> Snapshot | None:
    """Get the text so far of a running reply: at once if it runs in this process,
    else the process running it sends a "generation.snapshot" event to `reply_channel`.
    """
    snapshot = generation_snapshot(message_id)
    if snapshot is None:
        await get_channel_layer().group_send(
            _control_group(message_id),
            {"type": "generation.snapshot_request", "reply_channel": reply_channel},
        )
    return snapshot


async def turn_submit(*, conversation: Conversation, content: str) -> services.Turn:
    """Save the user's message and start the reply in the background.

    Raises what `services.turn_start` raises; then nothing was saved.
    """
    turn = await database_call(services.turn_start)(conversation=conversation, content=content)
    await _start(conversation, turn)
    return turn


async def turn_regenerate(*, conversation: Conversation, message_id: int) -> services.Turn:
    """Write an answer again in the background (see `services.turn_regenerate`)."""
    turn = await database_call(services.turn_regenerate)(
        conversation=conversation, message_id=message_id
    )
    await _start(conversation, turn, redraw=True)
    return turn


async def turn_edit(*, conversation: Conversation, message_id: int, content: str) -> services.Turn:
    """Send an edited question and answer it in the background (see `services.turn_edit`)."""
    turn = await database_call(services.turn_edit)(
        conversation=conversation, message_id=message_id, content=content
    )
    await _start(conversation, turn, redraw=True)
    return turn


async def turn_continue(*, conversation: Conversation, message_id: int) -> services.Turn:
    """Write on an answer cut at the length limit (see `services.turn_continue`)."""
    turn = await database_call(services.turn_continue)(
        conversation=conversation, message_id=message_id
    )
    await _start(conversation, turn, redraw=True)
    return turn


async def branch_switch(*, conversation: Conversation, message_id: int, step: int) -> None:
    """Show another version of a message in every view of the conversation."""
    await database_call(services.branch_switch)(
        conversation=conversation, message_id=message_id, step=step
    )
    group = conversation_group(conversation.public_id)
    await conversation_publish(group, {"type": "branch.switched"})


async def _start(conversation: Conversation, turn: services.Turn, *, redraw: bool = False) -> None:
    """Tell every view about the new turn, then run the reply as a detached task.

    Views append the turn's question and reply, or, when the turn changed the
    branch shown (`redraw`), draw the whole branch again.
    """
    group = conversation_group(conversation.public_id)
    # Registered first: a view handling "turn.started" finds the reply running here.
    generation = Generation(
        message_id=turn.assistant_message.id, group=group, loop=asyncio.get_running_loop()
    )
    if turn.prefix:  # a continuation: its snapshots and saves start from the text so far
        generation.parts.append(turn.prefix)
        generation.published_chars = generation.prefix_chars = len(turn.prefix)
        generation.saved_parts = 1
    _running[generation.message_id] = generation
    _checkpointer_ensure()
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
    # A fresh context: the task must not inherit the request's or the socket's
    # thread-sensitive executor, which is shut down when they end.
    generation.task = asyncio.create_task(
        _run(
            generation,
            turn.model,
            turn.window.messages,
            turn.window.input_tokens,
            # Errors saved with the answer are written in the sender's language.
            language=translation.get_language(),
            # Only an answer to a conversation's first question may name it:
            # known here, so other answers cost no title lookup when they end.
            first_answer=turn.user_message.parent_id is None and not turn.prefix,
        ),
        name=f"generation-{generation.message_id}",
        context=contextvars.Context(),
    )
    generation.task.add_done_callback(lambda _task: _running.pop(generation.message_id, None))


async def generation_stop(*, message_id: int) -> None:
    """Ask the reply to stop, wherever it runs; the text so far is kept."""
    generation = _running.get(message_id)
    if generation is not None:
        _cancel(generation)
        return
    await get_channel_layer().group_send(_control_group(message_id), {"type": "generation.stop"})


def _cancel(generation: Generation) -> None:
    generation.stop_requested = True
    if generation.task is not None:
        generation.task.cancel()


async def _listen_for_control(generation: Generation, channel: str) -> None:
    """Answer other workers: stop this reply, or send them its text so far.

    Ends on a "generation.control_close" message, never by cancellation:
    channels-redis can lose other channels' messages when a receive() is
    cancelled (it shares one blocking pop per process).
    """
    layer = get_channel_layer()
    group = _control_group(generation.message_id)
    await layer.group_add(group, channel)
    try:
        while True:
            event = await layer.receive(channel)
            kind = event.get("type")
            if kind == "generation.control_close":
                return
            if kind == "generation.stop":
                _cancel(generation)
            elif kind == "generation.snapshot_request":
                # The asking view joined the chunk group before asking: every
                # chunk after this snapshot reaches it.
                generation.remote_views = True
                snapshot = _snapshot(generation)
                await layer.send(
                    event["reply_channel"],
                    {
                        "type": "generation.snapshot",
                        "message_id": snapshot.message_id,
                        "text": snapshot.text,
                        "seq": snapshot.seq,
                    },
                )
    finally:
        await layer.group_discard(group, channel)


async def _stop_listening(listener: asyncio.Task, channel: str) -> None:
    await get_channel_layer().send(channel, {"type": "generation.control_close"})
    try:
        await asyncio.wait_for(asyncio.shield(listener), timeout=10)
    except TimeoutError:
        logger.warning("control listener did not close; cancelling it")
        listener.cancel()


# The task saving the partial texts of this process's replies.
_checkpointer: asyncio.Task | None = None


def _checkpointer_ensure() -> None:
    """Start the checkpointer if it is not running (it ends after the last reply)."""
    global _checkpointer
    loop = asyncio.get_running_loop()
    if _checkpointer is None or _checkpointer.done() or _checkpointer.get_loop() is not loop:
        _checkpointer = loop.create_task(
            _checkpoint_all(), name="generation-checkpoints", context=contextvars.Context()
        )


async def _checkpoint_all() -> None:
    """Save the texts of the replies running here while they grow, in one statement a tick.

    One statement (and one transaction) per interval for every running reply, not
    one per reply: a hundred replies make one write a second, not a hundred. A
    reply whose text did not grow is touched at least every HEARTBEAT_SECONDS,
    which tells a restarted server that it is alive (see
    services.messages_interrupt_stale).
    """
    interval = settings.PARLEY_CHECKPOINT_SECONDS
    loop = asyncio.get_running_loop()
    while any(generation.loop is loop for generation in _running.values()):
        await asyncio.sleep(interval)
        now = time.monotonic()
        texts = {}
        for generation in list(_running.values()):
            if generation.loop is not loop:
                continue
            grew = len(generation.parts) != generation.saved_parts
            if grew or now - generation.saved_at >= HEARTBEAT_SECONDS:
                texts[generation.message_id] = generation.text
                generation.saved_parts, generation.saved_at = len(generation.parts), now
        if texts:
            try:
                await database_call(services.messages_checkpoint)(message_texts=texts)
            except Exception:  # the next tick tries again; the final save is separate
                logger.exception("could not checkpoint %d answer(s)", len(texts))


def generations_interrupt_all() -> None:
    """Save every reply running in this process as interrupted (the server is stopping).

    Runs at interpreter exit, when the event loop is gone: the texts are saved
    synchronously; if the loop still runs, the tasks are cancelled too and end
    the same way.
    """
    if not _running:
        return
    texts = {message_id: generation.text for message_id, generation in _running.items()}
    logger.warning("server stopping: saving %d running answer(s) as interrupted", len(texts))
    services.messages_interrupt(message_texts=texts)
    for generation in list(_running.values()):
        if generation.task is not None and not generation.task.done():
            # With the loop already closed this raises; the save above stands.
            with contextlib.suppress(RuntimeError):
                generation.task.cancel()


atexit.register(generations_interrupt_all)


class _Publisher:
    """Coalesce text into frames: at most one publish per frame interval.

    Views here get each chunk at once; views elsewhere (if any asked) through
    the layer, by one sender that keeps them in order whatever its latency.
    """

    def __init__(self, generation: Generation) -> None:
        self.generation = generation
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
                await self.layer.group_send(chunk_group(self.generation.message_id), event)
            except Exception:
                logger.exception("could not publish a chunk of %s", self.generation.message_id)

    def add(self, text: str) -> None:
        self.generation.parts.append(text)
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
        self.generation.seq += 1
        self.generation.published_chars += len(text)
        self.last_publish = time.monotonic()
        event = {
            "type": "generation.delta",
            "message_id": self.generation.message_id,
            "seq": self.generation.seq,
            "text": text,
        }
        _deliver_here(self.generation.group, event)
        if self.shared and self.generation.remote_views:
            self.outbox.put_nowait(event)

    async def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.flush()
        self.outbox.put_nowait(None)
        await self.sender


async def _publish_queued(generation: Generation, ahead: int) -> None:
    await conversation_publish(
        generation.group,
        {"type": "generation.queued", "message_id": generation.message_id, "ahead": ahead},
    )


async def _run(
    generation: Generation,
    model: ModelConfig,
    messages: list[dict[str, str]],
    estimated_input_tokens: int,
    *,
    language: str | None = None,
    first_answer: bool = False,
) -> None:
    if language:
        translation.activate(language)  # in this task's own context only
    layer = get_channel_layer()
    publisher = _Publisher(generation)
    # Only another process needs the layer to stop this reply or get its text:
    # in this one, generation_stop and generation_snapshot find it in _running.
    control_listener = control_channel = None
    if layer_is_shared(layer):
        control_channel = await layer.new_channel()
        control_listener = asyncio.create_task(_listen_for_control(generation, control_channel))
    started = time.monotonic()
    first_token_at: float | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    status, error = Message.Status.COMPLETE, ""
    first_token_timeout = settings.PARLEY_FIRST_TOKEN_TIMEOUT
    try:
        if generation.stop_requested:  # stopped before the task ran
            raise asyncio.CancelledError
        # No first token in time (a stalled upstream, retries included) is an
        # error, not a spinner forever; once text flows, the client's own read
        # timeout applies. Waiting in the embedded model's queue is not a stall.
        async with asyncio.timeout(first_token_timeout) as first_token_deadline:
            async for event in get_backend(model).stream(
                messages=messages, max_tokens=model.max_output_tokens
            ):
                if isinstance(event, Usage):
                    usage = event
                elif isinstance(event, Finish):
                    finish_reason = event.reason
                elif isinstance(event, Queued):
                    first_token_deadline.reschedule(None)
                    await _publish_queued(generation, event.ahead)
                elif event:
                    if first_token_at is None:
                        first_token_at = time.monotonic()
                        first_token_deadline.reschedule(None)
                    publisher.add(event)
        outcome = reply_outcome(
            text=generation.text[generation.prefix_chars :],
            finish_reason=finish_reason,
            model=model,
            input_tokens=estimated_input_tokens,
        )
        status, error = outcome.status, outcome.error
        if error:
            logger.warning(
                "generation %s ended %s (finish reason %r): %s",
                generation.message_id,
                status,
                finish_reason,
                error,
            )
    except TimeoutError:
        status = Message.Status.ERROR
        error = gettext("The model did not start answering within %(seconds)s s.") % {
            "seconds": f"{first_token_timeout:g}"
        }
        logger.warning("generation %s: no first token in time", generation.message_id)
    except asyncio.CancelledError:
        status = Message.Status.STOPPED if generation.stop_requested else Message.Status.INTERRUPTED
    except BackendError as exc:
        # The upstream's own words go to the log; the user reads our sentence.
        logger.warning(
            "generation %s failed: %s (upstream: %s)",
            generation.message_id,
            exc.message,
            exc.detail or "-",
        )
        status, error = Message.Status.ERROR, exc.message
    except Exception:
        logger.exception("generation %s failed", generation.message_id)
        status, error = Message.Status.ERROR, "Something went wrong while writing the answer."
    finally:
        await publisher.close()
        now = time.monotonic()
        await database_call(services.message_finish)(
            message_id=generation.message_id,
            model=model,
            content=generation.text,
            status=status,
            error=error,
            finish_reason=finish_reason or "",
            usage=usage,
            estimated_input_tokens=estimated_input_tokens,
            time_to_first_token_ms=(
                round((first_token_at - started) * 1000) if first_token_at else None
            ),
            duration_ms=round((now - started) * 1000),
            continued_from=generation.prefix_chars,
        )
        await conversation_publish(
            generation.group,
            {"type": "generation.finished", "message_id": generation.message_id},
        )
        if control_listener is not None:
            await _stop_listening(control_listener, control_channel)
        if status == Message.Status.COMPLETE and first_answer:
            titles.title_schedule(message_id=generation.message_id, group=generation.group)
