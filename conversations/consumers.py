"""The conversation websocket: turns frames into service calls and events into HTML."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils.translation import gettext

from conversations import frames, inputs, selectors, services, socket_guard
from conversations.backends import UnknownModelError
from conversations.backends.registry import models_encodings
from conversations.context import PromptTooLongError
from conversations.generation import (
    PROCESS_ID,
    STALE_AFTER,
    branch_switch,
    chunk_group,
    conversation_group,
    database_call,
    generation_snapshot,
    generation_snapshot_request,
    generation_stop,
    turn_edit,
    turn_regenerate,
    turn_submit,
    view_close,
    view_open,
)
from conversations.models import Conversation
from conversations.tokens import encodings_preload

logger = logging.getLogger("parley.consumers")

# Close codes in the application range (4000-4999), so the page can tell why.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
ALL_SHOWN = 2**62
# A page shows at most a few replies streaming (one per conversation, normally).
SYNC_MAX_IDS = 20
# Channels runs close_old_connections before every event, a hop to the one
# thread shared by the whole process that every busy socket queued behind. It
# tidies that thread's connection, which only the session and user lookup of a
# connecting socket use (everything else runs on the pool, see database_call):
# once per socket is enough.
CLOSE_OLD_CONNECTIONS_ON = frozenset({"websocket.connect"})


def _view_state(*, conversation: Conversation) -> tuple[int | None, list[int], list[int]]:
    """What a new view needs to know, in one trip to a database thread.

    Returns the window boundary, the replies a dead worker left half-written
    (now marked interrupted) and the replies still streaming.
    """
    boundary = frames.window_boundary(conversation=conversation)
    streaming = selectors.message_streaming_ids(conversation=conversation)
    interrupted = []
    if streaming:  # only a streaming reply can be stale: no write transaction otherwise
        interrupted = services.messages_interrupt_stale(
            older_than=STALE_AFTER, conversation=conversation
        )
        if interrupted:
            streaming = [id_ for id_ in streaming if id_ not in interrupted]
    return boundary, interrupted, streaming


class ConversationConsumer(AsyncWebsocketConsumer):
    """One browser view of one conversation."""

    async def __call__(self, scope, receive, send) -> None:
        # AsyncConsumer.__call__ with a third source of events: the inbox where
        # replies running in this process put theirs (see generation.conversation_publish).
        self.inbox: asyncio.Queue[dict] = asyncio.Queue()
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
        self.base_send = send
        with contextlib.suppress(StopConsumer):
            await await_many_dispatch(
                [receive, self.channel_receive, self.inbox.get], self.dispatch
            )

    def deliver(self, event: dict) -> None:
        """Queue an event published in this process (generation.View)."""
        self.inbox.put_nowait(event)

    async def dispatch(self, message: dict) -> None:
        if message.get("origin") == PROCESS_ID:
            return  # published in this process: delivered to the inbox already
        if message["type"] in CLOSE_OLD_CONNECTIONS_ON:
            await super().dispatch(message)
            return
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        public_id = self.scope["url_route"]["kwargs"]["public_id"]
        try:
            self.conversation = await database_call(selectors.conversation_get_for_user)(
                user=user, public_id=public_id
            )
        except Http404:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        if not socket_guard.socket_admit(user_id=user.pk):
            await self.close(code=socket_guard.CLOSE_TOO_MANY_SOCKETS)
            return
        self.admitted_user_id = user.pk
        # Logout, a password change or a deactivation closes this socket (any worker).
        self.session_groups = [socket_guard.user_group(user.pk)]
        if session_key := socket_guard.scope_session_key(self.scope):
            self.session_groups.append(socket_guard.session_group(session_key))
        for group in self.session_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        encodings_preload(models_encodings())
        self.group = conversation_group(self.conversation.public_id)
        # Highest chunk sequence number shown, per streaming message.
        self.shown_seq: dict[int, int] = {}
        # Chunks that came before the snapshot of a reply running on another worker.
        self.awaiting_snapshot: dict[int, list[tuple[int, str]]] = {}
        # Chunk groups of replies running on other workers that this view follows.
        self.chunk_groups: set[str] = set()
        view_open(self.group, self)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        # After joining: a turn that starts from now on is announced to this view.
        try:
            self.left_out_up_to, interrupted, streaming = await database_call(_view_state)(
                conversation=self.conversation
            )
        except Conversation.DoesNotExist:  # deleted in another window meanwhile
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self._attach_to_running(interrupted, streaming)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "admitted_user_id"):
            socket_guard.socket_release(user_id=self.admitted_user_id)
            for group in self.session_groups:
                await self.channel_layer.group_discard(group, self.channel_name)
        if hasattr(self, "group"):
            view_close(self.group, self)
            await self.channel_layer.group_discard(self.group, self.channel_name)
            for group in self.chunk_groups:
                await self.channel_layer.group_discard(group, self.channel_name)

    async def _attach_to_running(self, interrupted: list[int], streaming: list[int]) -> None:
        """Show replies still being written: their text so far, then live chunks.

        Replies a dead worker left half-written were marked interrupted: draw them.
        """
        for message_id in interrupted:
            await self.generation_finished({"message_id": message_id})
        for message_id in streaming:
            await self._follow(message_id)

    async def _follow(self, message_id: int) -> None:
        """Show a running reply from its text so far: its chunks follow.

        A reply running here delivers its chunks to this view's inbox; one running
        in another process sends them to its chunk group once this view asked it
        for a snapshot (joined first, so that no chunk after the snapshot is missed).
        """
        snapshot = generation_snapshot(message_id)
        if snapshot is None:
            self.awaiting_snapshot[message_id] = []
            group = chunk_group(message_id)
            if group not in self.chunk_groups:
                self.chunk_groups.add(group)
                await self.channel_layer.group_add(group, self.channel_name)
            snapshot = await generation_snapshot_request(
                message_id=message_id, reply_channel=self.channel_name
            )
        if snapshot is not None:
            self.awaiting_snapshot[message_id] = []
            await self._show_snapshot(message_id, snapshot.text, snapshot.seq)

    async def _show_snapshot(self, message_id: int, text: str, seq: int) -> None:
        buffered = self.awaiting_snapshot.pop(message_id, [])
        self.shown_seq[message_id] = seq
        await self.send(text_data=frames.body_replace(message_id, text))
        for chunk_seq, chunk in buffered:
            if chunk_seq > self.shown_seq[message_id]:
                self.shown_seq[message_id] = chunk_seq
                await self.send(text_data=frames.body_append(message_id, chunk))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            data = inputs.frame_parse(text_data)
        except inputs.FrameError as exc:
            logger.info("malformed frame on %s: %s", self.group, exc)
            await self.send(text_data=frames.alert(str(exc)))
            return
        if not await self._session_valid():
            return
        try:
            await self._handle(data)
        except Exception:
            # The socket stays open and usable; services change nothing half-way.
            logger.exception("frame failed on %s", self.group)
            await self.send(text_data=frames.alert(
                gettext("That request could not be handled; nothing was changed.")
            ))

    async def _handle(self, data: dict) -> None:
        action = data.get("action", "send")
        if action == "stop":
            await self._stop(data.get("message_id"))
        elif action == "send":
            await self._send_message(data.get("message"))
        elif action == "regenerate":
            await self._regenerate(data.get("message_id"))
        elif action == "edit":
            await self._edit(data.get("message_id"), data.get("message"))
        elif action == "branch":
            await self._branch(data.get("message_id"), data.get("step"))
        elif action == "sync":
            await self._sync(data.get("message_ids"))
        else:
            logger.info("unknown action %r on %s", str(action)[:40], self.group)
            await self.send(text_data=frames.alert(
                gettext("Unknown action: %(action)s") % {"action": str(action)[:40]}
            ))

    async def _session_valid(self) -> bool:
        """Whether the socket's session still logs its user in; else close the socket."""
        session_key = socket_guard.scope_session_key(self.scope)
        user_id = await database_call(socket_guard.session_user_id)(session_key=session_key)
        if user_id == self.scope["user"].pk:
            return True
        await self.send(text_data=frames.alert(
            gettext("Your session has ended; log in again to continue.")
        ))
        await self.close(code=socket_guard.CLOSE_SESSION_ENDED)
        return False

    async def _send_message(self, content: Any) -> None:
        try:
            await turn_submit(conversation=self.conversation, content=content)
        except (ValidationError, PromptTooLongError, UnknownModelError) as exc:
            await self._refuse(exc)
            return
        # Only the sender's composer is cleared; other views keep their drafts.
        await self.send(text_data=frames.composer_reset(self.conversation))

    async def _regenerate(self, message_id: Any) -> None:
        message_id = await self._message_id(message_id, gettext("Nothing to write again."))
        if message_id is None:
            return
        try:
            await turn_regenerate(conversation=self.conversation, message_id=message_id)
        except (ValidationError, PromptTooLongError, UnknownModelError) as exc:
            await self._refuse(exc)

    async def _edit(self, message_id: Any, content: Any) -> None:
        message_id = await self._message_id(message_id, gettext("Nothing to edit."))
        if message_id is None:
            return
        try:
            await turn_edit(conversation=self.conversation, message_id=message_id, content=content)
        except (ValidationError, PromptTooLongError, UnknownModelError) as exc:
            await self._refuse(exc)

    async def _branch(self, message_id: Any, step: Any) -> None:
        message_id = await self._message_id(message_id, gettext("No such version."))
        if message_id is None:
            return
        # 1 or -1, as a number or as the text a form sends; anything else is refused below.
        step = {"1": 1, "-1": -1}.get(step.strip() if isinstance(step, str) else repr(step), 0)
        try:
            await branch_switch(conversation=self.conversation, message_id=message_id, step=step)
        except ValidationError as exc:
            await self._refuse(exc)

    async def _sync(self, message_ids: Any) -> None:
        """Draw whole the replies the page shows as streaming that have ended.

        The page names them when its socket opens: a reply that ended between
        the page being drawn (or the socket dropping) and the socket opening
        sent its end to no one, and would stay a spinner until a reload.
        """
        if not isinstance(message_ids, list):
            return
        ids = []
        for value in message_ids[:SYNC_MAX_IDS]:
            if (message_id := inputs.id_parse(value)) is not None:
                ids.append(message_id)
        if not ids:
            return
        ended = await database_call(selectors.message_ended_ids)(
            conversation=self.conversation, message_ids=ids
        )
        for message_id in ended:
            await self.generation_finished({"message_id": message_id})

    async def _message_id(self, value: Any, error: str) -> int | None:
        """The message id a frame names, or None after telling the user `error`."""
        message_id = inputs.id_parse(value)
        if message_id is None:
            await self.send(text_data=frames.alert(error))
        return message_id

    async def _refuse(self, exc: Exception) -> None:
        """Say why a request was refused, in the page and in the log."""
        text = frames.refusal_text(exc)
        logger.info("request refused on %s: %s", self.group, text)
        await self.send(text_data=frames.alert(text))

    async def _stop(self, message_id: Any) -> None:
        message_id = await self._message_id(message_id, gettext("Nothing to stop."))
        if message_id is None:
            return
        ids = await database_call(selectors.message_streaming_ids)(conversation=self.conversation)
        if message_id in ids:
            await generation_stop(message_id=message_id)

    # Group events -------------------------------------------------------

    async def session_closed(self, event: dict) -> None:
        """This socket's session was logged out: close at once."""
        await self.close(code=socket_guard.CLOSE_SESSION_ENDED)

    async def session_check(self, event: dict) -> None:
        """The user's password or account changed: close unless the session still holds."""
        await self._session_valid()

    async def turn_started(self, event: dict) -> None:
        self.shown_seq[event["assistant_message_id"]] = 0
        if event.get("redraw"):
            html, ended, self.left_out_up_to = await database_call(frames.branch_drawn)(
                conversation=self.conversation, fresh_id=event["assistant_message_id"]
            )
        elif messages := event.get("messages"):  # published in this process
            html, ended = frames.turn_drawn(conversation=self.conversation, messages=messages), []
        else:
            html, ended = await database_call(frames.turn_started)(
                conversation=self.conversation, appended_ids=event["appended_ids"]
            )
        for message_id in ended:
            # Drawn whole already (this view was slow); its chunks would repeat it.
            self.shown_seq[message_id] = ALL_SHOWN
        await self.send(text_data=html)
        message_id = event["assistant_message_id"]
        if message_id not in ended and generation_snapshot(message_id) is None:
            # Written in another process, which sends chunks only to views that ask.
            await self._follow(message_id)

    async def branch_switched(self, event: dict) -> None:
        html, _, self.left_out_up_to = await database_call(frames.branch_drawn)(
            conversation=self.conversation
        )
        await self.send(text_data=html)

    async def conversation_retitled(self, event: dict) -> None:
        html = await database_call(frames.title_changed)(conversation=self.conversation)
        await self.send(text_data=html)

    async def generation_snapshot(self, event: dict) -> None:
        if event["message_id"] in self.awaiting_snapshot:
            await self._show_snapshot(event["message_id"], event["text"], event["seq"])

    async def generation_delta(self, event: dict) -> None:
        message_id, seq = event["message_id"], event["seq"]
        if message_id in self.awaiting_snapshot:
            self.awaiting_snapshot[message_id].append((seq, event["text"]))
            return
        if seq <= self.shown_seq.get(message_id, 0):
            return  # already part of the snapshot this view was given
        self.shown_seq[message_id] = seq
        await self.send(text_data=frames.body_append(message_id, event["text"]))

    async def generation_queued(self, event: dict) -> None:
        await self.send(text_data=frames.queued(event["message_id"], event["ahead"]))

    async def generation_finished(self, event: dict) -> None:
        self.shown_seq.pop(event["message_id"], None)
        self.awaiting_snapshot.pop(event["message_id"], None)
        group = chunk_group(event["message_id"])
        if group in self.chunk_groups:
            self.chunk_groups.discard(group)
            await self.channel_layer.group_discard(group, self.channel_name)
        html, self.left_out_up_to = await database_call(frames.message_finished)(
            conversation=self.conversation,
            message_id=event["message_id"],
            left_out_up_to=self.left_out_up_to,
        )
        await self.send(text_data=html)
