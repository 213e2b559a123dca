"""Delivery of a conversation's events to every view of it, in this process and others.

Views open in this process get every event of their conversation directly (put
in their inbox, in publishing order), with no round trip through the channel
layer: that round trip was a large share of the CPU of a reply. The layer
carries events only to other processes: low-frequency events to the
conversation's group (tagged with this process's id, so that its own views skip
the copy), and a reply's chunks only once a view in another process asked for
its snapshot (and with it joined the reply's chunk group).
"""

from __future__ import annotations

import uuid
from typing import Protocol

from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer

# Tags the events this process sends through the layer: its own views, which
# got them directly, skip the copy.
PROCESS_ID = uuid.uuid4().hex


def conversation_group(public_id: uuid.UUID | str) -> str:
    """Name of the channel-layer group of everyone viewing one conversation."""
    return f"conversation.{uuid.UUID(str(public_id)).hex}"


def control_group(message_id: int) -> str:
    """Group of the one task writing this reply, wherever it runs: stop, snapshot."""
    return f"generation-control.{message_id}"


def chunk_group(message_id: int) -> str:
    """Group of the views in other processes that show this reply's chunks."""
    return f"generation-chunks.{message_id}"


class Inbox(Protocol):
    """Where a view open in this process takes the events of its conversation."""

    def put_nowait(self, event: dict) -> None:
        """Queue an event; the view handles its events one at a time, in order."""


# Inboxes of the views open in this process, by conversation group.
_inboxes: dict[str, set[Inbox]] = {}


def inbox_open(group: str, inbox: Inbox) -> None:
    """Deliver the events of `group` published in this process to `inbox` directly."""
    _inboxes.setdefault(group, set()).add(inbox)


def inbox_close(group: str, inbox: Inbox) -> None:
    """Stop delivering to `inbox` (its view closed)."""
    inboxes = _inboxes.get(group)
    if inboxes is not None:
        inboxes.discard(inbox)
        if not inboxes:
            del _inboxes[group]


def layer_is_shared(layer: BaseChannelLayer | None = None) -> bool:
    """Whether other processes may be on this channel layer (never for the in-memory one)."""
    return not isinstance(layer or get_channel_layer(), InMemoryChannelLayer)


def deliver_here(group: str, event: dict) -> None:
    """Put an event in the inbox of every view of `group` open in this process."""
    for inbox in _inboxes.get(group, ()):
        inbox.put_nowait(event)


def published_here(event: dict) -> bool:
    """Whether a layer event came from this process (its views had it directly)."""
    return event.get("origin") == PROCESS_ID


async def conversation_publish(group: str, event: dict, *, here: dict | None = None) -> None:
    """Send an event to every view of a conversation: here directly, elsewhere by the layer.

    `here`, if given, is what views in this process get instead: it may carry
    Python objects that the layer cannot.
    """
    deliver_here(group, event if here is None else here)
    layer = get_channel_layer()
    if layer_is_shared(layer):
        await layer.group_send(group, {**event, "origin": PROCESS_ID})
