"""The conversation websocket: who may connect, the frames of a turn, and bad input.

Every socket here is a real Channels WebsocketCommunicator against the project's
ASGI application (origin check, session auth, routing, consumer), talking to the
real database; only the model server is the fake upstream.
"""

from __future__ import annotations

import asyncio
import html

import pytest
from sockets import (
    ALERT,
    FINISHED,
    STOP_BUTTON_FOR,
    TIMEOUT,
    connect,
    create_conversation,
    message_count,
    message_get,
    read_reply,
    read_until_text,
    receive_alert,
    replies_settle,  # noqa: F401 - autouse: replies end before the database is emptied
    send_message,
    send_stop,
    socket_for,
    user_message_contents,
)
from streaming import StreamedBody, visible_text

from conversations.models import Message

pytestmark = pytest.mark.django_db(transaction=True)

# Who may connect -------------------------------------------------------------


async def test_an_anonymous_socket_is_closed(alice):
    conversation = await create_conversation(alice)
    socket = await socket_for(None, conversation)

    accepted, code = await socket.connect(timeout=TIMEOUT)

    assert not accepted
    assert code == 4401


async def test_a_socket_from_a_foreign_origin_is_refused(alice):
    conversation = await create_conversation(alice)
    socket = await socket_for(alice, conversation, origin=b"http://evil.example")

    accepted, _ = await socket.connect(timeout=TIMEOUT)

    assert not accepted


async def test_alice_can_open_her_own_conversation(alice):
    conversation = await create_conversation(alice)
    socket = await socket_for(alice, conversation)

    accepted, _ = await socket.connect(timeout=TIMEOUT)

    assert accepted
    await socket.disconnect()


async def test_bob_cannot_open_alices_conversation_nor_see_her_reply(alice, bob, upstream):
    upstream.tokens = [" secret"] * 40
    upstream.delay = 0.02
    conversation = await create_conversation(alice)
    alices_socket = await connect(alice, conversation)
    await send_message(alices_socket, "Tell me a secret")
    await read_until_text(alices_socket)

    bobs_socket = await socket_for(bob, conversation)
    accepted, code = await bobs_socket.connect(timeout=TIMEOUT)

    assert not accepted
    assert code == 4404
    assert await bobs_socket.receive_nothing(timeout=0.2)
    await read_reply(alices_socket)
    await alices_socket.disconnect()


# A turn, frame by frame --------------------------------------------------------


async def test_a_turn_shows_the_message_then_streams_chunks_in_order_then_markdown(alice, upstream):
    upstream.tokens = ["Hel", "lo", " **<b>world</b>**", " & all", "!"]
    upstream.delay = 0.05
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)

    await send_message(socket, "Hi there")
    reply = await read_reply(socket)
    await socket.disconnect()

    turn_frame = next(i for i, frame in enumerate(reply.frames) if "message--user" in frame)
    first_delta = next(i for i, frame in enumerate(reply.frames) if StreamedBody().apply(frame))
    assert turn_frame < first_delta
    assert "Hi there" in reply.frames[turn_frame]
    assert reply.body.updates >= 2
    # Rendered as it streams, the model's HTML escaped: the same as the page shows at the end.
    assert reply.streamed_html == (
        "<p>Hello <strong>&lt;b&gt;world&lt;/b&gt;</strong> &amp; all!</p>\n"
    )
    assert not any("<b>" in frame for frame in reply.frames), "model text must arrive escaped"
    assert reply.status == "complete"
    assert "<strong>&lt;b&gt;world&lt;/b&gt;</strong>" in reply.final_frame
    assert reply.final_frame.count('class="message-body markdown"') == 1
    # The Stop button goes away with the final frame.
    assert STOP_BUTTON_FOR.search(reply.final_frame) is None


async def test_another_tab_opened_mid_reply_gets_the_text_so_far_then_the_rest_once(
    alice, upstream, settings
):
    # A fast upstream and a few frames per second: tokens gather between frames.
    settings.PARLEY_FRAME_SECONDS = 0.25
    upstream.tokens = [f" w{i}" for i in range(150)]
    upstream.delay = 0.01
    full_text = "".join(upstream.tokens)
    conversation = await create_conversation(alice)
    first_tab = await connect(alice, conversation)
    await send_message(first_tab, "Count for me")
    started = await read_until_text(first_tab)
    await asyncio.sleep(0.1)  # let tokens gather after the first frame

    second_tab = await connect(alice, conversation)
    seen_by_second = await read_reply(second_tab)
    seen_by_first = await read_reply(first_tab, started)
    await first_tab.disconnect()
    await second_tab.disconnect()

    assert seen_by_second.message_id == started.message_id
    assert seen_by_second.snapshot, "the second tab starts with the text so far"
    snapshot_text = visible_text(seen_by_second.snapshot)
    assert 0 < len(snapshot_text) < len(full_text.strip())
    assert full_text.strip().startswith(snapshot_text)
    assert seen_by_second.streamed_text == full_text.strip(), (
        f"text was lost or shown twice: the snapshot ends {snapshot_text[-20:]!r}"
    )
    assert seen_by_first.streamed_text == full_text.strip()
    assert seen_by_second.streamed_html == seen_by_first.streamed_html
    assert seen_by_second.status == seen_by_first.status == "complete"
    assert full_text.strip() in html.unescape(seen_by_second.final_frame)


# Bad input: an alert, nothing saved, nothing sent, and the socket stays usable ----


@pytest.mark.parametrize(
    ("frame", "alert"),
    [
        ("not json", "That request was not understood: Expecting value at line 1, column 1."),
        ('["send", "hello"]', "That request was not understood: it was not an object."),
        ('{"action": "dance"}', "Unknown action: dance"),
        (
            '{"action": "send", "message": Infinity}',
            "That request was not understood: Infinity is not a number JSON allows.",
        ),
        (
            '{"action": "regenerate", "message_id": 123456789012345678901234567890}',
            "That request was not understood: the number 123456789012345678901234567890 "
            "is too large.",
        ),
        ('{"action": "stop", "message_id": "99999999999999999999999"}', "Nothing to stop."),
        ('{"action": "regenerate", "message_id": -1}', "Nothing to write again."),
        (
            '{"action": "branch", "message_id": 1, "step": 1e400}',
            "Choose the previous or the next version.",
        ),
        (
            '{"action": "send", "message": ' + "[" * 100_000 + "]" * 100_000 + "}",
            "That request was not understood: it is nested too deeply.",
        ),
        (
            '{"action": "send", "message": ' + "[" * 30 + "]" * 30 + "}",
            "That request was not understood: it is nested too deeply.",
        ),
        (
            '{"action": "send", "message": "lone \\ud800 surrogate"}',
            "That request was not understood: it holds text that is not valid Unicode "
            "(a lone surrogate).",
        ),
        ('{"action": "send", "message": "nul \\u0000 byte"}', None),
    ],
    ids=[
        "not-json",
        "json-list",
        "unknown-action",
        "infinity",
        "int-beyond-64-bits",
        "id-text-beyond-64-bits",
        "negative-id",
        "step-overflowing-float",
        "nested-100000-deep",
        "nested-30-deep",
        "lone-surrogate",
        "nul-byte",
    ],
)
async def test_a_malformed_frame_gets_an_alert_and_the_socket_stays_usable(
    alice, upstream, frame, alert
):
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)

    await socket.send_to(text_data=frame)

    alert = alert or "The message contains a NUL character (\\0), which cannot be saved."
    assert await receive_alert(socket) == alert
    assert await message_count() == 0
    await send_message(socket, "Hi there")
    reply = await read_reply(socket)
    await socket.disconnect()
    assert reply.status == "complete"
    assert reply.streamed_text == "Hello, world!"


@pytest.mark.parametrize("text", ["", "   \n\t "], ids=["empty", "blank"])
async def test_an_empty_message_is_refused_and_nothing_is_saved_or_sent(alice, upstream, text):
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)

    await send_message(socket, text)

    assert await receive_alert(socket) == "Type a message first."
    assert await message_count() == 0
    assert upstream.request_count == 0
    await socket.disconnect()


async def test_a_message_over_the_length_limit_is_refused_and_nothing_is_saved_or_sent(
    alice, upstream, settings
):
    settings.PARLEY_MAX_MESSAGE_CHARS = 50
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)

    await send_message(socket, "x" * 51)

    assert await receive_alert(socket) == "This message is 51 characters long; the limit is 50."
    assert await message_count() == 0
    assert upstream.request_count == 0
    await send_message(socket, "x" * 50)
    assert (await read_reply(socket)).status == "complete"
    await socket.disconnect()


async def test_a_message_too_long_for_the_models_window_is_refused_with_the_numbers(
    alice, upstream
):
    # "tiny": a 120-token window with 40 reserved for the answer and 3 for priming
    # leaves 77. The message is 100 tokens, plus 3 of framing and 1 for the role.
    conversation = await create_conversation(alice, model_id="tiny")
    socket = await connect(alice, conversation)

    await send_message(socket, "hello " * 99 + "hello")

    alert = await receive_alert(socket)
    await socket.disconnect()
    assert "too long for Tiny window model" in alert
    assert "needs 104 tokens" in alert
    assert "window of 120 tokens leaves 77 once 40 are reserved" in alert
    assert await message_count() == 0
    assert upstream.request_count == 0


async def test_a_message_that_is_not_text_is_refused(alice, upstream):
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)

    await socket.send_json_to({"action": "send", "message": ["a", "list"]})

    assert await receive_alert(socket) == "The message must be text."
    assert await message_count() == 0
    await socket.disconnect()


async def test_sending_while_a_reply_is_streaming_is_refused(alice, upstream):
    upstream.tokens = [" word"] * 30
    upstream.delay = 0.02
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)
    await send_message(socket, "First question")
    started = await read_until_text(socket)

    await send_message(socket, "Second question, too soon")

    # The alert may come between chunks of the running reply.
    for _ in range(200):
        frame = await socket.receive_from(timeout=TIMEOUT)
        started.frames.append(frame)
        if (alert := ALERT.fullmatch(frame.strip())) is not None:
            break
        assert FINISHED.search(frame) is None, "the reply ended before the alert came"
        started.body.apply(frame)
    else:
        raise AssertionError("no alert")
    assert "Wait for the answer to finish" in html.unescape(alert.group(1))
    reply = await read_reply(socket, started)
    await socket.disconnect()
    assert reply.status == "complete"
    assert await user_message_contents() == ["First question"]
    assert len(upstream.chat_requests()) == 1


async def test_stop_for_a_message_that_is_not_streaming_changes_nothing(alice, upstream):
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)
    await send_message(socket, "Hi there")
    reply = await read_reply(socket)

    await send_stop(socket, reply.message_id)
    await send_stop(socket, "not a number")

    assert await receive_alert(socket) == "Nothing to stop."
    await socket.disconnect()
    message = await message_get(pk=reply.message_id)
    assert message.status == Message.Status.COMPLETE
    assert message.content == "Hello, world!"


async def test_a_page_that_shows_a_reply_streaming_gets_it_whole_if_it_ended_meanwhile(
    alice, bob, upstream
):
    """The page names the replies it shows as streaming when its socket opens."""
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)
    await send_message(socket, "Hi there")
    reply = await read_reply(socket)
    await socket.disconnect()
    bobs = await create_conversation(bob)
    bobs_socket = await connect(bob, bobs)
    await send_message(bobs_socket, "Mine")
    bobs_reply = await read_reply(bobs_socket)
    await bobs_socket.disconnect()

    # A page drawn while the reply streamed; it ended before the socket opened.
    socket = await connect(alice, conversation)
    ids = [str(reply.message_id), "junk", bobs_reply.message_id, None]
    await socket.send_json_to({"action": "sync", "message_ids": ids})
    frame = await socket.receive_from(timeout=TIMEOUT)
    finished = FINISHED.search(frame)
    assert finished is not None
    assert (int(finished.group(1)), finished.group(2)) == (reply.message_id, "complete")
    assert "Hello, world!" in frame
    # Nothing for Bob's reply, nor for what is not an id.
    assert await socket.receive_nothing(timeout=0.3)
    await socket.send_json_to({"action": "sync", "message_ids": "not a list"})
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()
