"""What this process knows of the replies it is writing."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class Reply:
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
    # The channel that answers other processes' stop and snapshot requests
    # (None with a channel layer that no other process shares).
    control_channel: str | None = None
    # The loop running the reply, and what the checkpointer saved of it and when.
    loop: asyncio.AbstractEventLoop | None = None
    saved_parts: int = 0
    saved_at: float = field(default_factory=time.monotonic)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def snapshot(self) -> Snapshot:
        """Exactly the text of chunks 1..seq: pending text arrives in chunk seq + 1."""
        return Snapshot(
            message_id=self.message_id, text=self.text[: self.published_chars], seq=self.seq
        )


@dataclass(frozen=True)
class Snapshot:
    """The text of a running reply so far and the sequence number it includes."""

    message_id: int
    text: str
    seq: int


# Replies running in this process. The tasks are held here so that they are not
# garbage-collected while no view refers to them.
running: dict[int, Reply] = {}


def reply_snapshot(message_id: int) -> Snapshot | None:
    """Return the current text of a reply running in this process, if it is."""
    reply = running.get(message_id)
    return reply.snapshot() if reply is not None else None
