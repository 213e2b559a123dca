"""A conversation socket lives no longer than its session, comes only from the
page's own origin, and one user cannot open sockets without end.

Real Channels communicators against the project's ASGI application, with real
sessions made by Django's test client; logouts and password changes go through
the real views.
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from conftest import PASSWORD
from django.test import Client
from django.urls import reverse
from sockets import (
    TIMEOUT,
    create_conversation,
    message_count,
    receive_alert,
    replies_settle,  # noqa: F401 - autouse: replies end before the test (and its loop) does
    send_message,
)

from chatsite.asgi import application
from conversations import services

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "a-brand-new-secret-42"


async def logged_in_client(user) -> Client:
    client = Client()
    await database_sync_to_async(client.force_login)(user)
    return client


async def open_socket(
    client: Client, conversation, *, origin: bytes = b"http://localhost", host: bytes = b"localhost"
) -> WebsocketCommunicator:
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    socket = WebsocketCommunicator(
        application,
        f"/ws/c/{conversation.public_id}/",
        headers=[(b"origin", origin), (b"host", host), (b"cookie", cookie)],
    )
    return socket


async def connected(client: Client, conversation, **kwargs) -> WebsocketCommunicator:
    socket = await open_socket(client, conversation, **kwargs)
    accepted, code = await socket.connect(timeout=TIMEOUT)
    assert accepted, f"refused with {code}"
    return socket


async def closed_with(socket: WebsocketCommunicator) -> int:
    """Read until the server closes the socket; return the close code."""
    for _ in range(50):
        output = await socket.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            # As a browser does: the consumer then ends (and leaves the layer).
            await socket.disconnect()
            return output.get("code", 1000)
    raise AssertionError("the socket was not closed")


# Sessions ----------------------------------------------------------------------


async def test_logging_out_closes_the_sessions_sockets_and_no_other(alice, upstream):
    conversation = await create_conversation(alice)
    laptop, phone = await logged_in_client(alice), await logged_in_client(alice)
    on_laptop = await connected(laptop, conversation)
    on_phone = await connected(phone, conversation)

    response = await database_sync_to_async(laptop.post)(reverse("logout"))

    assert response.status_code == 302
    assert await closed_with(on_laptop) == 4401
    # The other session still chats.
    await send_message(on_phone, "Still here?")
    assert await on_phone.receive_from(timeout=TIMEOUT)
    await on_phone.disconnect()


async def test_a_frame_from_a_session_that_ended_is_refused(alice, upstream):
    conversation = await create_conversation(alice)
    client = await logged_in_client(alice)
    socket = await connected(client, conversation)
    # The session is gone from the store, as after a logout the socket never heard of.
    session_key = client.session.session_key
    await database_sync_to_async(client.session.delete)(session_key)

    await send_message(socket, "Sent after logging out")

    assert await receive_alert(socket) == "Your session has ended; log in again to continue."
    assert await closed_with(socket) == 4401
    assert await message_count() == 0
    assert upstream.requests == []


async def test_a_password_change_closes_the_other_sessions_sockets(alice, upstream):
    conversation = await create_conversation(alice)
    here, elsewhere = await logged_in_client(alice), await logged_in_client(alice)
    socket_elsewhere = await connected(elsewhere, conversation)

    response = await database_sync_to_async(here.post)(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert await closed_with(socket_elsewhere) == 4401
    # The session that changed the password goes on, and a new socket of it opens.
    socket_here = await connected(here, conversation)
    await socket_here.disconnect()


async def test_deactivating_the_account_closes_its_sockets(alice, upstream):
    conversation = await create_conversation(alice)
    socket = await connected(await logged_in_client(alice), conversation)

    alice.is_active = False
    await database_sync_to_async(alice.save)()

    assert await closed_with(socket) == 4401


async def test_sending_after_the_conversation_was_deleted_says_so(alice, upstream):
    conversation = await create_conversation(alice)
    socket = await connected(await logged_in_client(alice), conversation)
    # Frames are handled in order, after the socket's own setup: once this one is
    # answered, the view is fully open.
    await socket.send_json_to({"action": "dance"})
    assert await receive_alert(socket) == "Unknown action: dance"
    await database_sync_to_async(services.conversation_delete)(conversation=conversation)

    await send_message(socket, "Anyone?")

    assert await receive_alert(socket) == "This conversation was deleted."
    assert await message_count() == 0
    assert upstream.requests == []
    # The socket is still open and answers the next frame.
    await socket.send_json_to({"action": "dance"})
    assert await receive_alert(socket) == "Unknown action: dance"
    await socket.disconnect()


# Origins: the same as the HTTP CSRF check ----------------------------------------


@pytest.mark.parametrize(
    ("origin", "host", "accepted"),
    [
        (b"http://localhost:8000", b"localhost:8000", True),
        (b"http://localhost:9", b"localhost:8000", False),  # another port
        (b"https://localhost:8000", b"localhost:8000", False),  # another scheme
        (b"http://127.0.0.1:9", b"localhost:8000", False),
        (b"http://evil.example:8000", b"evil.example:8000", False),  # not an allowed host
        (b"null", b"localhost:8000", False),
        (b"https://chat.example.com", b"localhost:8000", True),  # CSRF_TRUSTED_ORIGINS
        (b"https://eu.parley.example", b"localhost:8000", True),  # https://*.parley.example
        (b"http://eu.parley.example", b"localhost:8000", False),
    ],
)
async def test_a_socket_opens_only_from_an_origin_a_form_could_post_from(
    alice, settings, origin, host, accepted
):
    settings.CSRF_TRUSTED_ORIGINS = ["https://chat.example.com", "https://*.parley.example"]
    conversation = await create_conversation(alice)
    socket = await open_socket(
        await logged_in_client(alice), conversation, origin=origin, host=host
    )

    opened, _ = await socket.connect(timeout=TIMEOUT)
    await socket.disconnect()

    assert opened is accepted


async def test_the_socket_origin_is_https_only_behind_a_trusted_proxy(alice, settings):
    settings.PARLEY_TRUSTED_PROXIES = ["10.0.0.0/8"]
    conversation = await create_conversation(alice)
    client = await logged_in_client(alice)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    results = []
    for address in ("10.1.2.3", "192.0.2.7"):
        socket = WebsocketCommunicator(
            application,
            f"/ws/c/{conversation.public_id}/",
            headers=[
                (b"origin", b"https://localhost"),
                (b"host", b"localhost"),
                (b"x-forwarded-proto", b"https"),
                (b"cookie", cookie),
            ],
        )
        socket.scope["client"] = (address, 40000)
        opened, _ = await socket.connect(timeout=TIMEOUT)
        results.append(opened)
        await socket.disconnect()
    assert results == [True, False]


# Caps --------------------------------------------------------------------------


async def test_one_user_may_hold_only_so_many_sockets(alice, bob, settings):
    settings.PARLEY_MAX_SOCKETS_PER_USER = 2
    conversation = await create_conversation(alice)
    client = await logged_in_client(alice)
    first = await connected(client, conversation)
    second = await connected(client, conversation)

    third = await open_socket(client, conversation)
    accepted, code = await third.connect(timeout=TIMEOUT)
    await third.disconnect()

    assert not accepted
    assert code == 4429
    # Another user is not affected, and closing one socket makes room again.
    bobs = await connected(await logged_in_client(bob), await create_conversation(bob))
    await bobs.disconnect()
    await first.disconnect()
    again = await connected(client, conversation)
    for socket in (second, again):
        await socket.disconnect()
