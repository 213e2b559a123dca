"""A reply, end to end through the websocket: what is saved, sent upstream and kept.

Turns are driven the way the page drives them (a socket to the ASGI app) and
checked in the database; only the model server is the fake upstream.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sockets import (
    connect,
    create_conversation,
    message_get,
    read_reply,
    read_until_text,
    replies_settle,  # noqa: F401 - autouse: replies end before the database is emptied
    send_message,
    send_stop,
    settled,
)

from conversations.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


async def assistant_message(message_id: int) -> Message:
    return await message_get(pk=message_id, role=Message.Role.ASSISTANT)


async def test_a_turn_saves_the_message_and_a_complete_reply_with_usage_and_cost(alice, upstream):
    upstream.tokens = ["The", " answer", " is", " 42."]
    upstream.delay = 0.02
    upstream.usage = (1234, 56)
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)

    await send_message(socket, "What is the answer?")
    reply = await read_reply(socket)
    await socket.disconnect()

    user_message = await message_get(conversation=conversation, role=Message.Role.USER)
    assert user_message.content == "What is the answer?"
    assert user_message.status == Message.Status.COMPLETE
    message = await assistant_message(reply.message_id)
    assert message.id > user_message.id
    assert message.status == Message.Status.COMPLETE
    assert message.content == "The answer is 42."
    assert message.model_id == "fake"
    assert (message.input_tokens, message.output_tokens) == (1234, 56)
    assert message.usage_estimated is False
    # 1234 * 0.0005 / 1000 + 56 * 0.0015 / 1000 = 0.000617 + 0.000084
    assert message.cost == Decimal("0.00070100")
    assert message.time_to_first_token_ms is not None
    assert message.duration_ms is not None
    assert message.duration_ms >= message.time_to_first_token_ms


async def test_without_upstream_usage_the_counts_are_our_own_and_marked_estimated(alice, upstream):
    upstream.usage = None
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)

    await send_message(socket, "Hi there")
    reply = await read_reply(socket)
    await socket.disconnect()

    message = await assistant_message(reply.message_id)
    assert message.status == Message.Status.COMPLETE
    assert message.content == "Hello, world!"
    assert message.usage_estimated is True
    # cl100k_base: "Hi there" is 2 tokens, + 3 of framing + 1 for "user", + 3 of
    # reply priming = 9; "Hello, world!" is 4 tokens.
    assert (message.input_tokens, message.output_tokens) == (9, 4)
    # 9 * 0.0005 / 1000 + 4 * 0.0015 / 1000 = 0.0000045 + 0.000006
    assert message.cost == Decimal("0.00001050")


async def test_the_next_turn_sends_the_system_prompt_and_the_earlier_turn(alice, upstream):
    conversation = await create_conversation(alice, system_prompt="Answer in one word.")
    socket = await connect(alice, conversation)
    upstream.tokens = ["Four"]
    await send_message(socket, "What is 2+2?")
    await read_reply(socket)

    upstream.tokens = ["Six"]
    await send_message(socket, "And 3+3?")
    reply = await read_reply(socket)
    await socket.disconnect()

    assert reply.streamed_text == "Six"
    first, second = upstream.chat_requests()
    assert first["json"]["messages"] == [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "What is 2+2?"},
    ]
    assert second["json"]["messages"] == [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "Four"},
        {"role": "user", "content": "And 3+3?"},
    ]


async def test_stop_ends_the_reply_and_keeps_the_text_so_far(alice, upstream):
    upstream.tokens = [" tok"] * 200
    upstream.delay = 0.05
    full_text = "".join(upstream.tokens)
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)
    await send_message(socket, "Talk for a long time")
    started = await read_until_text(socket)

    await send_stop(socket, started.message_id)
    reply = await read_reply(socket, started)
    await socket.disconnect()

    assert reply.status == "stopped"
    message = await assistant_message(started.message_id)
    assert message.status == Message.Status.STOPPED
    assert message.content, "the text written before Stop is kept"
    assert full_text.startswith(message.content)
    assert message.output_tokens < 50, "the reply went on after Stop"
    assert message.duration_ms is not None


async def test_closing_the_socket_mid_reply_does_not_stop_it(alice, upstream):
    upstream.tokens = [f" w{i}" for i in range(30)]
    upstream.delay = 0.02
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)
    await send_message(socket, "Keep going")
    started = await read_until_text(socket)

    await socket.disconnect()

    message = await settled(started.message_id)
    assert message.status == Message.Status.COMPLETE
    assert message.content == "".join(upstream.tokens)


async def test_a_refused_api_key_ends_the_reply_with_an_error(alice, upstream):
    upstream.fail_status = 401
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)

    await send_message(socket, "Hi there")
    reply = await read_reply(socket)
    await socket.disconnect()

    assert reply.status == "error"
    assert "API key was refused" in reply.final_frame.replace("&#x27;", "'")
    message = await assistant_message(reply.message_id)
    assert message.status == Message.Status.ERROR
    assert "API key was refused" in message.error
    assert message.content == ""
    user_message = await message_get(conversation=conversation, role=Message.Role.USER)
    assert user_message.content == "Hi there", "what the user typed is never lost"


async def test_a_server_that_keeps_failing_ends_the_reply_with_an_error_after_retries(
    alice, upstream
):
    upstream.fail_status = 500
    upstream.fail_times = None
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)

    await send_message(socket, "Hi there")
    reply = await read_reply(socket)
    await socket.disconnect()

    message = await assistant_message(reply.message_id)
    assert message.status == Message.Status.ERROR
    assert "500" in message.error
    assert len(upstream.chat_requests()) > 1, "a server error is retried"


async def test_a_server_error_that_passes_is_retried_and_the_reply_completes(alice, upstream):
    upstream.fail_status = 500
    upstream.fail_times = 1
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)

    await send_message(socket, "Hi there")
    reply = await read_reply(socket)
    await socket.disconnect()

    message = await assistant_message(reply.message_id)
    assert message.status == Message.Status.COMPLETE
    assert message.content == "Hello, world!"
    assert len(upstream.chat_requests()) == 2


@pytest.mark.parametrize(
    "failure",
    [{"reset_after_tokens": 2}, {"malformed_after_tokens": 2}],
    ids=["connection-reset", "malformed-chunk"],
)
async def test_a_stream_broken_midway_keeps_the_text_so_far_with_an_error(alice, upstream, failure):
    upstream.tokens = ["One", " two", " three", " four"]
    upstream.delay = 0.05
    for knob, value in failure.items():
        setattr(upstream, knob, value)
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)

    await send_message(socket, "Count to four")
    reply = await read_reply(socket)
    await socket.disconnect()

    assert reply.status == "error"
    message = await assistant_message(reply.message_id)
    assert message.status == Message.Status.ERROR
    assert message.error
    assert message.content, "the text before the failure is kept"
    assert "One two three four".startswith(message.content)
    assert message.content != "One two three four"
