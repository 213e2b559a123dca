"""A running reply's control channel: stop and snapshot requests from any process.

The task writing a reply runs in one process; a view or a stop button may be in
another. Each reply with a shared channel layer joins its own control group
(`delivery.control_group`) before its turn is announced, and a listener in its
task answers there: stop the reply, or send the text so far to the view asking.
"""

from __future__ import annotations

import asyncio
import logging

from channels.layers import get_channel_layer

from conversations.engine.delivery import control_group, layer_is_shared
from conversations.engine.state import Reply, Snapshot, running

logger = logging.getLogger("parley.generation")


async def reply_cancel(*, message_id: int) -> None:
    """Ask the reply to stop, wherever it runs; the text so far is kept."""
    reply = running.get(message_id)
    if reply is not None:
        _cancel(reply)
        return
    await get_channel_layer().group_send(control_group(message_id), {"type": "generation.stop"})


async def reply_snapshot_request(*, message_id: int, reply_channel: str) -> Snapshot | None:
    """Get the text so far of a running reply: at once if it runs in this process,
    else the process running it sends a "generation.snapshot" event to `reply_channel`.
    """
    reply = running.get(message_id)
    if reply is not None:
        return reply.snapshot()
    await get_channel_layer().group_send(
        control_group(message_id),
        {"type": "generation.snapshot_request", "reply_channel": reply_channel},
    )
    return None


def _cancel(reply: Reply) -> None:
    reply.stop_requested = True
    if reply.task is not None:
        reply.task.cancel()


async def control_join(reply: Reply) -> None:
    """Join the reply's control group before its turn is announced.

    A view in another process that sees the announcement asks this group for a
    snapshot at once: joined later, that request would reach no one and the
    view would show nothing until the reply ended. Only another process needs
    the layer to stop a reply or get its text: with an unshared layer, this
    process's views find the reply in `running`.
    """
    layer = get_channel_layer()
    if layer_is_shared(layer):
        reply.control_channel = await layer.new_channel()
        await layer.group_add(control_group(reply.message_id), reply.control_channel)


async def control_listen(reply: Reply, channel: str) -> None:
    """Answer other workers: stop this reply, or send them its text so far.

    Ends on a "generation.control_close" message, never by cancellation:
    channels-redis can lose other channels' messages when a receive() is
    cancelled (it shares one blocking pop per process).
    """
    layer = get_channel_layer()
    group = control_group(reply.message_id)
    try:
        while True:
            event = await layer.receive(channel)
            kind = event.get("type")
            if kind == "generation.control_close":
                return
            if kind == "generation.stop":
                _cancel(reply)
            elif kind == "generation.snapshot_request":
                # The asking view joined the chunk group before asking: every
                # chunk after this snapshot reaches it.
                reply.remote_views = True
                snapshot = reply.snapshot()
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


async def control_close(listener: asyncio.Task, channel: str) -> None:
    """End the listener `control_listen` runs on `channel`, and wait for it."""
    await get_channel_layer().send(channel, {"type": "generation.control_close"})
    try:
        await asyncio.wait_for(asyncio.shield(listener), timeout=10)
    except TimeoutError:
        logger.warning("control listener did not close; cancelling it")
        listener.cancel()
