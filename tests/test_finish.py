"""Answers that tell the truth: finish reasons, overflow errors and what is billed.

Driven through the page's socket against the fake upstream, which speaks each
server's shape (see tests/fake_openai/bodies.py); checked in the database.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from sockets import (
    connect,
    create_conversation,
    message_get,
    read_reply,
    read_until_text,
    receive_alert,
    replies_settle,  # noqa: F401 - autouse: replies end before the database is emptied
    send_continue,
    send_message,
    send_stop,
)
from streaming import visible_text

from conversations.models import Message, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)


async def one_turn(user, text: str = "Hi there", **conversation_fields) -> tuple[Message, str]:
    """Send one message; return the saved answer and the final frame."""
    conversation = await create_conversation(user, **conversation_fields)
    socket = await connect(user, conversation)
    await send_message(socket, text)
    reply = await read_reply(socket)
    await socket.disconnect()
    return await message_get(pk=reply.message_id), reply.final_frame


async def test_stop_is_complete_and_remembered(alice, upstream):
    message, _frame = await one_turn(alice)

    assert (message.status, message.finish_reason) == (Message.Status.COMPLETE, "stop")


async def test_an_answer_cut_at_the_length_limit_says_so_and_offers_continue(alice, upstream):
    upstream.finish_reason = "length"

    message, frame = await one_turn(alice)

    assert (message.status, message.finish_reason) == (Message.Status.CUT, "length")
    assert message.content == "Hello, world!"
    assert "length limit" in frame
    assert 'name="action" value="continue"' in frame
    # Billed for what was written.
    assert message.output_tokens == 4 and message.cost > 0


async def test_a_content_filter_stop_is_said_and_the_text_kept(alice, upstream):
    upstream.finish_reason = "content_filter"

    message, frame = await one_turn(alice)

    assert message.status == Message.Status.ERROR
    assert message.finish_reason == "content_filter"
    assert "content filter" in message.error
    assert message.content == "Hello, world!"
    assert "Retry" in frame


async def test_a_stream_ending_without_a_finish_reason_is_not_complete(alice, upstream):
    # llama.cpp's server ends a stream cut by another request with a bare [DONE].
    upstream.finish_reason = None

    message, frame = await one_turn(alice)

    assert message.status == Message.Status.ERROR
    assert "incomplete" in message.error
    assert message.content == "Hello, world!"
    assert "Retry" in frame


async def test_an_empty_answer_is_not_complete_and_costs_nothing(alice, upstream):
    upstream.tokens = []
    upstream.usage = None

    message, frame = await one_turn(alice)

    assert message.status == Message.Status.ERROR
    assert message.error == "The model's server sent back an empty answer."
    assert (message.input_tokens, message.output_tokens, message.cost) == (0, 0, Decimal(0))
    assert "Retry" in frame


async def test_an_empty_200_stream_after_a_large_prompt_is_explained_as_an_overflow(
    alice, upstream, caplog
):
    # llama-cpp-python's server: HTTP 200 and no event at all for a prompt over
    # its real context (smaller than what the catalog says).
    upstream.context_window = 1000
    upstream.overflow_shape = "empty"
    long = "word " * 2500

    message, _frame = await one_turn(alice, long)

    assert message.status == Message.Status.ERROR
    assert "too long for the model's server" in message.error
    assert "about 2,5" in message.error  # our count of the prompt (~2,5xx tokens)
    assert "4,096" in message.error  # the catalog's window
    assert message.cost == 0


@pytest.mark.parametrize("shape", ["openai", "vllm", "llamacpp", "stream_error"])
async def test_an_overflow_error_is_explained_with_the_servers_numbers(
    alice, upstream, caplog, shape
):
    upstream.context_window = 1000
    upstream.overflow_shape = shape
    long = "word " * 1500

    message, frame = await one_turn(alice, long)

    assert message.status == Message.Status.ERROR
    # 1,500 words + 1 for the message, as the fake counts.
    assert "the request has 1,501 tokens, and its context window holds 1,000" in message.error
    assert (message.input_tokens, message.cost) == (0, Decimal(0))
    # The upstream's own words are in the log line.
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "upstream:" in logged and ("context" in logged.split("upstream:")[1])


@pytest.mark.parametrize("status", [401, 403, 429, 500])
async def test_a_refused_request_costs_nothing(alice, upstream, status):
    upstream.fail_status = status

    message, _frame = await one_turn(alice)

    assert message.status == Message.Status.ERROR
    assert (message.input_tokens, message.output_tokens, message.cost) == (0, 0, Decimal(0))
    assert await ledger_rows(message.pk) == [("question", 0, 0)]


async def test_a_refused_request_with_reported_usage_is_billed_as_reported(alice, upstream):
    upstream.tokens = []
    upstream.usage = (50, 0)

    message, _frame = await one_turn(alice)

    assert message.status == Message.Status.ERROR
    assert (message.input_tokens, message.output_tokens) == (50, 0)
    assert message.cost == Decimal("0.00002500")


async def test_a_stopped_answer_is_billed_for_what_was_written(alice, upstream):
    upstream.tokens = [" tok"] * 200
    upstream.delay = 0.05
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)
    await send_message(socket, "Talk for a long time")
    started = await read_until_text(socket)
    await send_stop(socket, started.message_id)
    reply = await read_reply(socket, started)
    await socket.disconnect()

    message = await message_get(pk=reply.message_id)
    assert message.status == Message.Status.STOPPED
    assert message.output_tokens == message.content.count(" tok") > 0
    assert message.input_tokens > 0 and message.cost > 0


async def test_continue_appends_to_the_same_message_and_adds_to_its_bill(alice, upstream):
    upstream.tokens = ["One", " two", " three"]
    upstream.finish_reason = "length"
    upstream.usage = (10, 3)
    conversation = await create_conversation(alice, system_prompt="Count.")
    socket = await connect(alice, conversation)
    await send_message(socket, "Count to six")
    first = await read_reply(socket)

    upstream.tokens = [" four", " five", " six."]
    upstream.finish_reason = "stop"
    upstream.usage = (14, 3)
    await send_continue(socket, first.message_id)
    second = await read_reply(socket)
    await socket.disconnect()

    assert second.message_id == first.message_id
    message = await message_get(pk=first.message_id)
    assert message.content == "One two three four five six."
    assert (message.status, message.finish_reason) == (Message.Status.COMPLETE, "stop")
    assert (message.input_tokens, message.output_tokens) == (24, 6)
    # The model was sent the history, the question and the answer so far.
    assert upstream.chat_requests()[-1]["json"]["messages"] == [
        {"role": "system", "content": "Count."},
        {"role": "user", "content": "Count to six"},
        {"role": "assistant", "content": "One two three"},
    ]
    assert "One two three four five six." in second.final_frame
    # Two requests in the usage ledger, each with its own usage.
    assert await ledger_rows(first.message_id) == [
        ("question", 10, 3),
        ("continue", 14, 3),
    ]
    assert await message_count_of(conversation) == 2


async def test_a_view_shows_a_continued_answer_from_its_text_so_far(alice, upstream):
    upstream.tokens = ["One", " two", " three"]
    upstream.finish_reason = "length"
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)
    await send_message(socket, "Count")
    first = await read_reply(socket)

    more = [f" {n}" for n in range(4, 40)]
    upstream.tokens, upstream.finish_reason, upstream.delay = more, "stop", 0.05
    await send_continue(socket, first.message_id)
    second = await read_reply(socket)
    await socket.disconnect()

    # Drawn from a snapshot holding the text so far (rendered), then only the new text.
    assert second.snapshot is not None
    assert visible_text(second.snapshot).startswith("One two three")
    assert second.streamed_text == "One two three" + "".join(more)


async def test_only_a_cut_answer_can_be_continued(alice, upstream):
    conversation = await create_conversation(alice)
    socket = await connect(alice, conversation)
    await send_message(socket, "Hi")
    reply = await read_reply(socket)

    await send_continue(socket, reply.message_id)
    alert = await receive_alert(socket)
    await socket.disconnect()

    assert "length limit can be continued" in alert
    assert len(upstream.chat_requests()) == 1


@database_sync_to_async
def ledger_rows(message_id: int) -> list[tuple[str, int, int]]:
    return list(
        UsageRecord.objects.filter(message_id=message_id)
        .order_by("id")
        .values_list("kind", "input_tokens", "output_tokens")
    )


@database_sync_to_async
def message_count_of(conversation) -> int:
    return Message.objects.filter(conversation=conversation).count()
