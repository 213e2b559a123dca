"""Watching a conversation: its turns and replies, in order, with no gap or duplicate.

A watch turns the raw events of a conversation (published in this process, or
arriving through the channel layer from another) into typed events for a front
door to show: a page's websocket draws them as HTML, an HTTP stream as JSON.
It owns the ordering rules: a running reply is shown from a snapshot of its
text so far, then only the chunks after it (by sequence number); chunks that
arrive before the snapshot wait for it; a reply drawn whole skips its chunks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from channels.layers import BaseChannelLayer, get_channel_layer

from conversations import selectors, services
from conversations.database import database_call
from conversations.engine.checkpoints import STALE_AFTER
from conversations.engine.control import reply_snapshot_request
from conversations.engine.delivery import (
    chunk_group,
    conversation_group,
    inbox_close,
    inbox_open,
    layer_is_shared,
    published_here,
)
from conversations.engine.state import reply_snapshot
from conversations.models import Conversation, Message

# Sequence number of a reply drawn whole: none of its chunks is shown again.
ALL_SHOWN = 2**62


@dataclass(frozen=True)
class TurnStarted:
    """A question and its reply were added (`redraw`: the branch shown changed)."""

    assistant_message_id: int
    redraw: bool
    appended_ids: list[int]
    # The turn's messages as saved, when it started in this process (no read needed).
    messages: list[Message] | None = None
    # The turn brought the conversation back from the archive.
    unarchived: bool = False


@dataclass(frozen=True)
class ComparisonStarted:
    """A question went to several models at once: the branch is to be drawn again."""

    comparison_id: int
    assistant_message_ids: list[int]


@dataclass(frozen=True)
class ReplyText:
    """Text of a running reply: all of it so far (`replace`), or the next piece."""

    message_id: int
    text: str
    replace: bool = False


@dataclass(frozen=True)
class ReplyQueued:
    """The reply waits behind `ahead` others for its model."""

    message_id: int
    ahead: int


@dataclass(frozen=True)
class ReplyEnded:
    """The reply ended and was saved (`message`: as saved, when known here)."""

    message_id: int
    message: Message | None = None


@dataclass(frozen=True)
class BranchSwitched:
    """Another version of a message is shown: the branch is to be drawn again."""


@dataclass(frozen=True)
class Retitled:
    """The conversation has a new title."""


@dataclass(frozen=True)
class SettingsChanged:
    """The conversation's model, system prompt or summary changed (in another view)."""


WatchEvent = (
    TurnStarted
    | ComparisonStarted
    | ReplyText
    | ReplyQueued
    | ReplyEnded
    | BranchSwitched
    | Retitled
    | SettingsChanged
)


class ConversationWatch:
    """One view of one conversation: joins its events, keeps replies in order."""

    def __init__(
        self,
        *,
        conversation: Conversation,
        layer: BaseChannelLayer,
        channel_name: str,
        inbox: asyncio.Queue[dict] | None = None,
    ) -> None:
        self.conversation = conversation
        self.group = conversation_group(conversation.public_id)
        self.layer = layer
        self.channel_name = channel_name
        # Events published in this process, in publishing order.
        self.inbox: asyncio.Queue[dict] = inbox if inbox is not None else asyncio.Queue()
        # Highest chunk sequence number shown, per streaming reply.
        self.shown_seq: dict[int, int] = {}
        # Chunks that came before the snapshot of a reply running in another process.
        self.awaiting_snapshot: dict[int, list[tuple[int, str]]] = {}
        # Chunk groups of replies running in other processes that this view follows.
        self.chunk_groups: set[str] = set()

    async def open[T](self, *, load: Callable[[], T] | None = None) -> tuple[T | None, list]:
        """Start receiving the conversation's events; return what is running now.

        Joins first, so that a turn starting from now on is announced. Replies a
        dead process left half-written are marked interrupted (ended events);
        replies still streaming are followed (snapshot events). `load`, if
        given, runs in the same database trip and its result is returned too.
        """
        inbox_open(self.group, self.inbox)
        await self.layer.group_add(self.group, self.channel_name)
        loaded, interrupted, streaming = await database_call(self._state)(load)
        events: list[WatchEvent] = [ReplyEnded(message_id) for message_id in interrupted]
        for message_id in streaming:
            events += await self.follow(message_id)
        return loaded, events

    def _state(self, load):
        loaded = load() if load is not None else None
        streaming = selectors.message_streaming_ids(conversation=self.conversation)
        interrupted = []
        if streaming:  # only a streaming reply can be stale: no write transaction otherwise
            interrupted = services.messages_interrupt_stale(
                older_than=STALE_AFTER, conversation=self.conversation
            )
            streaming = [id_ for id_ in streaming if id_ not in interrupted]
        return loaded, interrupted, streaming

    async def close(self) -> None:
        """Stop receiving the conversation's events."""
        inbox_close(self.group, self.inbox)
        await self.layer.group_discard(self.group, self.channel_name)
        for group in self.chunk_groups:
            await self.layer.group_discard(group, self.channel_name)
        self.chunk_groups.clear()

    async def follow(self, message_id: int) -> list[WatchEvent]:
        """Show a running reply from its text so far: its chunks follow.

        A reply running here delivers its chunks to the inbox; one running in
        another process sends them to its chunk group once this view asked it
        for a snapshot (joined first, so that no chunk after the snapshot is missed).
        """
        snapshot = reply_snapshot(message_id)
        if snapshot is None:
            self.awaiting_snapshot[message_id] = []
            group = chunk_group(message_id)
            if group not in self.chunk_groups:
                self.chunk_groups.add(group)
                await self.layer.group_add(group, self.channel_name)
            snapshot = await reply_snapshot_request(
                message_id=message_id, reply_channel=self.channel_name
            )
        if snapshot is None:
            return []  # it comes as a "generation.snapshot" event
        self.awaiting_snapshot[message_id] = []
        return self._snapshot_shown(message_id, snapshot.text, snapshot.seq)

    def turn_drawn(self, event: TurnStarted, *, ended: list[int]) -> bool:
        """Note that a new turn was drawn; say whether its reply must be followed.

        `ended` are replies the drawing found ended already (drawn whole: their
        chunks would repeat them). A reply running in another process sends its
        chunks only to views that ask: follow it.
        """
        for message_id in ended:
            self.shown_seq[message_id] = ALL_SHOWN
        message_id = event.assistant_message_id
        # A redrawn branch shows the reply from its snapshot too: a continued
        # answer already has text, which the drawing (made empty) leaves out.
        return message_id not in ended and (event.redraw or reply_snapshot(message_id) is None)

    def comparison_drawn(self, event: ComparisonStarted, *, ended: list[int]) -> list[int]:
        """Note that a comparison was drawn; return the replies to follow (as `turn_drawn`)."""
        for message_id in ended:
            self.shown_seq[message_id] = ALL_SHOWN
        return [
            message_id
            for message_id in event.assistant_message_ids
            if message_id not in ended and reply_snapshot(message_id) is None
        ]

    def ended(self, message_id: int, message: Message | None = None) -> ReplyEnded:
        """Forget a reply's ordering state: it ended (and is drawn whole)."""
        self.shown_seq.pop(message_id, None)
        self.awaiting_snapshot.pop(message_id, None)
        return ReplyEnded(message_id, message)

    def _snapshot_shown(self, message_id: int, text: str, seq: int) -> list[WatchEvent]:
        buffered = self.awaiting_snapshot.pop(message_id, [])
        self.shown_seq[message_id] = seq
        events: list[WatchEvent] = [ReplyText(message_id, text, replace=True)]
        for chunk_seq, chunk in buffered:
            if chunk_seq > self.shown_seq[message_id]:
                self.shown_seq[message_id] = chunk_seq
                events.append(ReplyText(message_id, chunk))
        return events

    async def handle(self, event: dict[str, Any]) -> list[WatchEvent]:
        """Turn one raw event (from the inbox or the layer) into what to show, in order."""
        if published_here(event):
            return []  # delivered to the inbox already
        kind = event.get("type")
        if kind == "turn.started":
            message_id = event["assistant_message_id"]
            self.shown_seq[message_id] = 0
            return [
                TurnStarted(
                    assistant_message_id=message_id,
                    redraw=bool(event.get("redraw")),
                    appended_ids=event.get("appended_ids", []),
                    messages=event.get("messages"),
                    unarchived=bool(event.get("unarchived")),
                )
            ]
        if kind == "comparison.started":
            ids = list(event["assistant_message_ids"])
            for message_id in ids:
                self.shown_seq[message_id] = 0
            return [
                ComparisonStarted(comparison_id=event["comparison_id"], assistant_message_ids=ids)
            ]
        if kind == "generation.delta":
            message_id, seq = event["message_id"], event["seq"]
            if message_id in self.awaiting_snapshot:
                self.awaiting_snapshot[message_id].append((seq, event["text"]))
                return []
            if seq <= self.shown_seq.get(message_id, 0):
                return []  # already part of the snapshot this view was given
            self.shown_seq[message_id] = seq
            return [ReplyText(message_id, event["text"])]
        if kind == "generation.snapshot":
            if event["message_id"] in self.awaiting_snapshot:
                return self._snapshot_shown(event["message_id"], event["text"], event["seq"])
            return []
        if kind == "generation.queued":
            return [ReplyQueued(event["message_id"], event["ahead"])]
        if kind == "generation.finished":
            message_id = event["message_id"]
            group = chunk_group(message_id)
            if group in self.chunk_groups:
                self.chunk_groups.discard(group)
                await self.layer.group_discard(group, self.channel_name)
            return [self.ended(message_id, event.get("message"))]
        if kind == "branch.switched":
            return [BranchSwitched()]
        if kind == "conversation.retitled":
            return [Retitled()]
        if kind == "conversation.settings_changed":
            return [SettingsChanged()]
        return []


async def reply_observe(
    *, conversation: Conversation, message_id: int
) -> AsyncIterator[ReplyText | ReplyQueued | ReplyEnded]:
    """Follow one reply of the conversation to its end: its text so far, then the rest.

    For front doors without a socket of their own (an HTTP stream, a comparison).
    The first event replaces (the text so far), the following ones append; the
    last is a ReplyEnded. A reply that already ended gives only that.
    """
    layer = get_channel_layer()
    channel = await layer.new_channel()
    watch = ConversationWatch(conversation=conversation, layer=layer, channel_name=channel)
    # From another process the events come through the layer: one pump puts them
    # in the inbox. It ends on a message of its own, never by cancellation
    # (channels-redis can lose other channels' messages when a receive is cancelled).
    pump = None
    if layer_is_shared(layer):
        pump = asyncio.create_task(_pump(layer, channel, watch.inbox))
    try:
        streaming, events = await watch.open(
            load=lambda: Message.objects.filter(
                pk=message_id, conversation=conversation, status=Message.Status.STREAMING
            ).exists()
        )
        # Following it (a snapshot now, or soon from another process) or ended.
        pending = [event for event in events if getattr(event, "message_id", None) == message_id]
        if not streaming and not pending:
            yield ReplyEnded(message_id)
            return
        while True:
            for event in pending:
                yield event
                if isinstance(event, ReplyEnded):
                    return
            pending = [
                event
                for event in await watch.handle(await watch.inbox.get())
                if isinstance(event, ReplyText | ReplyQueued | ReplyEnded)
                and event.message_id == message_id
            ]
    finally:
        await watch.close()
        if pump is not None:
            await layer.send(channel, {"type": "watch.close"})
            await pump


async def _pump(layer: BaseChannelLayer, channel: str, inbox: asyncio.Queue) -> None:
    while (event := await layer.receive(channel)).get("type") != "watch.close":
        inbox.put_nowait(event)
