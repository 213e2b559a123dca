"""Partial texts saved while replies grow, and saved as interrupted when the server stops."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import logging
import time
from datetime import timedelta

from django.conf import settings

from conversations import services
from conversations.database import database_call
from conversations.engine.state import running

logger = logging.getLogger("parley.generation")

# A running reply touches its row at least this often, so that a restarted server
# can tell replies of a dead process (older than STALE_AFTER) from live ones.
HEARTBEAT_SECONDS = 5.0
STALE_AFTER = timedelta(seconds=30)

# The task saving the partial texts of this process's replies.
_checkpointer: asyncio.Task | None = None


def checkpointer_ensure() -> None:
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
    while any(reply.loop is loop for reply in running.values()):
        await asyncio.sleep(interval)
        now = time.monotonic()
        texts = {}
        for reply in list(running.values()):
            if reply.loop is not loop:
                continue
            grew = len(reply.parts) != reply.saved_parts
            if grew or now - reply.saved_at >= HEARTBEAT_SECONDS:
                texts[reply.message_id] = reply.text
                reply.saved_parts, reply.saved_at = len(reply.parts), now
        if texts:
            try:
                await database_call(services.messages_checkpoint)(message_texts=texts)
            except Exception:  # the next tick tries again; the final save is separate
                logger.exception("could not checkpoint %d answer(s)", len(texts))


def replies_interrupt_stale() -> list[int]:
    """Mark replies a dead process left half-written as interrupted (at start-up)."""
    return services.messages_interrupt_stale(older_than=STALE_AFTER)


def replies_interrupt_all() -> None:
    """Save every reply running in this process as interrupted (the server is stopping).

    Runs at interpreter exit, when the event loop is gone: the texts are saved
    synchronously; if the loop still runs, the tasks are cancelled too and end
    the same way.
    """
    if not running:
        return
    texts = {message_id: reply.text for message_id, reply in running.items()}
    logger.warning("server stopping: saving %d running answer(s) as interrupted", len(texts))
    services.messages_interrupt(message_texts=texts)
    for reply in list(running.values()):
        if reply.task is not None and not reply.task.done():
            # With the loop already closed this raises; the save above stands.
            with contextlib.suppress(RuntimeError):
                reply.task.cancel()


atexit.register(replies_interrupt_all)
