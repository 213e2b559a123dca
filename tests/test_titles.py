"""Model-written titles: after the first answer, in the background; the owner's rename wins."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from history import add_message
from sockets import connect, read_reply, send_message

from conversations import services, titles
from conversations.engine import conversation_group
from conversations.models import Conversation, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def titles_on(settings):
    settings.PARLEY_TITLES = True


@database_sync_to_async
def fresh(conversation) -> Conversation:
    return Conversation.objects.get(pk=conversation.pk)


def title_requests(upstream) -> list[dict]:
    return [
        r["json"]
        for r in upstream.chat_requests()
        if r["json"]["messages"][0]["content"] == services.TITLE_INSTRUCTIONS
    ]


async def test_the_model_names_the_conversation_after_its_first_answer(alice, upstream):
    conversation = await database_sync_to_async(services.conversation_create)(owner=alice)
    socket = await connect(alice, conversation)
    upstream.tokens = ['"Dinner', " in", " Busan", '."']

    await send_message(socket, "Where should I eat tonight in Busan, near the beach?")
    await read_reply(socket)
    frame = await socket.receive_from(timeout=10)

    assert "<h1>Dinner in Busan</h1>" in frame
    assert f'id="conv-{conversation.public_id}"' in frame  # the sidebar too
    saved = await fresh(conversation)
    assert (saved.title, saved.title_source) == ("Dinner in Busan", "model")
    [request] = title_requests(upstream)
    assert request["max_tokens"] == titles.TITLE_MAX_TOKENS
    assert "near the beach" in request["messages"][1]["content"]
    assert '"Dinner in Busan."' in request["messages"][1]["content"]

    # Only the first answer names the conversation.
    await send_message(socket, "And for dessert?")
    await read_reply(socket)
    await asyncio.sleep(0.3)
    await socket.disconnect()
    assert len(title_requests(upstream)) == 1
    # The title request is in the usage ledger beside the two answers, closed.
    kinds = await database_sync_to_async(
        lambda: sorted(
            UsageRecord.objects.filter(finished_at__isnull=False).values_list("kind", flat=True)
        )
    )()
    assert kinds == ["question", "question", "title"]


async def test_no_title_is_asked_once_the_owner_reached_a_limit(alice, upstream, settings):
    settings.PARLEY_LIMIT_MESSAGES_PER_MINUTE = 1
    conversation = await database_sync_to_async(services.conversation_create)(owner=alice)
    socket = await connect(alice, conversation)

    await send_message(socket, "Where should I eat tonight in Busan?")
    await read_reply(socket)
    await asyncio.sleep(0.3)
    await socket.disconnect()

    assert title_requests(upstream) == []
    assert (await fresh(conversation)).title_source == "message"


def first_exchange(owner) -> tuple[Conversation, int]:
    conversation = services.conversation_create(owner=owner)
    question = add_message(conversation=conversation, role="user", content="Plan my trip")
    conversation.title, conversation.title_source = "Plan my trip", "message"
    conversation.save()
    answer = add_message(
        conversation=conversation, role="assistant", content="Go to Jeju.", parent=question
    )
    return conversation, answer.pk


async def test_a_rename_wins_over_the_model(alice, upstream):
    conversation, answer_id = await database_sync_to_async(first_exchange)(alice)
    await database_sync_to_async(services.conversation_rename)(
        conversation=conversation, title="My Jeju plans"
    )

    changed = await titles.title_write(
        message_id=answer_id, group=conversation_group(conversation.public_id)
    )

    assert not changed
    assert title_requests(upstream) == []  # not even asked
    assert (await fresh(conversation)).title == "My Jeju plans"


def test_a_rename_that_lands_while_the_model_writes_still_wins(alice):
    conversation, _ = first_exchange(alice)
    services.conversation_rename(conversation=conversation, title="Mine")

    assert not services.conversation_title_from_model(
        conversation_id=conversation.pk, title="Model's idea"
    )
    conversation.refresh_from_db()
    assert (conversation.title, conversation.title_source) == ("Mine", "user")


async def test_the_first_message_title_stays_when_the_model_fails(alice, upstream):
    conversation, answer_id = await database_sync_to_async(first_exchange)(alice)
    upstream.fail_status = 401

    changed = await titles.title_write(
        message_id=answer_id, group=conversation_group(conversation.public_id)
    )

    assert not changed
    saved = await fresh(conversation)
    assert (saved.title, saved.title_source) == ("Plan my trip", "message")


@pytest.mark.parametrize(
    "reply, title",
    [
        ('"Trip to Jeju"', "Trip to Jeju"),
        ("Title: **Trip to Jeju.**\nThis conversation is about…", "Trip to Jeju"),
        ("  \n# 제주 여행 계획\n", "제주 여행 계획"),
        ("x" * 300, "x" * 59 + "…"),
        ("   ", ""),
    ],
)
def test_titles_are_cleaned(reply, title):
    assert services.title_clean(reply) == title


async def test_a_model_that_writes_no_titles_is_not_asked(alice, upstream):
    conversation, answer_id = await database_sync_to_async(first_exchange)(alice)
    await database_sync_to_async(services.conversation_set_model)(
        conversation=conversation, model_id="tiny"  # writes_titles = false in its catalog entry
    )

    changed = await titles.title_write(
        message_id=answer_id, group=conversation_group(conversation.public_id)
    )

    assert not changed
    assert title_requests(upstream) == []
    assert (await fresh(conversation)).title == "Plan my trip"
