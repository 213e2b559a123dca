"""Per-user limits: each refusal names its limit and reset, and nothing goes upstream."""

from datetime import timedelta
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone
from history import add_message
from sockets import connect, message_count, read_reply, receive_alert, send_message

from accounts.models import UserLimits
from conversations import quotas, services
from conversations.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def chat_of(user):
    return services.conversation_create(owner=user)


@database_sync_to_async
def add_messages(conversation, count, *, role="user", **fields):
    Message.objects.bulk_create(
        Message(conversation=conversation, role=role, content="earlier", **fields)
        for _ in range(count)
    )


async def refused(user, conversation, upstream) -> str:
    """Send a message that must be refused; return the alert, checking nothing happened."""
    before_messages, before_requests = await message_count(), upstream.request_count
    socket = await connect(user, conversation)
    await send_message(socket, "One more, please")
    alert = await receive_alert(socket)
    await socket.disconnect()
    assert await message_count() == before_messages
    assert upstream.request_count == before_requests
    return alert


async def test_messages_per_minute(alice, upstream, settings):
    settings.PARLEY_LIMIT_MESSAGES_PER_MINUTE = 3
    conversation = await chat_of(alice)
    await add_messages(conversation, 3)

    alert = await refused(alice, conversation, upstream)

    assert alert.startswith("You reached your limit of 3 messages per minute. Try again in ")
    assert alert.endswith(" s.")


async def test_tokens_per_day(alice, upstream, settings):
    settings.PARLEY_LIMIT_TOKENS_PER_DAY = 1000
    conversation = await chat_of(alice)
    await add_messages(conversation, 1, role="assistant", input_tokens=600, output_tokens=400)

    alert = await refused(alice, conversation, upstream)

    assert "limit of 1,000 tokens per day (1,000 used today)" in alert
    assert "resets at midnight" in alert


async def test_cost_per_month(alice, upstream, settings):
    settings.PARLEY_LIMIT_COST_PER_MONTH = Decimal("0.50")
    conversation = await chat_of(alice)
    await add_messages(conversation, 2, role="assistant", cost=Decimal("0.25"))

    alert = await refused(alice, conversation, upstream)

    assert "limit of $0.50 per month ($0.5000 spent). It resets on " in alert


async def test_an_admin_set_limit_wins_over_the_site_default(alice, bob, upstream, settings):
    settings.PARLEY_LIMIT_MESSAGES_PER_MINUTE = 100
    await database_sync_to_async(UserLimits.objects.create)(user=alice, messages_per_minute=1)
    alices, bobs = await chat_of(alice), await chat_of(bob)
    await add_messages(alices, 1)
    await add_messages(bobs, 1)

    assert "limit of 1 messages per minute" in await refused(alice, alices, upstream)
    # Bob keeps the site default and is answered.
    socket = await connect(bob, bobs)
    await send_message(socket, "Hello")
    assert (await read_reply(socket)).status == "complete"
    await socket.disconnect()


def test_old_usage_does_not_count(alice, settings):
    settings.PARLEY_LIMIT_MESSAGES_PER_MINUTE = 1
    settings.PARLEY_LIMIT_TOKENS_PER_DAY = 10
    conversation = services.conversation_create(owner=alice)
    add_message(conversation=conversation, role="user", content="x")
    add_message(
        conversation=conversation, role="assistant", content="y", input_tokens=50, output_tokens=50
    )
    Message.objects.update(created_at=timezone.now() - timedelta(days=2))

    quotas.quota_check(user=alice)  # nothing raised


def test_zero_means_no_limit(alice, settings):
    settings.PARLEY_LIMIT_MESSAGES_PER_MINUTE = 0
    conversation = services.conversation_create(owner=alice)
    for _ in range(50):
        add_message(conversation=conversation, role="user", content="x")

    quotas.quota_check(user=alice)
    assert quotas.limits_for(user=alice).messages_per_minute is None
