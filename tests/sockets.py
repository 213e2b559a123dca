"""Sockets for tests: open one to a conversation the way the page does, read what it shows.

Every socket is a real Channels WebsocketCommunicator against the project's ASGI
application (origin check, session auth, routing, consumer).
"""

from __future__ import annotations

import asyncio
import html
import re
from dataclasses import dataclass, field

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from chatsite.asgi import application
from conversations import services
from conversations.models import Conversation, Message

LOCAL_ORIGIN = b"http://localhost"
# Every receive and every wait on the database is bounded by this: generous, so
# that a slow machine does not fail what only takes longer there.
TIMEOUT = 30

DELTA = re.compile(r'<span hx-swap-oob="beforeend:#msg-(\d+)-body">(.*?)</span>', re.S)
SNAPSHOT = re.compile(
    r'<div id="msg-(\d+)-body" class="message-body is-streaming" hx-swap-oob="true">(.*?)</div>',
    re.S,
)
FINISHED = re.compile(
    r'<article id="msg-(\d+)" class="message message--assistant is-(\w+)"[^>]* hx-swap-oob="true">'
)
ALERT = re.compile(
    r'<div id="chat-alert" class="alert" role="alert" hx-swap-oob="true">(.*?)</div>', re.S
)
STOP_BUTTON_FOR = re.compile(
    r'name="action" value="stop">\s*<input type="hidden" name="message_id" value="(\d+)"'
)


async def create_conversation(owner, **kwargs) -> Conversation:
    return await database_sync_to_async(services.conversation_create)(owner=owner, **kwargs)


async def session_cookie(user) -> bytes:
    client = Client()
    await database_sync_to_async(client.force_login)(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def socket_for(user, conversation, origin: bytes = LOCAL_ORIGIN) -> WebsocketCommunicator:
    """A not yet connected socket to the conversation, as `user` (None: anonymous)."""
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if user is not None:
        headers.append((b"cookie", await session_cookie(user)))
    return WebsocketCommunicator(application, f"/ws/c/{conversation.public_id}/", headers=headers)


async def connect(user, conversation, origin: bytes = LOCAL_ORIGIN) -> WebsocketCommunicator:
    """Open a socket to the conversation as `user`, the way the page does."""
    socket = await socket_for(user, conversation, origin)
    accepted, code = await socket.connect(timeout=TIMEOUT)
    assert accepted, f"socket refused with close code {code}"
    return socket


async def send_message(socket: WebsocketCommunicator, text) -> None:
    """Send what the composer form sends."""
    headers = {"HX-Request": "true", "HX-Trigger": "composer"}
    await socket.send_json_to({"action": "send", "message": text, "HEADERS": headers})


async def send_stop(socket: WebsocketCommunicator, message_id: int) -> None:
    """Send what the Stop button sends (its hidden input makes the id a string)."""
    await socket.send_json_to(
        {"action": "stop", "message_id": str(message_id), "HEADERS": {"HX-Request": "true"}}
    )


@dataclass
class Reply:
    """What one socket saw of one reply."""

    frames: list[str] = field(default_factory=list)
    message_id: int | None = None
    snapshot: str | None = None
    deltas: list[str] = field(default_factory=list)
    status: str | None = None

    @property
    def streamed_text(self) -> str:
        """The text a browser shows before the final frame: snapshot plus appended chunks."""
        return (self.snapshot or "") + "".join(self.deltas)

    @property
    def final_frame(self) -> str:
        return self.frames[-1]


async def read_reply(socket: WebsocketCommunicator, reply: Reply | None = None) -> Reply:
    """Read frames until the reply's final frame; collect its snapshot and chunks."""
    reply = reply or Reply()
    for _ in range(2000):
        frame = await socket.receive_from(timeout=TIMEOUT)
        reply.frames.append(frame)
        if reply.message_id is None and (stop := STOP_BUTTON_FOR.search(frame)):
            reply.message_id = int(stop.group(1))
        if (snapshot := SNAPSHOT.fullmatch(frame.strip())) is not None:
            reply.message_id = int(snapshot.group(1))
            reply.snapshot = html.unescape(snapshot.group(2))
        elif (delta := DELTA.fullmatch(frame.strip())) is not None:
            assert reply.message_id in (None, int(delta.group(1)))
            reply.deltas.append(html.unescape(delta.group(2)))
        elif (finished := FINISHED.search(frame)) is not None:
            reply.message_id = int(finished.group(1))
            reply.status = finished.group(2)
            return reply
    raise AssertionError("the reply never finished")


async def read_until_text(socket: WebsocketCommunicator) -> Reply:
    """Read frames until some text of the reply has arrived."""
    reply = Reply()
    for _ in range(100):
        frame = await socket.receive_from(timeout=TIMEOUT)
        reply.frames.append(frame)
        if (stop := STOP_BUTTON_FOR.search(frame)) is not None:
            reply.message_id = int(stop.group(1))
        if (delta := DELTA.fullmatch(frame.strip())) is not None:
            reply.deltas.append(html.unescape(delta.group(2)))
            return reply
    raise AssertionError("no text arrived")


async def receive_alert(socket: WebsocketCommunicator) -> str:
    """Receive the next frame, which must be an alert; return its text."""
    frame = await socket.receive_from(timeout=TIMEOUT)
    match = ALERT.fullmatch(frame.strip())
    assert match is not None, f"expected an alert frame, got: {frame[:300]}"
    return html.unescape(match.group(1))


# Database reads go through database_sync_to_async, which closes its connection
# after each call as the app's own code does: the async ORM would leave one open
# in its worker thread, and PostgreSQL then refuses to drop the test database.


@database_sync_to_async
def message_get(**lookup) -> Message:
    return Message.objects.get(**lookup)


@database_sync_to_async
def message_count() -> int:
    return Message.objects.count()


@database_sync_to_async
def user_message_contents() -> list[str]:
    return list(Message.objects.filter(role=Message.Role.USER).values_list("content", flat=True))


@database_sync_to_async
def any_reply_streaming() -> bool:
    return Message.objects.filter(status=Message.Status.STREAMING).exists()


async def settled(message_id: int, timeout: float = TIMEOUT) -> Message:
    """The message once it is no longer streaming (or as it is when the wait runs out)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await message_get(pk=message_id)
        if message.status != Message.Status.STREAMING or loop.time() > deadline:
            return message
        await asyncio.sleep(0.05)


@pytest.fixture(autouse=True)
async def replies_settle(transactional_db):
    """Let replies still running end before the test database is emptied."""
    yield
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while loop.time() < deadline and await any_reply_streaming():
        await asyncio.sleep(0.05)
