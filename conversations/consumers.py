"""The conversation websocket: turns frames into service calls and events into HTML."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from django.core.exceptions import ValidationError
from django.db import OperationalError
from django.http import Http404
from django.utils.translation import gettext

from chatsite.errors import database_busy_text
from conversations import engine, frames, inputs, selectors, socket_actions, socket_guard
from conversations.backends import UnknownModelError
from conversations.backends.registry import models_encodings
from conversations.context import PromptTooLongError
from conversations.database import database_call
from conversations.models import Conversation
from conversations.rendering.streaming import StreamingMarkdown
from conversations.tokens import encodings_preload

logger = logging.getLogger("parley.consumers")

# Close codes in the application range (4000-4999), so the page can tell why.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
# "Try again later": the page's socket (htmx's ws extension) reconnects after it.
CLOSE_TRY_AGAIN = 1013
# Channels runs close_old_connections before every event, a hop to the one
# thread shared by the whole process that every busy socket queued behind. It
# tidies that thread's connection, which only the session and user lookup of a
# connecting socket use (everything else runs on the pool, see database_call):
# once per socket is enough.
CLOSE_OLD_CONNECTIONS_ON = frozenset({"websocket.connect"})


class ConversationConsumer(AsyncWebsocketConsumer):
    """One browser view of one conversation."""

    watch: engine.ConversationWatch | None = None

    async def __call__(self, scope, receive, send) -> None:
        # AsyncConsumer.__call__ with a third source of events: the watch's inbox,
        # where replies running in this process put theirs (engine.delivery).
        self.inbox: asyncio.Queue[dict] = asyncio.Queue()
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
        self.base_send = send
        try:
            with contextlib.suppress(StopConsumer):
                await await_many_dispatch(
                    [receive, self.channel_receive, self.inbox.get], self.dispatch
                )
        except OperationalError as exc:
            # The database stayed busy past the pool's timeout while drawing an
            # event: close so that the page reconnects and redraws from the database.
            logger.warning("database busy on %s: %s", getattr(self, "group", "a socket"), exc)
            await self.disconnect(CLOSE_TRY_AGAIN)
            await self.base_send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN})

    async def dispatch(self, message: dict) -> None:
        kind = message["type"]
        if kind.startswith(("websocket.", "session.")):
            if kind in CLOSE_OLD_CONNECTIONS_ON:
                await super().dispatch(message)
                return
            handler = getattr(self, get_handler_name(message), None)
            if handler is None:
                raise ValueError(f"No handler for message type {kind}")
            if kind != "websocket.receive":
                await handler(message)
                return
            try:
                await handler(message)
            except OperationalError as exc:
                # A request the database was too busy for: nothing was saved, the
                # composer keeps the draft (it is cleared only after a send), say so.
                logger.warning("database busy on %s: %s", self.group, exc)
                await self.send(text_data=frames.alert(database_busy_text()))
        elif self.watch is not None:
            for event in await self.watch.handle(message):
                await self._show(event)

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
        self.group = engine.conversation_group(self.conversation.public_id)
        # Markdown of each reply this view shows streaming, rendered as it grows.
        self.renderers: dict[int, StreamingMarkdown] = {}
        self.watch = engine.ConversationWatch(
            conversation=self.conversation,
            layer=self.channel_layer,
            channel_name=self.channel_name,
            inbox=self.inbox,
        )
        await self.accept()
        # The window boundary this view shows, read in the same trip as what runs.
        try:
            self.left_out_up_to, events = await self.watch.open(
                load=functools.partial(frames.window_boundary, conversation=self.conversation)
            )
        except Conversation.DoesNotExist:  # deleted in another window meanwhile
            await self.close(code=CLOSE_NOT_FOUND)
            return
        for event in events:
            await self._show(event)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "admitted_user_id"):
            socket_guard.socket_release(user_id=self.admitted_user_id)
            for group in self.session_groups:
                await self.channel_layer.group_discard(group, self.channel_name)
        if self.watch is not None:
            await self.watch.close()

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
            action = socket_actions.action_parse(data)
        except socket_actions.ActionError as exc:
            logger.info("action refused on %s: %s", self.group, exc)
            await self.send(text_data=frames.alert(str(exc)))
            return
        try:
            await self._act(action)
        except Exception:
            # The socket stays open and usable; services change nothing half-way.
            logger.exception("frame failed on %s", self.group)
            await self.send(text_data=frames.alert(
                gettext("That request could not be handled; nothing was changed.")
            ))

    async def _session_valid(self, *, full: bool = False) -> bool:
        """Whether the socket's session still logs its user in; else close the socket.

        Before each frame, the session alone is read (a logout flushed it);
        `full` also checks the user's password hash and account, as an HTTP
        request does: run when the user's password or account changed.
        """
        session_key = socket_guard.scope_session_key(self.scope)
        user_id = self.scope["user"].pk
        if full:
            valid = user_id == await database_call(socket_guard.session_user_id)(
                session_key=session_key
            )
        else:
            valid = await database_call(socket_guard.session_holds_user)(
                session_key=session_key, user_id=user_id
            )
        if valid:
            return True
        await self.send(text_data=frames.alert(
            gettext("Your session has ended; log in again to continue.")
        ))
        await self.close(code=socket_guard.CLOSE_SESSION_ENDED)
        return False

    async def _act(self, action: socket_actions.Action) -> None:
        """Do what a frame asked through the engine; say why if it was refused."""
        conversation = self.conversation
        try:
            match action:
                case socket_actions.Send(content=content):
                    await engine.reply_to_question(conversation=conversation, content=content)
                    # Only the sender's composer is cleared; other views keep their drafts.
                    await self.send(text_data=frames.composer_reset(conversation))
                case socket_actions.Compare(content=content, model_ids=model_ids, blind=blind):
                    await engine.reply_to_comparison(
                        conversation=conversation, content=content, model_ids=model_ids, blind=blind
                    )
                    await self.send(text_data=frames.composer_reset(conversation))
                case socket_actions.Stop(message_id=message_id):
                    await engine.reply_stop(conversation=conversation, message_id=message_id)
                case socket_actions.StopComparison(comparison_id=comparison_id):
                    await engine.comparison_stop(
                        conversation=conversation, comparison_id=comparison_id
                    )
                case socket_actions.Keep() | socket_actions.Vote():
                    await self._comparison_act(action)
                case socket_actions.Regenerate(message_id=message_id):
                    await engine.reply_again(conversation=conversation, message_id=message_id)
                case socket_actions.Continue(message_id=message_id):
                    await engine.reply_continue(conversation=conversation, message_id=message_id)
                case socket_actions.Edit(message_id=message_id, content=content):
                    await engine.reply_to_edit(
                        conversation=conversation, message_id=message_id, content=content
                    )
                case socket_actions.Branch(message_id=message_id, step=step):
                    await engine.version_show(
                        conversation=conversation, message_id=message_id, step=step
                    )
                case socket_actions.Sync(message_ids=message_ids):
                    await self._sync(message_ids)
        except (ValidationError, PromptTooLongError, UnknownModelError) as exc:
            await self._refuse(exc)

    async def _comparison_act(self, action: socket_actions.Keep | socket_actions.Vote) -> None:
        """Keep one answer of a comparison, or vote on a blind one."""
        try:
            comparison = await database_call(selectors.comparison_get)(
                conversation=self.conversation, comparison_id=action.comparison_id
            )
            if isinstance(action, socket_actions.Keep):
                message_id = int(action.message_id)
                await engine.comparison_keep(comparison=comparison, message_id=message_id)
            else:
                await engine.comparison_vote(
                    comparison=comparison, voter=self.scope["user"], outcome=action.outcome
                )
        except (TypeError, ValueError):
            await self.send(text_data=frames.alert(gettext("No such answer.")))
        except Http404:
            await self.send(text_data=frames.alert(gettext("No such comparison.")))
        except ValidationError as exc:
            await self._refuse(exc)

    async def _sync(self, message_ids: list[int]) -> None:
        """Draw whole the replies the page shows as streaming that have ended.

        The page names them when its socket opens: a reply that ended between
        the page being drawn (or the socket dropping) and the socket opening
        sent its end to no one, and would stay a spinner until a reload.
        """
        if not message_ids:
            return
        ended = await database_call(selectors.message_ended_ids)(
            conversation=self.conversation, message_ids=message_ids
        )
        for message_id in ended:
            await self._show(self.watch.ended(message_id))

    async def _refuse(self, exc: Exception) -> None:
        """Say why a request was refused, in the page and in the log."""
        text = frames.refusal_text(exc)
        logger.info("request refused on %s: %s", self.group, text)
        await self.send(text_data=frames.alert(text))

    # Sessions ---------------------------------------------------------------

    async def session_closed(self, event: dict) -> None:
        """This socket's session was logged out: close at once."""
        await self.close(code=socket_guard.CLOSE_SESSION_ENDED)

    async def session_check(self, event: dict) -> None:
        """The user's password or account changed: close unless the session still holds."""
        await self._session_valid(full=True)

    # What the watch says to show ------------------------------------------

    async def _show(self, event: engine.WatchEvent) -> None:
        """Draw one event of the conversation as an HTML frame."""
        match event:
            case engine.ReplyText(message_id=message_id, text=text, replace=True):
                frame, self.renderers[message_id] = frames.body_replace(message_id, text)
                await self.send(text_data=frame)
            case engine.ReplyText(message_id=message_id, text=text):
                renderer = self.renderers.setdefault(message_id, StreamingMarkdown())
                await self.send(text_data=frames.body_update(message_id, renderer.feed(text)))
            case engine.TurnStarted():
                await self._turn_started(event)
            case engine.ReplyQueued(message_id=message_id, ahead=ahead):
                await self.send(text_data=frames.queued(message_id, ahead))
            case engine.ReplyEnded(message_id=message_id, message=message):
                self.renderers.pop(message_id, None)
                html, self.left_out_up_to = await database_call(frames.message_finished)(
                    conversation=self.conversation,
                    message_id=message_id,
                    message=message,
                    left_out_up_to=self.left_out_up_to,
                )
                await self.send(text_data=html)
            case engine.ComparisonStarted():
                html, ended, self.left_out_up_to = await database_call(frames.branch_drawn)(
                    conversation=self.conversation, fresh_ids=event.assistant_message_ids
                )
                await self.send(text_data=html)
                for message_id in self.watch.comparison_drawn(event, ended=ended):
                    for shown in await self.watch.follow(message_id):
                        await self._show(shown)
            case engine.BranchSwitched():
                html, _, self.left_out_up_to = await database_call(frames.branch_drawn)(
                    conversation=self.conversation
                )
                await self.send(text_data=html)
            case engine.Retitled():
                html = await database_call(frames.title_changed)(conversation=self.conversation)
                await self.send(text_data=html)
            case engine.SettingsChanged():
                html, self.left_out_up_to = await database_call(frames.settings_changed)(
                    conversation=self.conversation
                )
                await self.send(text_data=html)

    async def _turn_started(self, event: engine.TurnStarted) -> None:
        # The new reply is drawn empty: its text is rendered from the first chunk.
        self.renderers[event.assistant_message_id] = StreamingMarkdown()
        if event.redraw:
            html, ended, self.left_out_up_to = await database_call(frames.branch_drawn)(
                conversation=self.conversation, fresh_id=event.assistant_message_id
            )
        elif event.messages:  # published in this process
            html = frames.turn_drawn(
                conversation=self.conversation,
                messages=event.messages,
                unarchived=event.unarchived,
            )
            ended = []
        else:
            html, ended = await database_call(frames.turn_started)(
                conversation=self.conversation,
                appended_ids=event.appended_ids,
                unarchived=event.unarchived,
            )
        await self.send(text_data=html)
        if self.watch.turn_drawn(event, ended=ended):
            for shown in await self.watch.follow(event.assistant_message_id):
                await self._show(shown)
