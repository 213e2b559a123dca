"""Answers are never lost when the server stops or a process dies mid-answer."""

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone
from history import add_message

from conversations import engine, services
from conversations.engine.checkpoints import STALE_AFTER
from conversations.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


def test_answers_left_streaming_by_a_dead_process_become_interrupted(alice):
    conversation = services.conversation_create(owner=alice)
    stale = add_message(
        conversation=conversation, role="assistant", status="streaming", content="Half an ans"
    )
    live = add_message(
        conversation=conversation, role="assistant", status="streaming", content="Still going"
    )
    Message.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - timedelta(minutes=5))

    ids = services.messages_interrupt_stale(older_than=STALE_AFTER)

    assert ids == [stale.pk]
    stale.refresh_from_db()
    live.refresh_from_db()
    assert (stale.status, stale.content) == ("interrupted", "Half an ans")
    assert live.status == "streaming"


@database_sync_to_async
def load(message_id: int) -> Message:
    # Not the async ORM: its connection would outlive the test on PostgreSQL.
    return Message.objects.get(pk=message_id)


async def wait_for(predicate, timeout: float = 30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_stopping_the_server_saves_running_answers_as_interrupted(alice, upstream):
    upstream.tokens = [f"tok{i} " for i in range(200)]
    upstream.delay = 0.05
    conversation = await database_sync_to_async(services.conversation_create)(owner=alice)
    turn = await engine.reply_to_question(conversation=conversation, content="Tell me a story")
    message_id = turn.assistant_message.id

    async def some_text_arrived():
        snapshot = engine.reply_snapshot(message_id)
        return snapshot is not None and len(snapshot.text) > 20

    await wait_for(some_text_arrived)
    # What atexit runs when the server stops.
    await database_sync_to_async(engine.replies_interrupt_all)()

    async def finished():
        return engine.reply_snapshot(message_id) is None

    await wait_for(finished)
    message = await load(message_id)
    assert message.status == "interrupted"
    assert message.content.startswith("tok0 tok1 ")
    assert len(message.content.split()) < 200


async def test_partial_text_is_checkpointed_while_streaming(alice, upstream, settings):
    settings.PARLEY_CHECKPOINT_SECONDS = 0.1
    upstream.tokens = [f"tok{i} " for i in range(100)]
    upstream.delay = 0.03
    conversation = await database_sync_to_async(services.conversation_create)(owner=alice)
    turn = await engine.reply_to_question(conversation=conversation, content="Go")
    message_id = turn.assistant_message.id

    async def checkpointed():
        message = await load(message_id)
        return message.status == "streaming" and message.content.startswith("tok0 ")

    await wait_for(checkpointed)
    await engine.reply_stop(conversation=conversation, message_id=message_id)

    async def stopped():
        return (await load(message_id)).status == "stopped"

    await wait_for(stopped)
