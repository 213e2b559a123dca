"""Upstream faults (injected by the fake server) and Retry: what the user sees and what is kept."""

import pytest
from sockets import (
    connect,
    message_get,
    read_reply,
    receive_alert,
    send_message,
)

from conversations import services
from conversations.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


async def create(owner, **kwargs):
    from channels.db import database_sync_to_async

    return await database_sync_to_async(services.conversation_create)(owner=owner, **kwargs)


async def send_retry(socket, message_id: int) -> None:
    frame = {"action": "regenerate", "message_id": str(message_id), "HEADERS": {}}
    await socket.send_json_to(frame)


async def one_turn(alice, text="Hello?"):
    conversation = await create(alice)
    socket = await connect(alice, conversation)
    await send_message(socket, text)
    reply = await read_reply(socket)
    return conversation, socket, reply


async def test_a_refused_key_says_so(alice, upstream):
    upstream.fail_status = 403
    _, socket, reply = await one_turn(alice)
    await socket.disconnect()

    message = await message_get(pk=reply.message_id)
    assert message.status == "error"
    assert "API key was refused" in message.error
    assert "API key was refused" in reply.final_frame


async def test_rate_limited_is_retried_then_succeeds(alice, upstream):
    upstream.fail_status, upstream.fail_times, upstream.retry_after = 429, 1, "0"
    _, socket, reply = await one_turn(alice)
    await socket.disconnect()

    message = await message_get(pk=reply.message_id)
    assert message.status == "complete"
    assert len(upstream.chat_requests()) == 2


async def test_rate_limited_for_good_says_when_to_retry(alice, upstream):
    upstream.fail_status, upstream.retry_after = 429, "1"
    _, socket, reply = await one_turn(alice)
    await socket.disconnect()

    message = await message_get(pk=reply.message_id)
    assert message.status == "error"
    assert message.error == "The model is rate limited. Retry in 1 s."
    # Bounded: the first try and the client's two retries.
    assert len(upstream.chat_requests()) == 3


async def test_a_stalled_upstream_is_an_error_after_the_timeout(alice, upstream, settings):
    settings.PARLEY_FIRST_TOKEN_TIMEOUT = 0.5
    upstream.stall_seconds = 5
    _, socket, reply = await one_turn(alice)
    await socket.disconnect()

    message = await message_get(pk=reply.message_id)
    assert message.status == "error"
    assert message.error == "The model did not start answering within 0.5 s."


async def test_retry_writes_the_answer_again_and_keeps_the_failed_one(alice, upstream):
    upstream.tokens = ["Par", "tial ", "ans", "wer"]
    upstream.reset_after_tokens = 2
    conversation, socket, failed = await one_turn(alice, "What is Parley?")
    assert 'name="action" value="regenerate"' in failed.final_frame
    assert "↻ Retry" in failed.final_frame

    upstream.reset()
    upstream.tokens = ["A ", "chat ", "app."]
    await send_retry(socket, failed.message_id)
    retried = await read_reply(socket)
    await socket.disconnect()

    old = await message_get(pk=failed.message_id)
    new = await message_get(pk=retried.message_id)
    # The failed attempt is kept as the other version of the same question's answer.
    assert (old.status, old.content, old.off_branch) == ("error", "Partial ", True)
    assert (new.status, new.content, new.off_branch) == ("complete", "A chat app.", False)
    assert new.parent_id == old.parent_id
    # The question was sent again, without the failed attempt as history.
    sent = upstream.chat_requests()[-1]["json"]["messages"]
    assert sent == [{"role": "user", "content": "What is Parley?"}]
    # The next turn's history holds the retried answer, not the failed one.
    socket = await connect(alice, conversation)
    await send_message(socket, "Thanks")
    await read_reply(socket)
    await socket.disconnect()
    history = upstream.chat_requests()[-1]["json"]["messages"]
    assert [m["content"] for m in history] == ["What is Parley?", "A chat app.", "Thanks"]


async def test_an_answer_off_the_branch_cannot_be_retried(alice, upstream):
    _, socket, reply = await one_turn(alice)
    await send_retry(socket, reply.message_id)
    await read_reply(socket)

    await send_retry(socket, reply.message_id)  # now the other version, not shown

    alert = await receive_alert(socket)
    assert alert == "That message is not on the branch shown; reload to see it."
    await socket.disconnect()
    assert await message_count_of_role("assistant") == 2


async def message_count_of_role(role: str) -> int:
    from channels.db import database_sync_to_async

    return await database_sync_to_async(Message.objects.filter(role=role).count)()
