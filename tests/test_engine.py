"""The turn engine's public interface, driven with no socket at all.

A plain async consumer of `engine.reply_observe` reads a reply the way an HTTP
stream or a comparison view will: the text so far, the following chunks in
order, then the end, with the reply as saved.
"""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from sockets import TIMEOUT, message_get, replies_settle  # noqa: F401 - autouse fixture

from conversations import engine, services
from conversations.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


async def observe(conversation, message_id) -> list:
    """Every event of one reply, to its end."""
    events = []
    async with asyncio.timeout(TIMEOUT):
        async for event in engine.reply_observe(conversation=conversation, message_id=message_id):
            events.append(event)
    return events


def shown_text(events) -> str:
    """What a reader of the events shows: a snapshot replaces, a chunk appends."""
    text = ""
    for event in events:
        if isinstance(event, engine.ReplyText):
            text = event.text if event.replace else text + event.text
    return text


async def new_conversation(owner):
    return await database_sync_to_async(services.conversation_create)(owner=owner)


async def test_a_reply_is_observed_from_start_to_end_without_a_socket(alice, upstream):
    upstream.tokens = ["The", " answer", " is", " 42."]
    upstream.delay = 0.02
    conversation = await new_conversation(alice)

    turn = await engine.reply_to_question(conversation=conversation, content="Question?")
    events = await observe(conversation, turn.assistant_message.id)

    assert isinstance(events[0], engine.ReplyText) and events[0].replace
    assert shown_text(events) == "The answer is 42."
    end = events[-1]
    assert isinstance(end, engine.ReplyEnded)
    assert [type(event) for event in events].count(engine.ReplyEnded) == 1
    # Drawn from the runner's memory in this process: as saved, with no read.
    assert end.message is not None
    assert end.message.status == Message.Status.COMPLETE
    assert end.message.content == "The answer is 42."
    saved = await message_get(pk=turn.assistant_message.id)
    assert (saved.status, saved.content, saved.cost) == (
        end.message.status,
        end.message.content,
        end.message.cost,
    )


async def test_a_reply_is_stopped_from_another_task_and_keeps_its_text(alice, upstream):
    upstream.tokens = [f"tok{i} " for i in range(300)]
    upstream.delay = 0.02
    conversation = await new_conversation(alice)
    turn = await engine.reply_to_question(conversation=conversation, content="Talk a lot")
    message_id = turn.assistant_message.id
    events: list = []

    async def reader():
        async for event in engine.reply_observe(conversation=conversation, message_id=message_id):
            events.append(event)

    reading = asyncio.create_task(reader())
    async with asyncio.timeout(TIMEOUT):
        while len(shown_text(events)) < 20:
            await asyncio.sleep(0.02)

    async def stopper():
        return await engine.reply_stop(conversation=conversation, message_id=message_id)

    assert await asyncio.create_task(stopper()) is True
    async with asyncio.timeout(TIMEOUT):
        await reading

    end = events[-1]
    assert isinstance(end, engine.ReplyEnded)
    assert end.message.status == Message.Status.STOPPED
    saved = await message_get(pk=message_id)
    assert saved.status == Message.Status.STOPPED
    assert saved.content == shown_text(events)
    assert saved.content.startswith("tok0 tok1 ")
    assert len(saved.content.split()) < 300


async def test_an_observer_that_attaches_late_gets_the_text_so_far_then_the_rest(alice, upstream):
    upstream.tokens = [f"w{i} " for i in range(120)]
    upstream.delay = 0.01
    conversation = await new_conversation(alice)
    turn = await engine.reply_to_question(conversation=conversation, content="Count")
    message_id = turn.assistant_message.id
    async with asyncio.timeout(TIMEOUT):
        while (snapshot := engine.reply_snapshot(message_id)) is None or len(snapshot.text) < 40:
            await asyncio.sleep(0.01)

    events = await observe(conversation, message_id)

    first = events[0]
    assert isinstance(first, engine.ReplyText) and first.replace
    assert first.text.startswith("w0 w1 ") and len(first.text) >= 40
    # No gap and no duplicate: the snapshot and the chunks after it make the whole text.
    assert shown_text(events) == "".join(upstream.tokens)
    assert all(not event.replace for event in events[1:] if isinstance(event, engine.ReplyText))
    assert isinstance(events[-1], engine.ReplyEnded)


async def test_observing_a_reply_that_ended_gives_only_its_end(alice, upstream):
    upstream.tokens = ["Done."]
    conversation = await new_conversation(alice)
    turn = await engine.reply_to_question(conversation=conversation, content="Quick")
    await observe(conversation, turn.assistant_message.id)

    events = await observe(conversation, turn.assistant_message.id)

    assert len(events) == 1 and isinstance(events[0], engine.ReplyEnded)


async def test_a_reply_of_another_conversation_is_not_stopped(alice, bob, upstream):
    upstream.tokens = [f"t{i} " for i in range(100)]
    upstream.delay = 0.02
    alices = await new_conversation(alice)
    bobs = await new_conversation(bob)
    turn = await engine.reply_to_question(conversation=alices, content="Go on")

    stopped = await engine.reply_stop(conversation=bobs, message_id=turn.assistant_message.id)

    assert stopped is False
    events = await observe(alices, turn.assistant_message.id)
    assert events[-1].message.status == Message.Status.COMPLETE
